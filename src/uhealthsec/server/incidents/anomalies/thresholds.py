"""The thresholds of the anomaly rules (R22): each written down with its default, and
the bounds within which a practice's admin may tune it (``PUT
/practices/{id}/anomaly-settings``). Hours are the practice's, in Europe/Paris.

The upper bounds keep every rule meaningful: no floor, count or opening hours so wide
that a rule can never fire (a tuner silencing the rules before scraping), nor a week
with no open day (every action an alert, burying the real ones)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

Minutes = Annotated[int, Field(ge=1, le=1440)]


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Mass download: distinct patients, and distinct documents, one account read in
    #: any window of this many minutes, against
    #: max(floor, factor x the median of its daily distinct counts over its previous
    #: ``mass_history_days`` days with reads, Europe/Paris days).
    mass_window_minutes: Annotated[int, Field(ge=5, le=1440)] = 60
    mass_floor_patients: Annotated[int, Field(ge=1, le=500)] = 25
    mass_floor_documents: Annotated[int, Field(ge=1, le=1000)] = 50
    mass_factor: Annotated[float, Field(ge=1.0, le=50.0)] = 2.0
    mass_history_days: Annotated[int, Field(ge=1, le=90)] = 14
    #: Off hours: the practice's opening hours ([open_hour, close_hour), local time)
    #: and days (0 Monday … 6 Sunday); fires at ``off_hours_min_entries`` journaled
    #: actions about a patient by one account outside them within the window.
    open_hour: Annotated[int, Field(ge=0, le=23)] = 7
    close_hour: Annotated[int, Field(ge=1, le=24)] = 20
    open_days: Annotated[
        list[Annotated[int, Field(ge=0, le=6)]], Field(min_length=1, max_length=7)
    ] = [
        0,
        1,
        2,
        3,
        4,
        5,
    ]
    off_hours_min_entries: Annotated[int, Field(ge=1, le=100)] = 3
    off_hours_window_minutes: Minutes = 60
    #: Repeated denials: this many denied entries by one account, or against one
    #: patient, within the window.
    denials_per_account: Annotated[int, Field(ge=2, le=100)] = 10
    denials_per_patient: Annotated[int, Field(ge=2, le=100)] = 10
    denials_window_minutes: Minutes = 15
    #: Read-budget throttle (R27): this many reads refused to one account in a
    #: minute past its allowance; an account that spent its hourly budget always fires.
    throttle_min_refused: Annotated[int, Field(ge=1, le=100)] = 1
    #: Two networks within minutes: requests of one account from this many networks
    #: (IPv4 /24, IPv6 /64) within the window.
    networks_min: Annotated[int, Field(ge=2, le=10)] = 2
    networks_window_minutes: Annotated[int, Field(ge=1, le=240)] = 10
    #: A new network, then bulk reads: this many distinct documents read within the
    #: window from the account's first request from a network it had not used in the
    #: ``new_network_history_days`` before (at most the 180 days the connection data
    #: may be kept, R14).
    new_network_documents: Annotated[int, Field(ge=5, le=1000)] = 20
    new_network_window_minutes: Annotated[int, Field(ge=5, le=1440)] = 60
    new_network_history_days: Annotated[int, Field(ge=7, le=180)] = 30

    @model_validator(mode="after")
    def _hours_make_a_day(self) -> Thresholds:
        if self.open_hour >= self.close_hour:
            raise ValueError("the opening hour must come before the closing hour")
        self.open_days = sorted(set(self.open_days))
        if len(self.open_days) == 7 and (self.open_hour, self.close_hour) == (0, 24):
            raise ValueError(
                "the practice must be closed at least one hour a week, or the off-hours "
                "rule never fires"
            )
        return self


DEFAULTS = Thresholds()
