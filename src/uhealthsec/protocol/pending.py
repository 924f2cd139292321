"""Wire models of pending shares (docs/PROTOCOL.md, 11.6): a version waiting for an
invited patient who has no account yet, completed by the sender's client alone."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

from uhealthsec.protocol.encoding import Base64Url
from uhealthsec.protocol.records import ShareStatementIn
from uhealthsec.protocol.strict import Strict

#: Pending shares one sender may have waiting at once.
MAX_OPEN_PENDING_SHARES = 50


class PendingState(StrEnum):
    #: The patient has not registered and joined the practice yet.
    WAITING = "waiting"
    #: The patient joined: the sender's client may complete the share.
    JOINED = "joined"
    #: The invitation expired before the patient joined: it will never be completed.
    EXPIRED = "expired"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class PatientInvitationOut(BaseModel):
    """A patient invited by the practice who has not joined it yet."""

    id: uuid.UUID
    practice_id: uuid.UUID
    email: str
    created_at: datetime
    expires_at: datetime


class PendingShareIn(Strict):
    invitation_id: uuid.UUID
    version: Annotated[int, Field(ge=1, le=2**31)]
    #: The sender's share statement for the patient as the document's file names them
    #: (their account, the invitation's address), signed now and checked again by the
    #: sender's client before it completes.
    statement: ShareStatementIn


class PendingShareOut(BaseModel):
    id: uuid.UUID
    document_id: uuid.UUID
    version: int
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    patient_email: str
    state: PendingState
    signer_key_index: int
    signature: Base64Url(64)  # type: ignore[valid-type]
    created_at: datetime
    expires_at: datetime


class PendingCompletionIn(Strict):
    #: The version's key wrapped for the patient's keys, as proven in the directory.
    wrapped_key: Base64Url(1200)  # type: ignore[valid-type]
    statement: ShareStatementIn
