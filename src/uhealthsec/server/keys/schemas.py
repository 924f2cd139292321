"""API models of the key directory: all of them are wire models the SDK shares (the
log models of protocol/logs.py, the map's proofs of protocol/keys.py)."""

from __future__ import annotations

from uhealthsec.protocol.keys import (
    ChainLinkOut,
    DirectoryEntryOut,
    DirectoryLookupsIn,
    DirectoryLookupsOut,
    KeyRotationIn,
    KeyRotationOut,
    MapProofOut,
)
from uhealthsec.protocol.logs import CheckpointOut, LogEntryOut, LogHeadOut

__all__ = [
    "ChainLinkOut",
    "CheckpointOut",
    "DirectoryEntryOut",
    "DirectoryLookupsIn",
    "DirectoryLookupsOut",
    "KeyRotationIn",
    "KeyRotationOut",
    "LogEntryOut",
    "LogHeadOut",
    "MapProofOut",
]
