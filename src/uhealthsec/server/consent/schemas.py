"""API models of consent directives and rights requests."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from uhealthsec.server.consent.models import Decision, Purpose, RequestStatus, Right


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DirectiveIn(Strict):
    practice_id: uuid.UUID
    purpose: Purpose
    decision: Decision
    #: One professional; leave out for everyone the purpose covers.
    recipient_email: Annotated[str | None, Field(min_length=3, max_length=320)] = None


class DirectiveOut(BaseModel):
    id: uuid.UUID
    version: int
    practice_id: uuid.UUID
    purpose: Purpose
    decision: Decision
    recipient_id: uuid.UUID | None
    recipient_name: str | None
    recipient_email: str | None
    created_at: datetime
    #: When a later version replaced it; null while in force.
    superseded_at: datetime | None


class DirectiveRecordedOut(BaseModel):
    directive: DirectiveOut
    #: Shares ended at once because the directive no longer allows them.
    shares_ended: int


class RightsRequestIn(Strict):
    practice_id: uuid.UUID
    right: Right


class ReasonIn(Strict):
    #: Told to the patient; never health data.
    reason: Annotated[str, Field(min_length=10, max_length=1000)]


class NoteIn(Strict):
    note: Annotated[str | None, Field(max_length=1000)] = None


class RightsRequestOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    patient_email: str
    practice_id: uuid.UUID
    patient_file_id: uuid.UUID
    right: Right
    #: The article that gives the right and sets the deadline.
    citation: str
    status: RequestStatus
    received_at: datetime
    earliest_at: datetime | None
    due_at: datetime
    overdue: bool
    extended_at: datetime | None
    reason: str | None
    handled_at: datetime | None
    erasure_from: date | None
    lifted_at: datetime | None
