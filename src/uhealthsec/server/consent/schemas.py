"""API models of consent directives."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from uhealthsec.server.consent.models import Decision, Purpose


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
