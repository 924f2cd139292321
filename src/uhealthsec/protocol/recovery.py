"""Wire models of a forgotten password replaced with the recovery key
(docs/PROTOCOL.md, 16.5).

Three requests, none signed in: the address (a code is mailed to its owner), the code
with a second factor (the server answers with the keystore's recovery slot and a
nonce), then the keystore re-sealed on the device under a new password, signed with
the account's key over that nonce. The recovery key and the new password never
travel."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from uhealthsec.crypto.keystore import MAX_KEYSTORE_SIZE
from uhealthsec.crypto.signing import SIGNATURE_SIZE
from uhealthsec.protocol.encoding import Base64Url
from uhealthsec.protocol.signin import AUTH_SECRET_SIZE, Code, Email, SecondFactorIn
from uhealthsec.protocol.strict import Strict

#: The nonce a recovery's statement signs (crypto/keystore_change.KeystoreRecovery).
RECOVERY_NONCE_SIZE = 32


class RecoveryStartIn(Strict):
    email: Email


class RecoveryProofIn(Strict):
    email: Email
    #: The code mailed to the address (letters and digits; dashes and case ignored).
    code: Code
    second_factor: SecondFactorIn


class RecoveryProofOut(BaseModel):
    """What the device needs to re-seal its keys: the account's id (the statement
    names it), the nonce to sign and the keystore with its password slot zeroed."""

    account_id: uuid.UUID
    nonce: Base64Url(RECOVERY_NONCE_SIZE)  # type: ignore[valid-type]
    recovery_keystore: Base64Url(MAX_KEYSTORE_SIZE)  # type: ignore[valid-type]
    expires_at: datetime


class RecoveryCompletionIn(Strict):
    account_id: uuid.UUID
    nonce: Base64Url(RECOVERY_NONCE_SIZE)  # type: ignore[valid-type]
    auth_secret: Base64Url(AUTH_SECRET_SIZE)  # type: ignore[valid-type]
    keystore: Base64Url(MAX_KEYSTORE_SIZE)  # type: ignore[valid-type]
    #: Ed25519 signature of the recovery (docs/PROTOCOL.md, 16.5) by the account's key.
    signature: Base64Url(SIGNATURE_SIZE)  # type: ignore[valid-type]
