"""Wire models of the journal beyond the shared log models (protocol/logs.py): its
leaves and entries in bulk, a person's history, a witness's cosignature
(docs/PROTOCOL.md, section 13)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from uhealthsec.protocol.encoding import Base64Url
from uhealthsec.protocol.logs import MAX_LEAF_BYTES
from uhealthsec.protocol.strict import Strict

#: Leaf hashes or signed heads per request.
MAX_LEAVES = 10_000
#: Whole entries per request (a witness checking the chains).
MAX_ENTRIES = 1_000


class LeavesOut(BaseModel):
    start: int
    #: RFC 9162 leaf hashes of entries start, start + 1, …, 32 bytes each, concatenated
    #: (one string: a million leaves decode in one call).
    hashes: Base64Url(32 * MAX_LEAVES)  # type: ignore[valid-type]


class EntriesOut(BaseModel):
    start: int
    #: Entries start, start + 1, …, exactly as hashed into the journal.
    entries: list[Base64Url(MAX_LEAF_BYTES)]  # type: ignore[valid-type]


class ObjectOut(BaseModel):
    kind: str
    id: uuid.UUID


class HistoryItemOut(BaseModel):
    index: int
    at: datetime
    action: str
    outcome: str
    actor_id: uuid.UUID | None
    actor_name: str | None
    actor_kind: str | None
    objects: list[ObjectOut]
    #: The entry's exact bytes, as hashed into the journal (its chain links included).
    entry: Base64Url(MAX_LEAF_BYTES)  # type: ignore[valid-type]
    #: Its inclusion proof in the tree of ``tree_size`` entries, when asked for.
    inclusion: list[Base64Url(32)] | None = None  # type: ignore[valid-type]


class CosignatureIn(Strict):
    size: Annotated[int, Field(ge=1, le=2**62)]
    #: The witness's Ed25519 public key.
    witness_key: Base64Url(32)  # type: ignore[valid-type]
    #: When the witness signed, in seconds since 1970 (C2SP tlog-cosignature v1).
    timestamp: Annotated[int, Field(ge=0, le=2**63 - 1)]
    #: Ed25519 over "cosignature/v1\ntime <timestamp>\n" and the checkpoint's text
    #: (docs/PROTOCOL.md, 13).
    signature: Base64Url(64)  # type: ignore[valid-type]
