"""API models of the key directory."""

from __future__ import annotations

from pydantic import BaseModel

from uhealthsec.protocol.encoding import Base64Url


class TreeHeadOut(BaseModel):
    log: str
    size: int
    root: Base64Url(32)  # type: ignore[valid-type]
    timestamp_ms: int
    #: Ed25519 over the tree head (docs/PROTOCOL.md, "Logs"), by ``log_key``.
    signature: Base64Url(64)  # type: ignore[valid-type]


class DirectoryHeadOut(BaseModel):
    #: The key that signs the directory's tree heads; clients pin it at first use.
    log_key: Base64Url(32)  # type: ignore[valid-type]
    head: TreeHeadOut
    #: Proves that this head extends the one of size ``since`` (empty when not asked).
    consistency: list[Base64Url(32)]  # type: ignore[valid-type]


class DirectoryEntryOut(BaseModel):
    index: int
    #: The leaf bytes (crypto/directory.py): account id, key version, kind, address, keys.
    entry: Base64Url(4096)  # type: ignore[valid-type]
    tree_size: int
    #: RFC 9162 inclusion proof of the entry in the tree of ``tree_size`` entries.
    inclusion: list[Base64Url(32)]  # type: ignore[valid-type]
