"""A password change as the account's owner signs it (docs/PROTOCOL.md, 16.2), and a
forgotten password replaced with the recovery key (16.5).

The server stores the keystore but cannot open it, so it cannot tell a keystore the
owner re-sealed from one an intruder with a stolen session assembled (the owner's
public keys, private slots of garbage). The owner therefore signs the change with
the signing key the keystore holds: only someone who opened the current keystore
can, and the signature names the keystore replaced, the new one and the new
authentication secret, so it can neither be replayed later nor moved to another
account or secret.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar

from cryptography.hazmat.primitives import hashes

from uhealthsec.crypto import signing

KEYSTORE_CHANGE_VERSION = 0x01
_LABEL = b"uhealthsec/v1/keystore-change\x00"


def _sha256(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    return h.finalize()


def _digest(label: bytes, account_id: uuid.UUID, *fields: bytes) -> bytes:
    """What the owner signs: the statement's label, the version and the account, then
    each field by its SHA-256 (so each has a fixed length)."""
    return _sha256(
        label
        + bytes([KEYSTORE_CHANGE_VERSION])
        + account_id.bytes
        + b"".join(_sha256(field) for field in fields)
    )


@dataclass(frozen=True)
class KeystoreChange(signing.OwnerStatement):
    """``account_id`` replaces keystore ``current`` by ``new``, signing in with
    ``auth_secret`` from now on (all as bytes sent and stored)."""

    what: ClassVar[str] = "keystore change"
    purpose: ClassVar[signing.Purpose] = signing.Purpose.KEYSTORE_CHANGE
    account_id: uuid.UUID
    current: bytes
    new: bytes
    auth_secret: bytes

    def digest(self) -> bytes:
        return _digest(_LABEL, self.account_id, self.current, self.new, self.auth_secret)


_RECOVERY_LABEL = b"uhealthsec/v1/keystore-recovery\x00"


@dataclass(frozen=True)
class KeystoreRecovery(signing.OwnerStatement):
    """``account_id``, having forgotten its password, replaces its keystore by ``new``
    (re-sealed from the recovery slot under a new password) and signs in with
    ``auth_secret`` from now on, under the server's single-use ``nonce``
    (docs/PROTOCOL.md, 16.5).

    The device never sees the stored password slot, so unlike a change the statement
    cannot name the keystore it replaces: the nonce keeps it from being replayed."""

    what: ClassVar[str] = "keystore recovery"
    #: A keystore change's purpose: the label tells the two statements apart.
    purpose: ClassVar[signing.Purpose] = signing.Purpose.KEYSTORE_CHANGE
    account_id: uuid.UUID
    nonce: bytes
    new: bytes
    auth_secret: bytes

    def digest(self) -> bytes:
        return _digest(_RECOVERY_LABEL, self.account_id, self.nonce, self.new, self.auth_secret)
