"""API models of the key directory: the shared log models (protocol/logs.py)."""

from __future__ import annotations

from uhealthsec.protocol.logs import LogEntryOut, LogHeadOut, TreeHeadOut

__all__ = ["LogEntryOut", "LogHeadOut", "TreeHeadOut"]
