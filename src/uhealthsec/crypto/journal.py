"""Journal entries: one leaf of the journal's Merkle log per action (docs/PROTOCOL.md, 13).

An entry says who (a pseudonymous account id), did what (an action name and the ids
of the objects concerned), when, with which outcome, through which client, over
which request (its digest), and, when the client signed the request, the signature.
It holds no name, no address, no IP address and no content.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519

from uhealthsec.crypto import signing
from uhealthsec.crypto.errors import MalformedInput, UnsupportedVersion

ENTRY_MAGIC = b"UHSJ"
ENTRY_VERSION = 0x01
REQUEST_MAGIC = b"UHSR"
NOBODY = uuid.UUID(int=0)
MAX_OBJECTS = 16


class Outcome(IntEnum):
    DONE = 1
    #: Refused for lack of a right (401, 403, 404 on something that exists).
    DENIED = 2
    #: Refused as invalid (other 4xx).
    REFUSED = 3
    #: The server failed (5xx).
    FAILED = 4

    @classmethod
    def of_status(cls, status: int) -> Outcome:
        if status < 400:
            return cls.DONE
        if status in (401, 403, 404):
            return cls.DENIED
        return cls.REFUSED if status < 500 else cls.FAILED


class ObjectKind(IntEnum):
    ACCOUNT = 1
    PATIENT = 2
    PRACTICE = 3
    PATIENT_FILE = 4
    DOCUMENT = 5
    THREAD = 6
    MESSAGE = 7
    SESSION = 8
    UPLOAD = 9


@dataclass(frozen=True)
class RequestSignature:
    """The client's Ed25519 signature over the request digest, and where its key is."""

    signer_key_index: int
    signature: bytes


@dataclass(frozen=True)
class JournalEntry:
    timestamp_ms: int
    actor: uuid.UUID
    action: str
    outcome: Outcome
    status: int
    objects: tuple[tuple[ObjectKind, uuid.UUID], ...] = ()
    client: str = ""
    request_digest: bytes = bytes(32)
    signature: RequestSignature | None = field(default=None)

    def encode(self) -> bytes:
        action = self.action.encode("ascii")
        client = self.client.encode("ascii")
        if not 1 <= len(action) <= 64 or len(client) > 64:
            raise MalformedInput("a journal action is 1 to 64 and a client 0 to 64 characters")
        if len(self.objects) > MAX_OBJECTS or len(self.request_digest) != 32:
            raise MalformedInput("a journal entry names at most 16 objects")
        parts = [
            ENTRY_MAGIC,
            bytes([ENTRY_VERSION]),
            struct.pack(">Q", self.timestamp_ms),
            self.actor.bytes,
            bytes([len(action)]),
            action,
            struct.pack(">BH", self.outcome, self.status),
            bytes([len(self.objects)]),
            *(bytes([kind]) + oid.bytes for kind, oid in self.objects),
            bytes([len(client)]),
            client,
            self.request_digest,
        ]
        if self.signature is None:
            parts.append(b"\x00")
        else:
            if len(self.signature.signature) != 64:
                raise MalformedInput("a request signature is 64 bytes")
            parts += [
                b"\x01",
                struct.pack(">Q", self.signature.signer_key_index),
                self.signature.signature,
            ]
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> JournalEntry:
        reader = _Reader(data)
        if reader.take(4) != ENTRY_MAGIC:
            raise MalformedInput("not a U-HealthSec journal entry")
        version = reader.byte()
        if version != ENTRY_VERSION:
            raise UnsupportedVersion(f"unsupported journal entry version {version}")
        (timestamp_ms,) = struct.unpack(">Q", reader.take(8))
        actor = uuid.UUID(bytes=reader.take(16))
        action = reader.take(reader.byte()).decode("ascii", errors="strict")
        outcome, status = struct.unpack(">BH", reader.take(3))
        objects = tuple(
            (ObjectKind(reader.byte()), uuid.UUID(bytes=reader.take(16)))
            for _ in range(reader.byte())
        )
        client = reader.take(reader.byte()).decode("ascii", errors="strict")
        digest = reader.take(32)
        signature = None
        if reader.byte() == 1:
            (index,) = struct.unpack(">Q", reader.take(8))
            signature = RequestSignature(index, reader.take(64))
        reader.end()
        return cls(
            timestamp_ms,
            actor,
            action,
            Outcome(outcome),
            status,
            objects,
            client,
            digest,
            signature,
        )


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.offset = 0

    def take(self, n: int) -> bytes:
        if self.offset + n > len(self.data):
            raise MalformedInput("a journal entry is truncated")
        chunk = bytes(self.data[self.offset : self.offset + n])
        self.offset += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def end(self) -> None:
        if self.offset != len(self.data):
            raise MalformedInput("bytes follow the end of a journal entry")


def request_digest(method: str, target: str, body_digest: bytes) -> bytes:
    """What identifies one request in the journal (and what a client signs): the
    method, the path with its query, and the SHA-256 of the body the server read."""
    method_bytes = method.upper().encode("ascii")
    target_bytes = target.encode("utf-8")
    if len(body_digest) != 32 or len(method_bytes) > 16 or len(target_bytes) > 65535:
        raise MalformedInput("a request digest needs a method, a target and a 32-byte digest")
    h = hashes.Hash(hashes.SHA256())
    h.update(
        REQUEST_MAGIC
        + bytes([len(method_bytes)])
        + method_bytes
        + struct.pack(">H", len(target_bytes))
        + target_bytes
        + body_digest
    )
    return h.finalize()


@dataclass(frozen=True)
class SignedRequest:
    """A request digest as a user signs it (non-repudiation of their actions)."""

    what: ClassVar[str] = "request"
    digest: bytes

    def sign(self, key: ed25519.Ed25519PrivateKey) -> bytes:
        return signing.sign(key, signing.Purpose.REQUEST, self.digest)

    def verify(self, public_key: bytes, signature: bytes) -> None:
        signing.verify(public_key, signing.Purpose.REQUEST, self.digest, signature)
