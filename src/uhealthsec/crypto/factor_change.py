"""A change to an account's second factors as its owner signs it (docs/PROTOCOL.md,
16.4).

A session can be stolen (malware copies a token minutes after a sign-in); the
keystore cannot be opened without the password or the recovery key. Adding or
removing a factor, or renewing the recovery codes, is therefore signed with the
signing key the keystore holds, so a stolen session alone cannot swap the owner's
factors for its own. The signature names the account, the action, the factor it
touches and a single-use nonce the server issued, so it can neither be replayed nor
moved to another account, action or factor.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from cryptography.hazmat.primitives import hashes

from uhealthsec.crypto import signing

FACTOR_CHANGE_VERSION = 0x01
_LABEL = b"uhealthsec/v1/factor-change\x00"


class FactorAction(Enum):
    """What the change does; the value is what is signed."""

    ADD_TOTP = b"add-totp"
    REMOVE_TOTP = b"remove-totp"
    ADD_PASSKEY = b"add-passkey"
    REMOVE_PASSKEY = b"remove-passkey"
    RENEW_RECOVERY_CODES = b"renew-recovery-codes"
    #: A linked e-CPS signs in without the password or a second factor: a factor too.
    LINK_E_CPS = b"link-e-cps"
    UNLINK_E_CPS = b"unlink-e-cps"


def _sha256(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    return h.finalize()


@dataclass(frozen=True)
class FactorChange(signing.OwnerStatement):
    """``account_id`` does ``action`` to the factor named by ``subject`` (the TOTP
    secret's ASCII text when adding one, a passkey's credential id when adding one,
    its 16-byte key id when removing one, the ASCII link code the provider's answer
    came back with when linking an e-CPS, the linked identity's 16-byte id when
    unlinking it, empty otherwise), under the server's ``nonce``."""

    what: ClassVar[str] = "factor change"
    purpose: ClassVar[signing.Purpose] = signing.Purpose.FACTOR_CHANGE
    account_id: uuid.UUID
    action: FactorAction
    subject: bytes
    nonce: bytes

    def digest(self) -> bytes:
        return _sha256(
            _LABEL
            + bytes([FACTOR_CHANGE_VERSION])
            + self.account_id.bytes
            + bytes([len(self.action.value)])
            + self.action.value
            + _sha256(self.subject)
            + _sha256(self.nonce)
        )
