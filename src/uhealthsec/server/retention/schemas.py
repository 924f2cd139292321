"""API models of retention."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from uhealthsec.server.retention.rules import Basis
from uhealthsec.server.retention.service import MAX_YEARS, MIN_YEARS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileFactsIn(Strict):
    """Dates the end of retention depends on; those left out stay as they are, and an
    explicit null ``died_on`` erases a death recorded by mistake."""

    last_care_on: date | None = None
    born_on: date | None = None
    died_on: date | None = None


class ClaimIn(Strict):
    #: The day the claim was opened, or closed.
    on: date


class RetentionOut(BaseModel):
    patient_file_id: uuid.UUID
    #: The last day the file is kept; null while unknown (see basis).
    keep_until: date | None
    basis: Basis
    explanation: str
    last_care_on: date
    born_on: date | None
    died_on: date | None
    claim_open: bool
    suspended_days: int
    archived: bool
    #: The first day the file may be destroyed: later than the day after keep_until
    #: while a recently recorded date may still be corrected; null while unknown.
    destroyable_from: date | None
    shredded_at: datetime | None


class PolicyIn(Strict):
    years: Annotated[int, Field(ge=MIN_YEARS, le=MAX_YEARS)]
    archive_after_years: Annotated[int, Field(ge=1, le=MAX_YEARS)]


class PolicyOut(BaseModel):
    practice_id: uuid.UUID
    years: int
    archive_after_years: int
