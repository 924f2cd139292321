"""What an author signs for each version of a document.

A version is two envelopes under the same document key: the content and a small
metadata envelope (title, file name, media type), so that the server stores no title
in clear. The author signs a manifest that binds both envelopes' SHA-256 digests to
the document, its version number, its patient file, the author and the directory
entry holding the author's key: a server cannot move a signed document to another
patient file, replay an old version as a new one, or mix the content of one version
with the title of another. Since version 2 the manifest also lists the readers the
author encrypted to and chains to the previous version's manifest, and a later
reader signs a grant for each person they share with: the next author encrypts only
to people someone accountable signed for, never to whoever the server names, and
each version's author must have been a vouched-for reader of the version before.
Whoever ends a reader's access signs that too, so that the next author leaves them
out whatever the server lists. A thread's membership is signed the same way.
docs/PROTOCOL.md, "Document versions" and "Messages".
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519

from uhealthsec.crypto import envelope, signing
from uhealthsec.crypto.errors import MalformedInput, UnsupportedVersion

MANIFEST_MAGIC = b"UHSV"
#: Version 1 manifests (no reader list) are still read: they sign existing versions.
MANIFEST_VERSION_1 = 0x01
MANIFEST_VERSION = 0x02
MAX_READERS = 0xFFFF
#: The previous digest of a first version or a thread's first membership.
NO_PREVIOUS = bytes(32)
_MAX_ADDRESS_BYTES = 320


@dataclass(frozen=True, order=True)
class Reader:
    """Someone a key is encrypted to, named by account and directory address: a reader
    resolves the address in the key directory and refuses it unless the entry found
    belongs to the same account."""

    account_id: uuid.UUID
    email: str

    def encode(self) -> bytes:
        """The reader as a reader list holds it.

        :raises MalformedInput: the address is empty or longer than 320 bytes.
        """
        address = self.email.encode("utf-8")
        if not 1 <= len(address) <= _MAX_ADDRESS_BYTES:
            raise MalformedInput("a reader's address is 1 to 320 bytes")
        return self.account_id.bytes + struct.pack(">H", len(address)) + address


def encode_readers(readers: Iterable[Reader]) -> bytes:
    """``u16(count) || reader...`` sorted by account id, each account once.

    :raises MalformedInput: no reader, more than 65,535, an account named twice, or an
        address empty or too long.
    """
    ordered = sorted(readers, key=lambda r: r.account_id.bytes)
    if not 1 <= len(ordered) <= MAX_READERS:
        raise MalformedInput("a reader list holds 1 to 65535 readers")
    if len({r.account_id for r in ordered}) != len(ordered):
        raise MalformedInput("a reader list names each account once")
    return struct.pack(">H", len(ordered)) + b"".join(r.encode() for r in ordered)


def _read_reader(data: bytes, at: int, what: str) -> tuple[Reader, int]:
    """The reader encoded at ``at`` in ``data``, and where the next field starts."""
    if len(data) < at + 18:
        raise MalformedInput(f"{what} is truncated")
    account_id = uuid.UUID(bytes=bytes(data[at : at + 16]))
    (length,) = struct.unpack(">H", data[at + 16 : at + 18])
    at += 18
    if len(data) < at + length:
        raise MalformedInput(f"{what} is truncated")
    try:
        email = bytes(data[at : at + length]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedInput("a reader's address is not UTF-8") from exc
    return Reader(account_id, email), at + length


def decode_readers(data: bytes) -> tuple[Reader, ...]:
    """The inverse of ``encode_readers``; refuses anything not in canonical form.

    :raises MalformedInput: truncated, not UTF-8, or not in canonical form (sorted, each
        account once).
    """
    if len(data) < 2:
        raise MalformedInput("a reader list is too short")
    (count,) = struct.unpack(">H", data[:2])
    readers: list[Reader] = []
    at = 2
    for _ in range(count):
        reader, at = _read_reader(data, at, "a reader list")
        readers.append(reader)
    if at != len(data) or encode_readers(readers) != bytes(data):
        raise MalformedInput("a reader list is not in canonical form")
    return tuple(readers)


def _sha256(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    return h.finalize()


@dataclass(frozen=True)
class VersionManifest:
    what: ClassVar[str] = "document version"
    document_id: uuid.UUID
    version: int
    patient_file_id: uuid.UUID
    author_id: uuid.UUID
    #: Position of the author's key in the key directory log.
    signer_key_index: int
    #: The content envelope's content digest (envelope.content_digest, PROTOCOL 3.5).
    content_digest: bytes
    #: The metadata envelope's content digest, likewise.
    metadata_digest: bytes
    #: Whom the author encrypted this version to (the author included); None only
    #: for a version 1 manifest, which named no readers.
    readers: tuple[Reader, ...] | None = None
    #: SHA-256 of the previous version's manifest (NO_PREVIOUS for version 1): the
    #: versions form one chain, so a reader checks who wrote each one after whom.
    #: None only for a version 1 manifest, which named no previous one.
    previous: bytes | None = None

    @classmethod
    def of_version(
        cls,
        *,
        document_id: uuid.UUID,
        version: int,
        patient_file_id: uuid.UUID,
        author_id: uuid.UUID,
        signer_key_index: int,
        content_digest: bytes,
        metadata_envelope: bytes,
        readers: tuple[Reader, ...] | None,
        previous: bytes,
    ) -> VersionManifest:
        """The manifest of a version as it is uploaded, stored and served: its metadata
        envelope digested here, and ``previous`` left out of a version 1 manifest (one
        that names no readers), which names none."""
        return cls(
            document_id=document_id,
            version=version,
            patient_file_id=patient_file_id,
            author_id=author_id,
            signer_key_index=signer_key_index,
            content_digest=content_digest,
            metadata_digest=envelope.content_digest(metadata_envelope),
            readers=readers,
            previous=None if readers is None else previous,
        )

    @property
    def format_version(self) -> int:
        return MANIFEST_VERSION_1 if self.readers is None else MANIFEST_VERSION

    def encode(self) -> bytes:
        """The canonical bytes of this manifest.

        :raises MalformedInput: a digest is not 32 bytes, a field is out of range, or the
            chain of versions is inconsistent (a first version with a previous one, or the
            reverse).
        """
        if len(self.content_digest) != 32 or len(self.metadata_digest) != 32:
            raise MalformedInput("manifest digests are 32 bytes")
        if not 1 <= self.version < 1 << 32 or not 0 <= self.signer_key_index < 1 << 63:
            raise MalformedInput("manifest version or key index out of range")
        if self.readers is None:
            if self.previous is not None:
                raise MalformedInput("a version 1 manifest names no previous version")
            chained = b""
        else:
            if self.previous is None or len(self.previous) != 32:
                raise MalformedInput("a manifest's previous digest is 32 bytes")
            if (self.version == 1) != (self.previous == NO_PREVIOUS):
                raise MalformedInput("only the first version has no previous one")
            chained = self.previous + encode_readers(self.readers)
        return (
            MANIFEST_MAGIC
            + bytes([self.format_version])
            + self.document_id.bytes
            + struct.pack(">I", self.version)
            + self.patient_file_id.bytes
            + self.author_id.bytes
            + struct.pack(">Q", self.signer_key_index)
            + self.content_digest
            + self.metadata_digest
            + chained
        )

    def digest(self) -> bytes:
        """SHA-256 of the encoded manifest: what is signed.

        :raises MalformedInput: the manifest cannot be encoded (see ``encode``).
        """
        return _sha256(self.encode())

    def sign(self, key: ed25519.Ed25519PrivateKey) -> bytes:
        """The Ed25519 signature of this manifest (document purpose).

        :raises MalformedInput: the manifest cannot be encoded (see ``encode``).
        """
        return signing.sign(key, signing.Purpose.DOCUMENT, self.digest())

    def verify(self, author_signing_key: bytes, signature: bytes) -> None:
        """Raise SignatureVerificationFailed unless the author signed exactly this manifest.

        :raises SignatureVerificationFailed: the signature is not 64 bytes or does not
            verify for this key and content.
        :raises InvalidPublicKey: ``author_signing_key`` is refused (see
            ``signing.public_key``).
        :raises MalformedInput: ``author_signing_key`` is not 32 bytes, or the manifest
            cannot be encoded.
        """
        signing.verify(author_signing_key, signing.Purpose.DOCUMENT, self.digest(), signature)


GRANT_MAGIC = b"UHSG"
GRANT_VERSION = 0x01
#: A share statement that also names when the share may first be read (R28: the
#: patient's copy of a result, held back until it has been explained).
GRANT_VERSION_DELAYED = 0x02


@dataclass(frozen=True)
class ShareStatement:
    """What a reader signs when they give one version's key to someone else: the next
    author takes that person as a reader only on the word of a reader. Signed for the
    "document" purpose; its magic keeps it apart from a manifest."""

    what: ClassVar[str] = "share statement"

    document_id: uuid.UUID
    version: int
    granter_id: uuid.UUID
    signer_key_index: int
    recipient: Reader
    #: Seconds since the epoch (UTC) before which the recipient may not read the
    #: version; None (format 1, unchanged) for a share readable at once.
    available_from: int | None = None

    def encode(self) -> bytes:
        """The canonical bytes of this share statement: format 1 without
        ``available_from``, format 2 with it (``u64(available_from)`` before the reader).

        :raises MalformedInput: a field is out of range, or the reader cannot be encoded.
        """
        if not 1 <= self.version < 1 << 32 or not 0 <= self.signer_key_index < 1 << 63:
            raise MalformedInput("statement version or key index out of range")
        if self.available_from is not None and not 0 < self.available_from < 1 << 63:
            raise MalformedInput("statement available_from out of range")
        fields = (
            self.document_id.bytes
            + struct.pack(">I", self.version)
            + self.granter_id.bytes
            + struct.pack(">Q", self.signer_key_index)
        )
        if self.available_from is None:
            return GRANT_MAGIC + bytes([GRANT_VERSION]) + fields + self.recipient.encode()
        return (
            GRANT_MAGIC
            + bytes([GRANT_VERSION_DELAYED])
            + fields
            + struct.pack(">Q", self.available_from)
            + self.recipient.encode()
        )

    def digest(self) -> bytes:
        """SHA-256 of the encoded share statement: what is signed.

        :raises MalformedInput: the share statement cannot be encoded (see ``encode``).
        """
        return _sha256(self.encode())

    def sign(self, key: ed25519.Ed25519PrivateKey) -> bytes:
        """The Ed25519 signature of this share statement (document purpose).

        :raises MalformedInput: the share statement cannot be encoded (see ``encode``).
        """
        return signing.sign(key, signing.Purpose.DOCUMENT, self.digest())

    def verify(self, granter_signing_key: bytes, signature: bytes) -> None:
        """Check that ``granter_signing_key`` signed exactly this share statement.

        :raises SignatureVerificationFailed: the signature is not 64 bytes or does not
            verify for this key and content.
        :raises InvalidPublicKey: ``granter_signing_key`` is refused (see
            ``signing.public_key``).
        :raises MalformedInput: ``granter_signing_key`` is not 32 bytes, or the share
            statement cannot be encoded.
        """
        signing.verify(granter_signing_key, signing.Purpose.DOCUMENT, self.digest(), signature)


REVOCATION_MAGIC = b"UHSX"
REVOCATION_VERSION = 0x01
#: magic, format, document, version, revoker, key index, and the shortest reader.
_REVOCATION_MIN_SIZE = 4 + 1 + 16 + 4 + 16 + 8 + 18 + 1


@dataclass(frozen=True)
class RevocationStatement:
    """What someone who ends a reader's access signs: from ``version`` (the latest one
    when they revoked) on, the next author leaves that reader out, unless a reader
    signs a share statement for them at a later version. Signed for the "document"
    purpose, like a share statement; its magic keeps it apart from both."""

    what: ClassVar[str] = "revocation statement"

    document_id: uuid.UUID
    version: int
    revoker_id: uuid.UUID
    signer_key_index: int
    reader: Reader

    def encode(self) -> bytes:
        """The canonical bytes of this revocation statement.

        :raises MalformedInput: a field is out of range, or the reader cannot be encoded.
        """
        if not 1 <= self.version < 1 << 32 or not 0 <= self.signer_key_index < 1 << 63:
            raise MalformedInput("statement version or key index out of range")
        return (
            REVOCATION_MAGIC
            + bytes([REVOCATION_VERSION])
            + self.document_id.bytes
            + struct.pack(">I", self.version)
            + self.revoker_id.bytes
            + struct.pack(">Q", self.signer_key_index)
            + self.reader.encode()
        )

    @classmethod
    def decode(cls, data: bytes) -> RevocationStatement:
        """The inverse of ``encode``: refuses another magic, an unknown format, a field
        out of range, an address that is empty, too long or not UTF-8, and trailing bytes.

        :raises MalformedInput: another magic, a field out of range, a bad address,
            truncated or followed by bytes.
        :raises UnsupportedVersion: a format this code does not know.
        """
        data = bytes(data)
        if len(data) < 5 or data[:4] != REVOCATION_MAGIC:
            raise MalformedInput("not a revocation statement")
        if data[4] != REVOCATION_VERSION:
            raise UnsupportedVersion(f"unknown revocation statement format {data[4]}")
        if len(data) < _REVOCATION_MIN_SIZE:
            raise MalformedInput("a revocation statement is truncated")
        (version,) = struct.unpack(">I", data[21:25])
        (signer_key_index,) = struct.unpack(">Q", data[41:49])
        reader, end = _read_reader(data, 49, "a revocation statement")
        if end != len(data):
            raise MalformedInput("bytes follow a revocation statement")
        statement = cls(
            uuid.UUID(bytes=data[5:21]),
            version,
            uuid.UUID(bytes=data[25:41]),
            signer_key_index,
            reader,
        )
        statement.encode()  # the ranges, and the reader's address length
        return statement

    def digest(self) -> bytes:
        """SHA-256 of the encoded revocation statement: what is signed.

        :raises MalformedInput: the revocation statement cannot be encoded (see ``encode``).
        """
        return _sha256(self.encode())

    def sign(self, key: ed25519.Ed25519PrivateKey) -> bytes:
        """The Ed25519 signature of this revocation statement (document purpose).

        :raises MalformedInput: the revocation statement cannot be encoded (see ``encode``).
        """
        return signing.sign(key, signing.Purpose.DOCUMENT, self.digest())

    def verify(self, revoker_signing_key: bytes, signature: bytes) -> None:
        """Check that ``revoker_signing_key`` signed exactly this revocation statement.

        :raises SignatureVerificationFailed: the signature is not 64 bytes or does not
            verify for this key and content.
        :raises InvalidPublicKey: ``revoker_signing_key`` is refused (see
            ``signing.public_key``).
        :raises MalformedInput: ``revoker_signing_key`` is not 32 bytes, or the revocation
            statement cannot be encoded.
        """
        signing.verify(revoker_signing_key, signing.Purpose.DOCUMENT, self.digest(), signature)


MEMBERSHIP_MAGIC = b"UHST"
MEMBERSHIP_VERSION = 0x01
THREAD_NONCE_SIZE = 32
_THREAD_ID_DOMAIN = b"UHST thread id\x00"
#: The UUID version of a derived thread id (RFC 9562 version 8: custom).
THREAD_ID_VERSION = 8


def thread_id_of(creator_id: uuid.UUID, nonce: bytes, members: Iterable[Reader]) -> uuid.UUID:
    """A thread's id, derived from its first membership link: the first 16 bytes of
    SHA-256 over its creator, the creator's random nonce and its first members, marked
    as an RFC 9562 version 8 UUID. Another first link, whoever signed it, derives
    another id: it starts another thread and cannot stand in for this one's. The mark
    tells a derived id from the random ones of threads started before: a derived id
    served without its chain has had it withheld.

    :raises MalformedInput: ``nonce`` is not 32 bytes, or the members cannot be encoded (see
        ``encode_readers``).
    """
    if len(nonce) != THREAD_NONCE_SIZE:
        raise MalformedInput("a thread's nonce is 32 bytes")
    encoded = _THREAD_ID_DOMAIN + creator_id.bytes + nonce + encode_readers(members)
    digest = bytearray(_sha256(encoded)[:16])
    digest[6] = (digest[6] & 0x0F) | (THREAD_ID_VERSION << 4)
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 9562 variant
    return uuid.UUID(bytes=bytes(digest))


def is_derived_thread_id(thread_id: uuid.UUID) -> bool:
    """Whether ``thread_id`` is marked as derived from a first link (``thread_id_of``)."""
    return thread_id.variant == uuid.RFC_4122 and thread_id.version == THREAD_ID_VERSION


@dataclass(frozen=True)
class ThreadMembership:
    """One link of a thread's membership chain: the whole member list after a change,
    signed by the member who made it, bound to the previous link's digest (zeros for
    the first, signed by the thread's creator, whose thread id it derives). Signed for
    the "message" purpose; its magic keeps it apart from a message manifest."""

    what: ClassVar[str] = "thread membership"

    thread_id: uuid.UUID
    seq: int
    actor_id: uuid.UUID
    signer_key_index: int
    previous: bytes
    members: tuple[Reader, ...]

    def encode(self) -> bytes:
        """The canonical bytes of this membership link.

        :raises MalformedInput: a digest is not 32 bytes, a field is out of range, the chain
            is inconsistent, or the members cannot be encoded.
        """
        if len(self.previous) != 32:
            raise MalformedInput("a membership's previous digest is 32 bytes")
        if not 1 <= self.seq < 1 << 32 or not 0 <= self.signer_key_index < 1 << 63:
            raise MalformedInput("membership number or key index out of range")
        if (self.seq == 1) != (self.previous == NO_PREVIOUS):
            raise MalformedInput("only the first membership has no previous one")
        return (
            MEMBERSHIP_MAGIC
            + bytes([MEMBERSHIP_VERSION])
            + self.thread_id.bytes
            + struct.pack(">I", self.seq)
            + self.actor_id.bytes
            + struct.pack(">Q", self.signer_key_index)
            + self.previous
            + encode_readers(self.members)
        )

    @classmethod
    def first(
        cls,
        creator_id: uuid.UUID,
        signer_key_index: int,
        nonce: bytes,
        members: Iterable[Reader],
    ) -> ThreadMembership:
        """The link that starts a thread, under the id it derives (``thread_id_of``).

        :raises MalformedInput: ``nonce`` is not 32 bytes, or the members cannot be encoded.
        """
        members = tuple(members)
        return cls(
            thread_id_of(creator_id, nonce, members),
            1,
            creator_id,
            signer_key_index,
            NO_PREVIOUS,
            members,
        )

    def check_starts_thread(self, nonce: bytes) -> None:
        """Raise MalformedInput unless this link is the first of its thread: made by one
        of its members, and deriving the thread's id with ``nonce``.

        :raises MalformedInput: not membership 1, not made by a member, or not deriving the
            thread's id.
        """
        if self.seq != 1:
            raise MalformedInput("a thread starts with membership 1")
        if self.actor_id not in {m.account_id for m in self.members}:
            raise MalformedInput("a thread is started by one of its members")
        if thread_id_of(self.actor_id, nonce, self.members) != self.thread_id:
            raise MalformedInput("the first membership does not derive the thread's id")

    def digest(self) -> bytes:
        """SHA-256 of the encoded membership link: what is signed.

        :raises MalformedInput: the membership link cannot be encoded (see ``encode``).
        """
        return _sha256(self.encode())

    def sign(self, key: ed25519.Ed25519PrivateKey) -> bytes:
        """The Ed25519 signature of this membership link (message purpose).

        :raises MalformedInput: the membership link cannot be encoded (see ``encode``).
        """
        return signing.sign(key, signing.Purpose.MESSAGE, self.digest())

    def verify(self, actor_signing_key: bytes, signature: bytes) -> None:
        """Check that ``actor_signing_key`` signed exactly this membership link.

        :raises SignatureVerificationFailed: the signature is not 64 bytes or does not
            verify for this key and content.
        :raises InvalidPublicKey: ``actor_signing_key`` is refused (see
            ``signing.public_key``).
        :raises MalformedInput: ``actor_signing_key`` is not 32 bytes, or the membership
            link cannot be encoded.
        """
        signing.verify(actor_signing_key, signing.Purpose.MESSAGE, self.digest(), signature)


MESSAGE_MAGIC = b"UHSM"
MESSAGE_VERSION = 0x01


@dataclass(frozen=True)
class MessageManifest:
    """What a sender signs for one message of a thread: the message, its thread, its
    sender and key, and the content digest of its body envelope."""

    what: ClassVar[str] = "message"

    message_id: uuid.UUID
    thread_id: uuid.UUID
    sender_id: uuid.UUID
    signer_key_index: int
    body_digest: bytes

    def encode(self) -> bytes:
        """The canonical bytes of this message manifest.

        :raises MalformedInput: the body digest is not 32 bytes, or a field is out of range.
        """
        if len(self.body_digest) != 32:
            raise MalformedInput("a message body digest is 32 bytes")
        if not 0 <= self.signer_key_index < 1 << 63:
            raise MalformedInput("manifest key index out of range")
        return (
            MESSAGE_MAGIC
            + bytes([MESSAGE_VERSION])
            + self.message_id.bytes
            + self.thread_id.bytes
            + self.sender_id.bytes
            + struct.pack(">Q", self.signer_key_index)
            + self.body_digest
        )

    def digest(self) -> bytes:
        """SHA-256 of the encoded message manifest: what is signed.

        :raises MalformedInput: the message manifest cannot be encoded (see ``encode``).
        """
        return _sha256(self.encode())

    def sign(self, key: ed25519.Ed25519PrivateKey) -> bytes:
        """The Ed25519 signature of this message manifest (message purpose).

        :raises MalformedInput: the message manifest cannot be encoded (see ``encode``).
        """
        return signing.sign(key, signing.Purpose.MESSAGE, self.digest())

    def verify(self, sender_signing_key: bytes, signature: bytes) -> None:
        """Check that ``sender_signing_key`` signed exactly this message manifest.

        :raises SignatureVerificationFailed: the signature is not 64 bytes or does not
            verify for this key and content.
        :raises InvalidPublicKey: ``sender_signing_key`` is refused (see
            ``signing.public_key``).
        :raises MalformedInput: ``sender_signing_key`` is not 32 bytes, or the message
            manifest cannot be encoded.
        """
        signing.verify(sender_signing_key, signing.Purpose.MESSAGE, self.digest(), signature)
