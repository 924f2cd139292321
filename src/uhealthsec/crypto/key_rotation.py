"""Key rotation: an account replaces its keys with a statement its keys sign
(docs/PROTOCOL.md, 10.6).

The key directory is served by a hostile server, which could append an entry of its
own under any account. An entry of version ``v > 1`` is therefore taken only with a
statement signed by the signing key of entry ``v - 1`` (which the server does not
hold) and by the new entry's own signing key (proof that the owner holds it). A
reader checks the whole chain of an account's entries, from version 1 to the newest
the directory's map names: one missing or unsigned link refuses every entry of it.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519

from uhealthsec.crypto import merkle, signing
from uhealthsec.crypto.directory import DirectoryEntry
from uhealthsec.crypto.errors import InvalidProof, MalformedInput, UnsupportedVersion

STATEMENT_MAGIC = b"UHSR"
STATEMENT_VERSION = 0x01
_LABEL = b"uhealthsec/v1/key-rotation\x00"
_FIELDS = 16 + 4 + 32 + 32 + 32
STATEMENT_SIZE = 4 + 1 + _FIELDS + 2 * signing.SIGNATURE_SIZE  # 249


def _sha256(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    return h.finalize()


@dataclass(frozen=True)
class RotationStatement:
    """``account_id`` replaces the keys of its entry ``previous_leaf_hash`` (version
    ``new_version - 1``) with those of entry ``new_leaf_hash``, and stores the keystore
    whose SHA-256 is ``keystore_digest``; signed by both entries' signing keys."""

    account_id: uuid.UUID
    new_version: int
    previous_leaf_hash: bytes
    new_leaf_hash: bytes
    keystore_digest: bytes
    signature_previous: bytes = b""
    signature_new: bytes = b""

    def _fields(self) -> bytes:
        return (
            self.account_id.bytes
            + struct.pack(">I", self.new_version)
            + self.previous_leaf_hash
            + self.new_leaf_hash
            + self.keystore_digest
        )

    def digest(self) -> bytes:
        """What both keys sign (purpose ``key-rotation``)."""
        return _sha256(_LABEL + bytes([STATEMENT_VERSION]) + self._fields())

    def encode(self) -> bytes:
        return (
            STATEMENT_MAGIC
            + bytes([STATEMENT_VERSION])
            + self._fields()
            + self.signature_previous
            + self.signature_new
        )

    @classmethod
    def decode(cls, data: bytes) -> RotationStatement:
        """The statement encoded in ``data`` (signatures not checked).

        :raises MalformedInput: not a rotation statement, or a version below 2.
        :raises UnsupportedVersion: a statement version this code does not know.
        """
        if len(data) != STATEMENT_SIZE or data[:4] != STATEMENT_MAGIC:
            raise MalformedInput("not a U-HealthSec key rotation statement")
        if data[4] != STATEMENT_VERSION:
            raise UnsupportedVersion(f"unsupported key rotation statement version {data[4]}")
        (new_version,) = struct.unpack(">I", data[21:25])
        if new_version < 2:
            raise MalformedInput("a rotation makes key version 2 or later")
        return cls(
            uuid.UUID(bytes=bytes(data[5:21])),
            new_version,
            bytes(data[25:57]),
            bytes(data[57:89]),
            bytes(data[89:121]),
            bytes(data[121:185]),
            bytes(data[185:249]),
        )

    def verify(self, previous: DirectoryEntry, new: DirectoryEntry) -> None:
        """Check that this statement links ``previous`` to ``new`` and that both entries'
        signing keys signed it.

        :raises InvalidProof: the statement names another account, version or entries.
        :raises SignatureVerificationFailed: a signature does not verify.
        :raises MalformedInput: an entry or key is not valid.
        """
        if (
            previous.account_id != self.account_id
            or new.account_id != self.account_id
            or new.key_version != self.new_version
            or previous.key_version != self.new_version - 1
            or merkle.leaf_hash(previous.encode()) != self.previous_leaf_hash
            or merkle.leaf_hash(new.encode()) != self.new_leaf_hash
        ):
            raise InvalidProof("the rotation statement names other entries")
        digest = self.digest()
        purpose = signing.Purpose.KEY_ROTATION
        signing.verify(previous.signing_key, purpose, digest, self.signature_previous)
        signing.verify(new.signing_key, purpose, digest, self.signature_new)


def sign_rotation(
    previous: DirectoryEntry,
    new: DirectoryEntry,
    keystore: bytes,
    previous_key: ed25519.Ed25519PrivateKey,
    new_key: ed25519.Ed25519PrivateKey,
) -> RotationStatement:
    """The statement replacing ``previous`` by ``new`` (with the new ``keystore``),
    signed by both signing keys.

    :raises MalformedInput: ``new`` is not the next version of ``previous``'s account.
    """
    if new.account_id != previous.account_id or new.key_version != previous.key_version + 1:
        raise MalformedInput("a rotation publishes the next key version of the same account")
    unsigned = RotationStatement(
        previous.account_id,
        new.key_version,
        merkle.leaf_hash(previous.encode()),
        merkle.leaf_hash(new.encode()),
        _sha256(keystore),
    )
    digest = unsigned.digest()
    purpose = signing.Purpose.KEY_ROTATION
    return RotationStatement(
        unsigned.account_id,
        unsigned.new_version,
        unsigned.previous_leaf_hash,
        unsigned.new_leaf_hash,
        unsigned.keystore_digest,
        signing.sign(previous_key, purpose, digest),
        signing.sign(new_key, purpose, digest),
    )


def keystore_digest(keystore: bytes) -> bytes:
    return _sha256(keystore)


def verify_chain(
    leaves: Sequence[bytes], statements: Sequence[bytes | None]
) -> list[DirectoryEntry]:
    """An account's entries, oldest first, each version ``v > 1`` carried by the
    statement of the same position (docs/PROTOCOL.md, 10.6, rules 1 and 2).

    :raises InvalidProof: a gap, another account or kind, a missing statement, a
        statement that names other entries.
    :raises SignatureVerificationFailed: a statement not signed by both keys.
    :raises MalformedInput: an entry or a statement that does not decode.
    """
    if not leaves or len(leaves) != len(statements):
        raise InvalidProof("a chain of rotations holds one statement per entry")
    entries = [DirectoryEntry.decode(leaf) for leaf in leaves]
    first = entries[0]
    for position, (entry, raw) in enumerate(zip(entries, statements, strict=True)):
        if entry.key_version != position + 1:
            raise InvalidProof("a chain of rotations with a missing or repeated version")
        if entry.account_id != first.account_id or entry.kind != first.kind:
            raise InvalidProof("a chain of rotations mixes accounts")
        if position == 0:
            if raw is not None:
                raise InvalidProof("the first keys of an account are not a rotation")
            continue
        if raw is None:
            raise InvalidProof(f"keys of version {entry.key_version} without a rotation statement")
        RotationStatement.decode(raw).verify(entries[position - 1], entry)
    return entries
