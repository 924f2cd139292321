"""API models of patient files, documents and shares: the wire models the SDK shares
(protocol/records.py), and the server's own."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from uhealthsec.protocol.records import (
    BlobOut,
    DocumentIn,
    DocumentOut,
    NewVersionIn,
    PatientFileIn,
    PatientFileOut,
    ReaderIO,
    RecipientOut,
    RestrictionOut,
    RevocationIn,
    RevocationOut,
    RevokedOut,
    RewrappedOut,
    RewrapsIn,
    ShareIn,
    SharesIn,
    ShareStatementIn,
    ShareStatementOut,
    VersionIn,
    VersionOut,
)

__all__ = [
    "BlobOut",
    "DocumentIn",
    "DocumentOut",
    "MyFileOut",
    "NewVersionIn",
    "PatientFileIn",
    "PatientFileOut",
    "ReaderIO",
    "RecipientOut",
    "RestrictionOut",
    "RevocationIn",
    "RevocationOut",
    "RevokedOut",
    "RewrappedOut",
    "RewrapsIn",
    "ShareIn",
    "ShareStatementIn",
    "ShareStatementOut",
    "SharesIn",
    "VersionIn",
    "VersionOut",
]


class MyFileOut(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID
    practice_name: str
    created_at: datetime
