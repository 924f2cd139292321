"""What an author signs for each version of a document.

A version is two envelopes under the same document key: the content and a small
metadata envelope (title, file name, media type), so that the server stores no title
in clear. The author signs a manifest that binds both envelopes' SHA-256 digests to
the document, its version number, its patient file, the author and the directory
entry holding the author's key: a server cannot move a signed document to another
patient file, replay an old version as a new one, or mix the content of one version
with the title of another. docs/PROTOCOL.md, "Document versions".
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import ClassVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519

from uhealthsec.crypto import signing
from uhealthsec.crypto.errors import MalformedInput

MANIFEST_MAGIC = b"UHSV"
MANIFEST_VERSION = 0x01


@dataclass(frozen=True)
class VersionManifest:
    what: ClassVar[str] = "document version"
    document_id: uuid.UUID
    version: int
    patient_file_id: uuid.UUID
    author_id: uuid.UUID
    #: Position of the author's key in the key directory log.
    signer_key_index: int
    #: SHA-256 of the content envelope (envelope.content_digest).
    content_digest: bytes
    #: SHA-256 of the metadata envelope.
    metadata_digest: bytes

    def encode(self) -> bytes:
        if len(self.content_digest) != 32 or len(self.metadata_digest) != 32:
            raise MalformedInput("manifest digests are 32 bytes")
        if not 1 <= self.version < 1 << 32 or not 0 <= self.signer_key_index < 1 << 63:
            raise MalformedInput("manifest version or key index out of range")
        return (
            MANIFEST_MAGIC
            + bytes([MANIFEST_VERSION])
            + self.document_id.bytes
            + struct.pack(">I", self.version)
            + self.patient_file_id.bytes
            + self.author_id.bytes
            + struct.pack(">Q", self.signer_key_index)
            + self.content_digest
            + self.metadata_digest
        )

    def digest(self) -> bytes:
        h = hashes.Hash(hashes.SHA256())
        h.update(self.encode())
        return h.finalize()

    def sign(self, key: ed25519.Ed25519PrivateKey) -> bytes:
        return signing.sign(key, signing.Purpose.DOCUMENT, self.digest())

    def verify(self, author_signing_key: bytes, signature: bytes) -> None:
        """Raise InvalidSignature unless the author signed exactly this manifest."""
        signing.verify(author_signing_key, signing.Purpose.DOCUMENT, self.digest(), signature)


MESSAGE_MAGIC = b"UHSM"
MESSAGE_VERSION = 0x01


@dataclass(frozen=True)
class MessageManifest:
    """What a sender signs for one message of a thread: the message, its thread, its
    sender and key, and the SHA-256 of its body envelope."""

    what: ClassVar[str] = "message"

    message_id: uuid.UUID
    thread_id: uuid.UUID
    sender_id: uuid.UUID
    signer_key_index: int
    body_digest: bytes

    def encode(self) -> bytes:
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
        h = hashes.Hash(hashes.SHA256())
        h.update(self.encode())
        return h.finalize()

    def sign(self, key: ed25519.Ed25519PrivateKey) -> bytes:
        return signing.sign(key, signing.Purpose.MESSAGE, self.digest())

    def verify(self, sender_signing_key: bytes, signature: bytes) -> None:
        signing.verify(sender_signing_key, signing.Purpose.MESSAGE, self.digest(), signature)
