"""Wire models of the key directory beyond the shared log models (protocol/logs.py):
an entry with the proof that it is its account's only one (docs/PROTOCOL.md, 10.4)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from uhealthsec.crypto.account_map import COMMITMENT_SIZE, VALUE_SIZE
from uhealthsec.crypto.key_rotation import STATEMENT_SIZE
from uhealthsec.crypto.keys import PUBLIC_BUNDLE_SIZE
from uhealthsec.crypto.keystore import MAX_KEYSTORE_SIZE
from uhealthsec.protocol.encoding import Base64Url
from uhealthsec.protocol.logs import LogEntryOut


class MapProofOut(BaseModel):
    #: The last leaf of the tree (a map commitment) and its inclusion proof.
    commitment: Base64Url(COMMITMENT_SIZE)  # type: ignore[valid-type]
    commitment_inclusion: list[Base64Url(32)]  # type: ignore[valid-type]
    #: The account's value in the map: its newest entry and its number of entries.
    value: Base64Url(VALUE_SIZE)  # type: ignore[valid-type]
    depth: int = Field(ge=0, le=256)
    present: Base64Url(32)  # type: ignore[valid-type]
    siblings: list[Base64Url(32)]  # type: ignore[valid-type]


#: Entries of one account a chain of rotations may hold (its keystore's former sets + 1).
MAX_CHAIN = 65


class ChainLinkOut(BaseModel):
    """One entry of a rotated account, proven in the same tree, with the statement that
    carries it (null for version 1): docs/PROTOCOL.md, 10.6."""

    index: int = Field(ge=0, le=2**62)
    entry: Base64Url(4096)  # type: ignore[valid-type]
    inclusion: list[Base64Url(32)] = Field(max_length=64)  # type: ignore[valid-type]
    rotation: Base64Url(STATEMENT_SIZE) | None = None  # type: ignore[valid-type]


class DirectoryEntryOut(LogEntryOut):
    #: For an entry, proof that it is its account's only one; null for a commitment.
    map: MapProofOut | None
    #: When the account has rotated its keys: every entry of it, oldest first (10.6).
    chain: list[ChainLinkOut] = Field(default_factory=list, max_length=MAX_CHAIN)


class KeyRotationIn(BaseModel):
    """New keys, the keystore holding them and the former ones, and the statement both
    the current and the new signing keys signed (10.6)."""

    bundle: Base64Url(PUBLIC_BUNDLE_SIZE)  # type: ignore[valid-type]
    keystore: Base64Url(MAX_KEYSTORE_SIZE)  # type: ignore[valid-type]
    statement: Base64Url(STATEMENT_SIZE)  # type: ignore[valid-type]


class KeyRotationOut(BaseModel):
    index: int
    key_version: int


#: Addresses one batched lookup may ask for (a share to the largest practice network).
MAX_LOOKUPS = 1000

Address = Annotated[str, Field(min_length=3, max_length=320)]


class DirectoryLookupsIn(BaseModel):
    """Several addresses looked up at once, all proven against one head (10.5)."""

    emails: list[Address] = Field(min_length=1, max_length=MAX_LOOKUPS)
    tree_size: int = Field(ge=1, le=2**62)


class DirectoryLookupsOut(BaseModel):
    tree_size: int
    #: One item per address asked, in the order asked: the entry, as the single lookup
    #: answers it, or null where that lookup answers 404 (no keys, or not yours to see).
    entries: list[DirectoryEntryOut | None]
