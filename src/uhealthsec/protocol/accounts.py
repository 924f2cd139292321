"""Wire models of accounts that the clients read (docs/PROTOCOL.md, section 16)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel


class AccountKind(StrEnum):
    PRACTITIONER = "practitioner"
    PATIENT = "patient"


class AccountOut(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    kind: AccountKind
    #: The RPPS number proven with e-CPS, else the one declared at registration.
    rpps: str | None
    #: Whether ``rpps`` was proven with e-CPS (a declared number proves nothing).
    rpps_proven: bool = False
    key_fingerprint: str
    created_at: datetime
