"""What the exchange client hands back and remembers, and the limits it keeps to."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from uhealthsec.client.directory import VerifiedEntry
from uhealthsec.client.errors import ExchangeRefused
from uhealthsec.crypto.manifest import Reader
from uhealthsec.protocol.messaging import MemberIO
from uhealthsec.protocol.records import ReaderIO

#: Called with (bytes done, bytes in total) as a transfer progresses.
Progress = Callable[[int, int], None]
#: Shown the verified people a key is about to be wrapped for, before anything is
#: encrypted; raising stops there.
BeforeEncrypting = Callable[[Sequence["VerifiedEntry"]], None]
#: Shown the document a change is about, from the same answers the change is made
#: from (its signed history verified, its title decrypted here), before anything is
#: encrypted or signed for it; raising stops there.
BeforeChanging = Callable[["DocumentSummary"], None]
UPLOAD_CHUNK = 1 << 20
MAX_TITLE_CHARS = 500
#: Documents listed per request (the server's largest page).
DOCUMENTS_PAGE = 200
#: Wrapped keys per request, as the server accepts them.
SHARES_PER_REQUEST = 100


@dataclass(frozen=True)
class Metadata:
    title: str
    filename: str
    media_type: str

    def encode(self) -> bytes:
        return json.dumps(
            {"title": self.title, "filename": self.filename, "media_type": self.media_type},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> Metadata:
        try:
            raw = json.loads(data)
            return cls(str(raw["title"]), str(raw["filename"]), str(raw["media_type"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ExchangeRefused("the document's metadata is malformed") from exc


@dataclass(frozen=True)
class DocumentSummary:
    id: uuid.UUID
    version: int
    title: str
    filename: str
    media_type: str
    size: int
    author_email: str
    author_name: str
    patient_id: uuid.UUID
    patient_file_id: uuid.UUID
    created_at: datetime
    recipients: list[str]
    #: When you first opened this version, as your read receipt says; None: new to you.
    read_at: datetime | None = None
    #: The author holds your copy back until then (R28): nothing of it is readable
    #: yet (title, name and type are empty: they are encrypted under its key).
    available_from: datetime | None = None
    #: Since when the patient restricted it to themselves and its author (R28); only
    #: they are told.
    restricted_at: datetime | None = None


@dataclass(frozen=True)
class ReceivedDocument:
    id: uuid.UUID
    version: int
    path: Path
    metadata: Metadata
    #: Who wrote and signed this version: the address of ``signer``, proven.
    author_email: str
    #: Who started the document (version 1), as the server says; a later version may
    #: be another reader's.
    document_author_email: str
    #: The directory entry whose key verified this version's signature.
    signer: VerifiedEntry
    size: int


@dataclass(frozen=True)
class RevokedReader:
    """A reader whose access this device ended, from ``version`` (the latest one then)
    on: remembered, so that this device keeps them out of later versions even if the
    server withholds the signed statement (PROTOCOL 11.4)."""

    document_id: uuid.UUID
    version: int
    reader: Reader
    #: The account that revoked them on this device: only its own writes are held back.
    revoker_id: uuid.UUID

    def to_dict(self) -> dict[str, Any]:
        return {
            "document_id": str(self.document_id),
            "version": self.version,
            "account_id": str(self.reader.account_id),
            "email": self.reader.email,
            "revoker_id": str(self.revoker_id),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RevokedReader:
        return cls(
            uuid.UUID(raw["document_id"]),
            int(raw["version"]),
            Reader(uuid.UUID(raw["account_id"]), str(raw["email"])),
            uuid.UUID(raw["revoker_id"]),
        )


@dataclass(frozen=True)
class Revoked:
    """A reader left out of a document's next version: their access ended at
    ``version``, and no reader signed them in again at a later one."""

    reader: Reader
    version: int
    #: Who revoked them: the address of the proven entry that signed it, or "you".
    by: str


def reader_of(entry: VerifiedEntry) -> Reader:
    return Reader(entry.account_id, entry.entry.email)


def served_readers(served: Sequence[ReaderIO | MemberIO] | None) -> tuple[Reader, ...] | None:
    """Readers as the server serves them (None for a version 1 manifest)."""
    if served is None:
        return None
    return tuple(Reader(r.account_id, r.email) for r in served)


def readers_io(readers: Sequence[Reader]) -> list[ReaderIO]:
    return [ReaderIO(account_id=r.account_id, email=r.email) for r in readers]
