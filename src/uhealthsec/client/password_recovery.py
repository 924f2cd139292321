"""A forgotten password, replaced with the 24 recovery words (docs/PROTOCOL.md, 16.5):
the SDK's calls, mixed into ``AuthClient``. The words open the keys here, on the
device; wrong ones never reach the server, nor does the new password."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx2

from uhealthsec.client.errors import MalformedAnswer, WeakPassword
from uhealthsec.client.passwords import check_new_password
from uhealthsec.client.transport import check_response, post_with_proof
from uhealthsec.client.wire import body, parse
from uhealthsec.crypto.keystore import (
    Argon2Params,
    Keystore,
    change_password,
    unlock_with_recovery_key,
)
from uhealthsec.crypto.keystore_change import KeystoreRecovery
from uhealthsec.protocol.recovery import (
    RecoveryCompletionIn,
    RecoveryProofIn,
    RecoveryProofOut,
    RecoveryStartIn,
)
from uhealthsec.protocol.signin import SecondFactorIn


@dataclass(frozen=True)
class PasswordRecovery:
    """A forgotten password's recovery, its code and second factor proven: what the
    device re-seals from (docs/PROTOCOL.md, 16.5)."""

    account_id: uuid.UUID
    nonce: bytes = field(repr=False)
    #: The account's keystore with its password slot zeroed: the recovery key opens it.
    keystore: Keystore = field(repr=False)


class PasswordRecoveryCalls:
    http: httpx2.Client

    def start_password_recovery(self, email: str) -> None:
        """Have a one-time code mailed to the owner of ``email`` (the answer is the same
        whether or not an account uses it)."""
        request = RecoveryStartIn.model_construct(email=email)
        check_response(post_with_proof(self.http, "/accounts/password-recoveries", body(request)))

    def prove_password_recovery(
        self, email: str, code: str, second_factor: dict[str, Any]
    ) -> PasswordRecovery:
        """The mailed ``code`` and ``second_factor`` ({"totp_code": …},
        {"recovery_code": …} or {"webauthn": …} over :meth:`passkey_options`)."""
        request = RecoveryProofIn.model_construct(
            email=email,
            code=code,
            second_factor=SecondFactorIn.model_construct(**second_factor),
        )
        response = post_with_proof(self.http, "/accounts/password-recoveries/proof", body(request))
        proven = parse(RecoveryProofOut, check_response(response), MalformedAnswer, "the recovery")
        return PasswordRecovery(
            proven.account_id, proven.nonce, Keystore.decode(proven.recovery_keystore)
        )

    def finish_password_recovery(
        self,
        recovery: PasswordRecovery,
        recovery_key: bytes,
        new_password: str,
        user_inputs: tuple[str, ...] = (),
        params: Argon2Params | None = None,
    ) -> None:
        """Open the keys with the recovery key, re-seal them under ``new_password`` and
        sign the recovery with them. All on this device: wrong words fail here
        (WrongPassword) and never reach the server, nor does the new password, which is
        refused here if weak, common or leaked (client/passwords.py)."""
        verdict = check_new_password(new_password, user_inputs)
        if not verdict.acceptable:
            raise WeakPassword(verdict.reason)
        keys = unlock_with_recovery_key(recovery.keystore, recovery_key)
        resealed, auth_secret = (
            change_password(recovery.keystore, keys, new_password, params=params)
            if params
            else change_password(recovery.keystore, keys, new_password)
        )
        statement = KeystoreRecovery(
            recovery.account_id, recovery.nonce, resealed.encode(), auth_secret
        )
        request = RecoveryCompletionIn.model_construct(
            account_id=recovery.account_id,
            nonce=recovery.nonce,
            auth_secret=auth_secret,
            keystore=resealed.encode(),
            signature=statement.sign(keys.signing),
        )
        check_response(
            self.http.post("/accounts/password-recoveries/completion", json=body(request))
        )
