"""API models of the journal: the wire models the SDK shares (protocol/logs.py,
protocol/journal.py), and the server's own."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from uhealthsec.protocol.encoding import Base64Url
from uhealthsec.protocol.journal import (
    CosignatureIn,
    EntriesOut,
    HistoryItemOut,
    LeavesOut,
    ObjectOut,
)
from uhealthsec.protocol.logs import CheckpointOut, LogEntryOut, LogHeadOut

__all__ = [
    "CheckpointOut",
    "CosignatureIn",
    "CosignatureOut",
    "EntriesOut",
    "HistoryItemOut",
    "LeavesOut",
    "LogEntryOut",
    "LogHeadOut",
    "ObjectOut",
]


class CosignatureOut(BaseModel):
    size: int
    witness_key: Base64Url(32)  # type: ignore[valid-type]
    #: The witness's name as its operator listed it: the key name of its line.
    witness_name: str | None
    timestamp: int
    signature: Base64Url(64)  # type: ignore[valid-type]
    received_at: datetime
