"""API models of the breach register."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from uhealthsec.server.incidents.service import (
    CONTACT_LENGTH,
    MAX_COUNT_ACCOUNTS,
    Clock,
    Decision,
    Nature,
    PeopleDecision,
)

Text = Annotated[str, Field(max_length=10_000)]
Line = Annotated[str, Field(max_length=CONTACT_LENGTH)]
Count = Annotated[int, Field(ge=0, le=1_000_000_000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentIn(Strict):
    """Art. 33(3)'s fields; on an update, those left out stay as they are."""

    nature: Annotated[list[Nature], Field(max_length=3)] | None = None
    description: Text | None = None
    data_categories: Text | None = None
    people_categories: Text | None = None
    people_estimate: Count | None = None
    records_estimate: Count | None = None
    contact: Line | None = None
    consequences: Text | None = None
    measures_taken: Text | None = None
    measures_planned: Text | None = None
    #: When the practice became aware; defaults to now, never in the future.
    aware_at: AwareDatetime | None = None


class CountIn(Strict):
    since: AwareDatetime
    #: The period's end (excluded); now if left out.
    until: AwareDatetime | None = None
    #: The accounts whose journaled actions count; none: the whole practice.
    accounts: Annotated[list[uuid.UUID], Field(max_length=MAX_COUNT_ACCOUNTS)] | None = None


class NotificationIn(Strict):
    complementary: bool = False
    complement: Text = ""
    delay_reasons: Text = ""


class DecisionIn(Strict):
    decision: Decision
    reason: Text = ""


class PeopleDecisionIn(Strict):
    decision: PeopleDecision
    reason: Text = ""
    #: Added to the notice sent to each patient ("tell").
    message: Text = ""


class NotificationOut(BaseModel):
    id: uuid.UUID
    kind: Literal["initial", "complementary"]
    made_at: datetime
    complement: str
    delay_reasons: str


class IncidentOut(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID
    created_at: datetime
    aware_at: datetime
    deadline: datetime
    clock: Clock
    nature: list[Nature]
    description: str
    data_categories: str
    people_categories: str
    people_estimate: int | None
    records_estimate: int | None
    people_counted: int | None
    records_counted: int | None
    counted_from: datetime | None
    counted_until: datetime | None
    contact: str
    consequences: str
    measures_taken: str
    measures_planned: str
    decision: Decision | None
    decision_reason: str
    people_decision: PeopleDecision | None
    people_reason: str
    clear_metadata: str
    notifications: list[NotificationOut]


class NoticeOut(BaseModel):
    id: uuid.UUID
    sent_at: datetime
    text: str
