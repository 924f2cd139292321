"""Wire models of the server's Merkle logs (key directory, journal): signed heads and
proven entries (docs/PROTOCOL.md, sections 9, 10 and 13)."""

from __future__ import annotations

from pydantic import BaseModel

from uhealthsec.protocol.encoding import Base64Url


class TreeHeadOut(BaseModel):
    log: str
    size: int
    root: Base64Url(32)  # type: ignore[valid-type]
    timestamp_ms: int
    #: Ed25519 over the tree head (docs/PROTOCOL.md, section 9.2), by the log key.
    signature: Base64Url(64)  # type: ignore[valid-type]


class LogHeadOut(BaseModel):
    #: The key that signs the log's tree heads; clients pin it at first use.
    log_key: Base64Url(32)  # type: ignore[valid-type]
    head: TreeHeadOut
    #: Proves that this head extends the one of size ``since`` (empty when not asked).
    consistency: list[Base64Url(32)]  # type: ignore[valid-type]


#: The largest leaf: a journal entry with 65,535 chain links (docs/PROTOCOL.md, 13).
MAX_LEAF_BYTES = 2**22


class LogEntryOut(BaseModel):
    index: int
    #: The leaf bytes, exactly as hashed into the log (a journal entry about a listing
    #: of many patients carries one 33-byte chain link for each).
    entry: Base64Url(MAX_LEAF_BYTES)  # type: ignore[valid-type]
    tree_size: int
    #: RFC 9162 inclusion proof of the entry in the tree of ``tree_size`` entries.
    inclusion: list[Base64Url(32)]  # type: ignore[valid-type]
