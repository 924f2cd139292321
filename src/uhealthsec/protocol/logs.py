"""Wire models of the server's Merkle logs (key directory, journal): signed checkpoints and
proven entries (docs/PROTOCOL.md, sections 9, 10 and 13)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from uhealthsec.protocol.encoding import Base64Url

#: A signed checkpoint is a short note: its three lines and a few signature lines.
MAX_CHECKPOINT_CHARS = 16_384


class CheckpointOut(BaseModel):
    #: A C2SP signed note carrying a tlog-checkpoint (docs/PROTOCOL.md, 9.2), signed by
    #: the log's key and, where witnesses countersigned it, by them.
    checkpoint: str = Field(max_length=MAX_CHECKPOINT_CHARS)


class LogHeadOut(BaseModel):
    #: The key that signs the log's checkpoints, as a C2SP verifier key
    #: (``<origin>+<key ID>+<base64 key>``); clients pin it at first use.
    log_key: str = Field(max_length=300)
    checkpoint: str = Field(max_length=MAX_CHECKPOINT_CHARS)
    #: Proves that this checkpoint extends the one of size ``since`` (empty when not asked).
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
