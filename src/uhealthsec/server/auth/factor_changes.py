"""Changes to an account's second factors, each signed by the owner's key. No HTTP here.

A session is a bearer token: malware that copies one minutes after a sign-in also
holds its step-up window. Were a recent second factor enough, it could register its
own passkey, remove the owner's and renew the recovery codes, and the owner could no
longer sign in. Every change to the factors of a signed-in account therefore needs
proof of the keystore, as a password change does (docs/PROTOCOL.md, 16.4): an
Ed25519 signature by the account's published signing key over the change and a
single-use server nonce. Each change ends every other session and is mailed.
Linking an e-CPS, which then signs in without the password or a second factor, and
unlinking one, are such changes too (federation/service.py).

A first factor enrolled during a sign-in (LoginService.confirm_*_enrolment) stays
unsigned: the account has none yet, so there is nothing to take over, and that flow
has just proven the password, which opens the keystore anyway.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session as DbSession

from uhealthsec.crypto.factor_change import FactorAction, FactorChange
from uhealthsec.server.auth.factors import FactorService
from uhealthsec.server.auth.service import Principal, SessionService
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import InvalidInput
from uhealthsec.server.keys.service import KeyDirectory

NONCE_PURPOSE = "factor-change"


class FactorChanges:
    def __init__(self, db: DbSession, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx
        self.factors = FactorService(db, ctx)
        self.sessions = SessionService(db, ctx)

    def nonce(self, caller: Principal) -> bytes:
        """A fresh nonce for the caller's next signed change (single use, 5 minutes)."""
        return self.factors.new_challenge(caller.account.id, NONCE_PURPOSE)

    def consent(
        self,
        caller: Principal,
        action: FactorAction,
        subject: bytes,
        nonce: bytes,
        signature: bytes,
    ) -> None:
        """Refuse unless the owner signed this very change, recently proved a second
        factor, and the nonce is one we issued to them and was not used yet."""
        self.sessions.require_recent_mfa(caller)
        self.factors.take_challenge(caller.account.id, NONCE_PURPOSE, nonce)
        directory = KeyDirectory(self.db, self.ctx)
        current = directory.current_version(caller.account.id)
        if current is None:
            raise InvalidInput("this account has no published keys yet")
        directory.check_signature(
            caller.account,
            current.log_index,
            FactorChange(caller.account.id, action, subject, nonce),
            signature,
        )

    def _changed(self, caller: Principal, reason: str, what: str) -> None:
        self.sessions.credentials_changed(caller, reason, what)

    def confirm_totp(self, caller: Principal, code: str, nonce: bytes, signature: bytes) -> None:
        secret = self.factors.pending_totp_secret(caller.account.id)
        self.consent(caller, FactorAction.ADD_TOTP, secret.encode(), nonce, signature)
        self.factors.totp_confirm(caller.account, code)
        self._changed(caller, "factor_added", "an authenticator app was added to your account")

    def remove_totp(self, caller: Principal, nonce: bytes, signature: bytes) -> None:
        self.consent(caller, FactorAction.REMOVE_TOTP, b"", nonce, signature)
        self.factors.totp_remove(caller.account.id)
        self._changed(
            caller, "factor_removed", "the authenticator app was removed from your account"
        )

    def add_passkey(
        self,
        caller: Principal,
        credential: dict[str, Any],
        name: str,
        nonce: bytes,
        signature: bytes,
    ) -> None:
        # Checked once the passkey is verified, on the id it attests; a refusal undoes it.
        credential_id = self.factors.webauthn_register(caller.account, credential, name)
        self.consent(caller, FactorAction.ADD_PASSKEY, credential_id, nonce, signature)
        self._changed(caller, "factor_added", "a passkey was added to your account")

    def remove_passkey(
        self, caller: Principal, key_id: uuid.UUID, nonce: bytes, signature: bytes
    ) -> None:
        self.consent(caller, FactorAction.REMOVE_PASSKEY, key_id.bytes, nonce, signature)
        self.factors.webauthn_remove(caller.account.id, key_id)
        self._changed(caller, "factor_removed", "a passkey was removed from your account")

    def renew_recovery_codes(self, caller: Principal, nonce: bytes, signature: bytes) -> list[str]:
        self.consent(caller, FactorAction.RENEW_RECOVERY_CODES, b"", nonce, signature)
        codes = self.factors.new_recovery_codes(caller.account.id)
        self._changed(caller, "recovery_codes_replaced", "your recovery codes were replaced")
        return codes
