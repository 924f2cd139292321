"""API models of the anomaly alerts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from uhealthsec.server.incidents.anomalies.rules import Rule
from uhealthsec.server.incidents.anomalies.thresholds import Thresholds
from uhealthsec.server.incidents.service import Nature


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertOut(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID
    rule: Rule
    #: Whom it is about: the account that acted, or the patient asked for (denials).
    subject_kind: Literal["account", "patient"]
    subject_id: uuid.UUID
    window_start: datetime
    window_end: datetime
    count: int
    threshold: int
    #: What ``count`` counts: "patients", "documents", "entries", "reads" or "networks".
    counted: str
    detail: str
    status: Literal["open", "dismissed", "incident"]
    reason: str
    incident_id: uuid.UUID | None
    created_at: datetime
    decided_at: datetime | None


class DismissalIn(Strict):
    reason: Annotated[str, Field(max_length=2000)]


class AlertIncidentIn(Strict):
    nature: Annotated[list[Nature], Field(min_length=1, max_length=3)] | None = None
    #: The incident's description; the alert's own if left out.
    description: Annotated[str, Field(max_length=10_000)] | None = None


class SettingsChangeOut(BaseModel):
    changed_at: datetime
    #: The admin who tuned.
    changed_by: uuid.UUID
    before: Thresholds
    after: Thresholds


class SettingsOut(Thresholds):
    """The practice's thresholds, and their last changes (newest first)."""

    changes: list[SettingsChangeOut]
