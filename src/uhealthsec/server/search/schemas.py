"""API models of the search indexes: the wire models the SDK shares (protocol/search.py)."""

from __future__ import annotations

from uhealthsec.protocol.search import (
    DocumentKeywordsIO,
    DocumentsIn,
    DocumentsOut,
    EntryIO,
    IndexIn,
    IndexOut,
    LookupIn,
    LookupOut,
    StateOut,
    UpdateIn,
    UpdateOut,
)

__all__ = [
    "DocumentKeywordsIO",
    "DocumentsIn",
    "DocumentsOut",
    "EntryIO",
    "IndexIn",
    "IndexOut",
    "LookupIn",
    "LookupOut",
    "StateOut",
    "UpdateIn",
    "UpdateOut",
]
