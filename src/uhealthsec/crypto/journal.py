"""Journal entries: one leaf of the journal's Merkle log per action (docs/PROTOCOL.md, 13).

An entry says who (a pseudonymous account id), did what (an action name and the ids
of the objects concerned), when, with which outcome, through which client, over
which request (its digest), and, when the client signed the request, the signature.
It holds no name, no address, no IP address and no content.

Since version 2 an entry also carries, for each patient and practice it is about, a
link of that subject's chain: how many entries about the subject came before it and
the index of the newest of them. The leaves commit to the links, so a client walking
a subject's chain back from an entry proven in a signed head finds every entry about
the subject, and names the range of any the server leaves out of a listing. A version
2 entry links every patient and practice among its objects (checked when it is encoded
and decoded), so none can be named outside its chain.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from enum import IntEnum
from typing import ClassVar, TypeVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519

from uhealthsec.crypto import signing
from uhealthsec.crypto.errors import MalformedInput, UnsupportedVersion

ENTRY_MAGIC = b"UHSJ"
ENTRY_VERSION = 0x02
#: Entries written before chains existed: read, never written by the server.
ENTRY_VERSION_UNCHAINED = 0x01
REQUEST_MAGIC = b"UHSR"
#: A signed request's digest (PROTOCOL 13.0): it also covers when the client signed it
#: and its single-use value, so that a captured signature cannot be replayed later.
SIGNED_REQUEST_MAGIC = b"UHSS"
#: The longest single-use value (an ``Idempotency-Key``), in bytes.
MAX_NONCE = 64
#: How far a signed request's time may be from the server's clock (either way): a
#: captured request is refused after this, and within it its single-use value gets it
#: the first answer. Also the lead a device's clock may have on the server's.
SIGNATURE_FRESHNESS = timedelta(minutes=10)
NOBODY = uuid.UUID(int=0)
MAX_OBJECTS = 16
#: A listing may be about many patients: each has its link.
MAX_LINKS = 65535


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


#: The kinds of subject that have a chain of their own.
CHAINED_KINDS = frozenset({ObjectKind.PATIENT, ObjectKind.PRACTICE})


@dataclass(frozen=True)
class ChainLink:
    """One subject's chain through an entry: ``sequence`` entries about the subject
    came before this one, the newest at journal index ``previous`` (0 when none)."""

    kind: ObjectKind
    subject: uuid.UUID
    sequence: int
    previous: int

    def __post_init__(self) -> None:
        """Refuse a link no entry could carry.

        :raises MalformedInput: not a patient's or practice's chain, a number out of range,
            or a first link with a previous entry.
        """
        if self.kind not in CHAINED_KINDS:
            raise MalformedInput("only patients and practices have a chain")
        if not (0 <= self.sequence < 2**63 and 0 <= self.previous < 2**63):
            raise MalformedInput("a chain link's sequence and index are below 2^63")
        if self.sequence == 0 and self.previous != 0:
            raise MalformedInput("the first entry of a chain has no previous entry")

    def encode(self) -> bytes:
        return (
            bytes([self.kind])
            + self.subject.bytes
            + struct.pack(">QQ", self.sequence, self.previous)
        )


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
    #: The chains of the patients and practices the entry is about (version 2).
    chain: tuple[ChainLink, ...] = ()
    version: int = ENTRY_VERSION

    def link(self, subject: uuid.UUID) -> ChainLink | None:
        """This entry's link in the chain of ``subject``, if it is chained."""
        return next((c for c in self.chain if c.subject == subject), None)

    def _check_links(self) -> None:
        """A version 2 entry links every patient and practice it names: one it named
        outside their chain would be in the journal yet never missed from their
        history. (It may link more: a listing's patients beyond its 16 objects.)"""
        if self.version == ENTRY_VERSION_UNCHAINED:
            if self.chain:
                raise MalformedInput("a version 1 journal entry has no chain")
            return
        if len(self.chain) > MAX_LINKS or len({c.subject for c in self.chain}) != len(self.chain):
            raise MalformedInput("a journal entry links each subject once, 65,535 at most")
        linked = {(c.kind, c.subject) for c in self.chain}
        if any(kind in CHAINED_KINDS and (kind, oid) not in linked for kind, oid in self.objects):
            raise MalformedInput(
                "a version 2 journal entry links every patient and practice it names"
            )

    def encode(self) -> bytes:
        """The canonical bytes of this entry: its Merkle leaf.

        :raises MalformedInput: a field is out of range or not ASCII, or a version 2 entry
            does not link every patient and practice it names.
        :raises UnsupportedVersion: a version this code does not know.
        """
        action = _ascii(self.action, "action")
        client = _ascii(self.client, "client")
        if not 1 <= len(action) <= 64 or len(client) > 64:
            raise MalformedInput("a journal action is 1 to 64 and a client 0 to 64 characters")
        if len(self.objects) > MAX_OBJECTS or len(self.request_digest) != 32:
            raise MalformedInput("a journal entry names at most 16 objects")
        if self.version not in (ENTRY_VERSION, ENTRY_VERSION_UNCHAINED):
            raise UnsupportedVersion(f"unsupported journal entry version {self.version}")
        self._check_links()
        parts = [
            ENTRY_MAGIC,
            bytes([self.version]),
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
        if self.version != ENTRY_VERSION_UNCHAINED:
            parts += [struct.pack(">H", len(self.chain)), *(link.encode() for link in self.chain)]
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes, check_links: bool = True) -> JournalEntry:
        """Parse an entry. Verifiers keep ``check_links``; a server showing what its
        journal holds passes False, so that an entry breaking the rule is served
        (and refused by its readers) rather than hidden by an error.

        :raises MalformedInput: not a journal entry, truncated, followed by bytes, a field
            not valid, or (with ``check_links``) an unlinked patient or practice.
        :raises UnsupportedVersion: a version this code does not know.
        """
        reader = _Reader(data)
        if reader.take(4) != ENTRY_MAGIC:
            raise MalformedInput("not a U-HealthSec journal entry")
        version = reader.byte()
        if version not in (ENTRY_VERSION, ENTRY_VERSION_UNCHAINED):
            raise UnsupportedVersion(f"unsupported journal entry version {version}")
        (timestamp_ms,) = struct.unpack(">Q", reader.take(8))
        actor = uuid.UUID(bytes=reader.take(16))
        action = reader.text("action")
        outcome, status = struct.unpack(">BH", reader.take(3))
        objects = tuple(
            (_code(ObjectKind, reader.byte(), "object kind"), uuid.UUID(bytes=reader.take(16)))
            for _ in range(reader.byte())
        )
        client = reader.text("client")
        digest = reader.take(32)
        signature = None
        flag = reader.byte()
        if flag == 1:
            (index,) = struct.unpack(">Q", reader.take(8))
            signature = RequestSignature(index, reader.take(64))
        elif flag != 0:
            raise MalformedInput("a journal entry's signature flag is 0 or 1")
        chain: list[ChainLink] = []
        if version != ENTRY_VERSION_UNCHAINED:
            (count,) = struct.unpack(">H", reader.take(2))
            for _ in range(count):
                kind = reader.byte()
                if kind not in CHAINED_KINDS:
                    raise MalformedInput("only patients and practices have a chain")
                subject = uuid.UUID(bytes=reader.take(16))
                sequence, previous = struct.unpack(">QQ", reader.take(16))
                chain.append(ChainLink(ObjectKind(kind), subject, sequence, previous))
        reader.end()
        entry = cls(
            timestamp_ms,
            actor,
            action,
            _code(Outcome, outcome, "outcome"),
            status,
            objects,
            client,
            digest,
            signature,
            tuple(chain),
            version,
        )
        if check_links:
            entry._check_links()
        return entry


_Code = TypeVar("_Code", bound=IntEnum)


def _code(codes: type[_Code], value: int, what: str) -> _Code:
    """A field's code, refused as malformed when the format does not define it."""
    try:
        return codes(value)
    except ValueError as exc:
        raise MalformedInput(f"a journal entry's {what} {value} is not defined") from exc


def _ascii(text: str, what: str) -> bytes:
    try:
        return text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise MalformedInput(f"a journal {what} is ASCII") from exc


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

    def text(self, what: str) -> str:
        """A length-prefixed ASCII field."""
        data = self.take(self.byte())
        try:
            return data.decode("ascii")
        except UnicodeDecodeError as exc:
            raise MalformedInput(f"a journal entry's {what} is ASCII") from exc

    def end(self) -> None:
        if self.offset != len(self.data):
            raise MalformedInput("bytes follow the end of a journal entry")


def request_digest(method: str, target: str, body_digest: bytes) -> bytes:
    """What identifies one unsigned request in the journal: the method, the path with
    its query, and the SHA-256 of the body the server read (a signed request's is
    ``signed_request_digest``).

    :raises MalformedInput: the method is longer than 16 characters, the target longer than
        65,535 bytes, or ``body_digest`` not 32 bytes.
    """
    h = hashes.Hash(hashes.SHA256())
    h.update(REQUEST_MAGIC + _request_fields(method, target, body_digest))
    return h.finalize()


def _request_fields(method: str, target: str, body_digest: bytes) -> bytes:
    """The method, target and body digest of a request, length-prefixed."""
    method_bytes = _ascii(method.upper(), "request method")
    try:
        target_bytes = target.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate
        raise MalformedInput("a request target is text") from exc
    if len(body_digest) != 32 or len(method_bytes) > 16 or len(target_bytes) > 65535:
        raise MalformedInput("a request digest needs a method, a target and a 32-byte digest")
    return (
        bytes([len(method_bytes)])
        + method_bytes
        + struct.pack(">H", len(target_bytes))
        + target_bytes
        + body_digest
    )


def signed_request_digest(
    method: str, target: str, body_digest: bytes, signed_at_ms: int, nonce: str
) -> bytes:
    """What a client signs for a request, and the journal entry's digest of a signed
    request: ``request_digest``'s fields, the time of signing (milliseconds since the
    Unix epoch) and the request's single-use value (its ``Idempotency-Key``, empty for
    a GET or HEAD). The server refuses a stale ``signed_at_ms`` and answers a repeated
    nonce with its first answer, so a captured signed request is not carried out twice.

    :raises MalformedInput: as ``request_digest``, or ``signed_at_ms`` is not in
        [0, 2^63), or ``nonce`` is not ASCII of at most 64 bytes.
    """
    fields = _request_fields(method, target, body_digest)
    nonce_bytes = _ascii(nonce, "request nonce")
    if not 0 <= signed_at_ms < 1 << 63 or len(nonce_bytes) > MAX_NONCE:
        raise MalformedInput("a signed request needs a time and a nonce of at most 64 bytes")
    h = hashes.Hash(hashes.SHA256())
    h.update(
        SIGNED_REQUEST_MAGIC
        + fields
        + struct.pack(">Q", signed_at_ms)
        + bytes([len(nonce_bytes)])
        + nonce_bytes
    )
    return h.finalize()


@dataclass(frozen=True)
class SignedRequest:
    """A request digest as a user signs it (non-repudiation of their actions)."""

    what: ClassVar[str] = "request"
    digest: bytes

    def sign(self, key: ed25519.Ed25519PrivateKey) -> bytes:
        """The user's Ed25519 signature of this request.

        :raises MalformedInput: the digest is not 16 to 64 bytes.
        """
        return signing.sign(key, signing.Purpose.REQUEST, self.digest)

    def verify(self, public_key: bytes, signature: bytes) -> None:
        """Check that ``public_key`` signed this request.

        :raises SignatureVerificationFailed: the signature is not 64 bytes or does not
            verify for this key and content.
        :raises InvalidPublicKey: ``public_key`` is refused (see ``signing.public_key``).
        :raises MalformedInput: ``public_key`` is not 32 bytes, or the digest is not 16 to
            64 bytes.
        """
        signing.verify(public_key, signing.Purpose.REQUEST, self.digest, signature)
