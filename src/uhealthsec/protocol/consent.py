"""Wire models of consent directives (CSP L1110-4, GDPR art. 7) and patient rights
requests (GDPR art. 15-21, CSP L1111-7), with the values they take."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

from uhealthsec.protocol.strict import Strict


class Purpose(StrEnum):
    #: Sharing among the professionals of the practice that holds the file: allowed
    #: once the patient is informed, unless they object (L1110-4 III, first paragraph).
    CARE_TEAM = "care_team"
    #: Sharing with professionals outside that team: needs the patient's prior consent
    #: (L1110-4 III, second paragraph).
    OUTSIDE_TEAM = "outside_team"
    #: Use for research: explicit, specific, revocable consent (GDPR art. 7, 9(2)(a)).
    RESEARCH = "research"


class Decision(StrEnum):
    PERMIT = "permit"
    DENY = "deny"


class Right(StrEnum):
    """What a patient asks of a practice (GDPR art. 15-21; CSP L1111-7)."""

    ACCESS = "access"  # art. 15
    RECTIFICATION = "rectification"  # art. 16
    ERASURE = "erasure"  # art. 17
    RESTRICTION = "restriction"  # art. 18
    PORTABILITY = "portability"  # art. 20
    OBJECTION = "objection"  # art. 21
    #: Communication of the medical file (CSP L1111-7, R1111-1).
    MEDICAL_FILE = "medical_file"


class RequestStatus(StrEnum):
    PENDING = "pending"
    #: The deadline was extended, with the reasons given to the patient.
    EXTENDED = "extended"
    DONE = "done"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


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
