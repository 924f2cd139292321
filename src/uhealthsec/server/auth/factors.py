"""Second factors: TOTP, WebAuthn passkeys and single-use recovery codes (R5)."""

from __future__ import annotations

import json
import math
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import webauthn
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from webauthn.helpers import options_to_json
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from uhealthsec.crypto.journal import JournalEntry, ObjectKind, Outcome
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.audit.outbox import stage_entry
from uhealthsec.server.audit.writer import PendingEntry
from uhealthsec.server.auth import totp
from uhealthsec.server.auth.models import (
    FactorBudget,
    RecoveryCode,
    TotpCredential,
    WebAuthnChallenge,
    WebAuthnCredential,
)
from uhealthsec.server.auth.unblocking import FACTORS, Unblocking
from uhealthsec.server.context import AppContext, token_hash
from uhealthsec.server.errors import (
    FACTORS_BLOCKED,
    Conflict,
    InvalidInput,
    NotFound,
    SecondFactorRefused,
    ServiceError,
)
from uhealthsec.server.mail.outbox import MailOutbox
from uhealthsec.server.storage.db import upsert

RECOVERY_CODE_COUNT = 10
#: The letters of codes people type (recovery codes, mailed codes): no 0/o, 1/l/i.
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_GROUP = 5
_CHALLENGE_SECONDS = 300
_TOTP_PURPOSE = "totp-secret"
#: A passkey's challenge serves one kind of proof: a sign-in's (or a recovery's)
#: answer left unused cannot stand for a step-up's, nor the other way round.
SIGN_IN_CHALLENGE = "authenticate"
STEP_UP_CHALLENGE = "step-up"

#: RFC 8176 authentication method references recorded for each factor.
AMR_TOTP = "otp"
AMR_WEBAUTHN = "hwk"
AMR_RECOVERY = "rec"

FACTOR_REFUSED = "the second factor was not accepted (wrong, expired or already used)"
_TOTP_MISMATCH = "the code does not match; check the phone's clock and retry"

#: Wrong answers an account's second-factor checks may give, all of them together
#: (sign-in, step-up, enrolment, recovery codes), before its factors lock.
FACTOR_BUDGET = 5
#: The first lock; each further one, until an answer is accepted, lasts twice as long.
FACTOR_LOCK_FIRST_SECONDS = 60
FACTOR_LOCK_MAX_SECONDS = 86_400
LOCK_ACTION = "auth.factors_locked"
#: Wrong answers in a row (every lock's budget spent, none accepted) after which the
#: codes are blocked until the owner follows the mailed link (R7, unblocking.py).
FACTORS_BLOCKED_AFTER = 100


def factor_lock_seconds(locks: int) -> int:
    """How long the ``locks``-th lock in a row lasts: 1 min, 2, 4, ... at most a day."""
    return min(FACTOR_LOCK_MAX_SECONDS, FACTOR_LOCK_FIRST_SECONDS * 2 ** (locks - 1))


class FactorLocked(ServiceError):
    """Too many wrong second factors on this account: codes are not checked for now."""

    status = 429
    title = "Too many attempts"

    def __init__(self, until: datetime, now: datetime) -> None:
        wait = max(1, math.ceil((until - now).total_seconds()))
        super().__init__(
            "too many wrong codes on this account: codes are not checked until "
            f"{until:%Y-%m-%d %H:%M} UTC; a passkey still works",
            headers={"Retry-After": str(wait)},
            extra={"locked_until": until.isoformat()},
        )


class FactorsBlocked(ServiceError):
    """100 wrong second factors in a row: codes are not checked until unblocked."""

    status = 403
    title = "Codes blocked"
    problem_type = FACTORS_BLOCKED
    keep_changes = True  # a new unblocking link mailed (at most one a day)

    def __init__(self) -> None:
        super().__init__(
            "after too many wrong codes in a row, codes are no longer checked on this "
            "account: follow the link we mailed you to unblock them; a passkey still works",
            extra={"factors_blocked": True},
        )


def factors_blocked(budget: FactorBudget) -> bool:
    # Each lock follows FACTOR_BUDGET wrong answers and none accepted since: the run.
    return budget.locks * FACTOR_BUDGET >= FACTORS_BLOCKED_AFTER


@dataclass(frozen=True)
class SecondFactor:
    """What a client sends to prove a second factor: exactly one of the three."""

    totp_code: str | None = None
    recovery_code: str | None = None
    webauthn_response: dict[str, Any] | None = None


@dataclass(frozen=True)
class FactorSummary:
    kind: str
    id: str
    name: str
    created_at: str


def normalize_recovery_code(code: str) -> str:
    return "".join(c for c in code.lower() if c.isalnum())


class FactorService:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    # -- what an account has --------------------------------------------------------------

    def _has_totp(self, account_id: uuid.UUID) -> bool:
        cred = self.db.get(TotpCredential, account_id)
        return cred is not None and cred.confirmed_at is not None

    def _passkey_ids(self, account_id: uuid.UUID) -> list[bytes]:
        return list(
            self.db.scalars(
                select(WebAuthnCredential.credential_id).where(
                    WebAuthnCredential.account_id == account_id
                )
            )
        )

    def has_confirmed_factor(self, account_id: uuid.UUID) -> bool:
        return self._has_totp(account_id) or bool(self._passkey_ids(account_id))

    def methods(self, account_id: uuid.UUID) -> list[str]:
        found = []
        if self._has_totp(account_id):
            found.append("totp")
        if self._passkey_ids(account_id):
            found.append("webauthn")
        if self.db.scalar(
            select(func.count()).where(
                RecoveryCode.account_id == account_id, RecoveryCode.used_at.is_(None)
            )
        ):
            found.append("recovery_code")
        return found

    def list(self, account_id: uuid.UUID) -> list[FactorSummary]:
        out = []
        cred = self.db.get(TotpCredential, account_id)
        if cred is not None and cred.confirmed_at is not None:
            out.append(
                FactorSummary("totp", "totp", "Authenticator app", cred.created_at.isoformat())
            )
        for key in self.db.scalars(
            select(WebAuthnCredential).where(WebAuthnCredential.account_id == account_id)
        ):
            out.append(FactorSummary("webauthn", str(key.id), key.name, key.created_at.isoformat()))
        return out

    # -- TOTP -----------------------------------------------------------------------------

    def totp_begin(self, account: Account) -> totp.Enrolment:
        existing = self.db.get(TotpCredential, account.id)
        if existing is not None and existing.confirmed_at is not None:
            raise Conflict("an authenticator app is already enrolled; remove it first")
        secret = totp.new_secret()
        sealed = self.ctx.server_key.seal(_TOTP_PURPOSE, secret.encode(), account.id.bytes)
        if existing is None:
            self.db.add(
                TotpCredential(
                    account_id=account.id, secret_sealed=sealed, created_at=self.ctx.now()
                )
            )
        else:
            existing.secret_sealed = sealed
            existing.created_at = self.ctx.now()
            existing.last_used_step = -1
        return totp.enrolment(secret, account.email, self.ctx.settings.webauthn_rp_name)

    def totp_secret(self, cred: TotpCredential) -> str:
        return self.ctx.server_key.open(
            _TOTP_PURPOSE, cred.secret_sealed, cred.account_id.bytes
        ).decode()

    def _totp_accept(self, cred: TotpCredential, code: str) -> bool:
        secret = self.totp_secret(cred)
        step = totp.matching_step(secret, code, self.ctx.now(), cred.last_used_step)
        if step is None:
            return False
        cred.last_used_step = step
        return True

    def pending_totp_secret(self, account_id: uuid.UUID) -> str:
        """The secret of the authenticator app being enrolled (shown to the owner)."""
        cred = self.db.get(TotpCredential, account_id)
        if cred is None or cred.confirmed_at is not None:
            raise NotFound("no authenticator app enrolment is in progress")
        return self.totp_secret(cred)

    def totp_confirm(self, account: Account, code: str) -> None:
        cred = self.db.get(TotpCredential, account.id)
        if cred is None or cred.confirmed_at is not None:
            raise NotFound("no authenticator app enrolment is in progress")
        budget = self._charge(account.id, guessable=True)
        accepted = self._totp_accept(cred, code)
        self._settle(budget, accepted)
        if not accepted:
            raise SecondFactorRefused(_TOTP_MISMATCH)
        cred.confirmed_at = self.ctx.now()

    def totp_remove(self, account_id: uuid.UUID) -> None:
        self._refuse_removing_last(account_id, removing_totp=True)
        self.db.execute(delete(TotpCredential).where(TotpCredential.account_id == account_id))

    # -- WebAuthn -------------------------------------------------------------------------

    def new_challenge(self, account_id: uuid.UUID, purpose: str) -> bytes:
        challenge = secrets.token_bytes(32)
        self.db.add(
            WebAuthnChallenge(
                challenge_hash=token_hash(challenge.hex()),
                account_id=account_id,
                purpose=purpose,
                expires_at=self.ctx.now() + timedelta(seconds=_CHALLENGE_SECONDS),
            )
        )
        return challenge

    def _take_challenge(
        self, account_id: uuid.UUID, purpose: str, response: dict[str, Any]
    ) -> bytes:
        """The challenge the client signed, if we issued it to this account: used once."""
        try:
            client_data = json.loads(
                webauthn.base64url_to_bytes(response["response"]["clientDataJSON"])
            )
            challenge = webauthn.base64url_to_bytes(client_data["challenge"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput("the security key response is malformed") from exc
        self.take_challenge(account_id, purpose, challenge)
        return challenge

    def take_challenge(self, account_id: uuid.UUID, purpose: str, challenge: bytes) -> None:
        """Use up ``challenge``, or refuse it unless we issued it to this account for
        ``purpose`` and it is neither expired nor already used."""
        row = self.db.get(WebAuthnChallenge, token_hash(challenge.hex()))
        if (
            row is None
            or row.account_id != account_id
            or row.purpose != purpose
            or row.expires_at <= self.ctx.now()
        ):
            raise InvalidInput("the answer names an unknown, used or expired challenge")
        self.db.delete(row)

    def webauthn_registration_options(self, account: Account) -> dict[str, Any]:
        existing = self._passkey_ids(account.id)
        options = webauthn.generate_registration_options(
            rp_id=self.ctx.settings.webauthn_rp_id,
            rp_name=self.ctx.settings.webauthn_rp_name,
            user_id=account.id.bytes,
            user_name=account.email,
            user_display_name=account.display_name,
            challenge=self.new_challenge(account.id, "register"),
            exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in existing],
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
        )
        return json.loads(options_to_json(options))  # type: ignore[no-any-return]

    def webauthn_register(self, account: Account, response: dict[str, Any], name: str) -> bytes:
        """Add the passkey ``response`` registers; returns its credential id."""
        challenge = self._take_challenge(account.id, "register", response)
        try:
            verified = webauthn.verify_registration_response(
                credential=response,
                expected_challenge=challenge,
                expected_rp_id=self.ctx.settings.webauthn_rp_id,
                expected_origin=self.ctx.settings.webauthn_origins,
            )
        except (InvalidRegistrationResponse, ValueError, KeyError, TypeError) as exc:
            raise InvalidInput("the security key registration could not be verified") from exc
        taken = self.db.scalar(
            select(WebAuthnCredential.id).where(
                WebAuthnCredential.credential_id == verified.credential_id
            )
        )
        if taken is not None:
            raise Conflict("this security key is already registered")
        self.db.add(
            WebAuthnCredential(
                account_id=account.id,
                credential_id=verified.credential_id,
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                name=name,
                created_at=self.ctx.now(),
            )
        )
        return verified.credential_id

    def webauthn_authentication_options(
        self, account_id: uuid.UUID, purpose: str = SIGN_IN_CHALLENGE
    ) -> dict[str, Any]:
        keys = self._passkey_ids(account_id)
        if not keys:
            raise NotFound("no security key is registered for this account")
        options = webauthn.generate_authentication_options(
            rp_id=self.ctx.settings.webauthn_rp_id,
            challenge=self.new_challenge(account_id, purpose),
            allow_credentials=[PublicKeyCredentialDescriptor(id=c) for c in keys],
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        return json.loads(options_to_json(options))  # type: ignore[no-any-return]

    def webauthn_login_options(self, account: Account | None, address: str) -> dict[str, Any]:
        """Options to sign in with a passkey *before* the password (the shield asks for
        the factor first while its breaker is open). An address without a passkey, or
        without an account, gets options of the same shape naming a stable decoy key,
        so the answer does not tell which addresses have passkeys."""
        if account is not None and self._passkey_ids(account.id):
            return self.webauthn_authentication_options(account.id)
        options = webauthn.generate_authentication_options(
            rp_id=self.ctx.settings.webauthn_rp_id,
            challenge=secrets.token_bytes(32),
            allow_credentials=[
                PublicKeyCredentialDescriptor(id=key_id)
                for key_id in decoy_passkey_ids(self.ctx.server_key.mac, address)
            ],
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        return json.loads(options_to_json(options))  # type: ignore[no-any-return]

    def _webauthn_accept(
        self, account_id: uuid.UUID, response: dict[str, Any], purpose: str
    ) -> bool:
        challenge = self._take_challenge(account_id, purpose, response)
        try:
            raw_id = webauthn.base64url_to_bytes(response["rawId"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput("the security key response is malformed") from exc
        cred = self.db.scalar(
            select(WebAuthnCredential).where(
                WebAuthnCredential.credential_id == raw_id,
                WebAuthnCredential.account_id == account_id,
            )
        )
        if cred is None:
            return False
        try:
            verified = webauthn.verify_authentication_response(
                credential=response,
                expected_challenge=challenge,
                expected_rp_id=self.ctx.settings.webauthn_rp_id,
                expected_origin=self.ctx.settings.webauthn_origins,
                credential_public_key=cred.public_key,
                credential_current_sign_count=cred.sign_count,
            )
        except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError):
            return False
        cred.sign_count = verified.new_sign_count
        cred.last_used_at = self.ctx.now()
        return True

    def webauthn_remove(self, account_id: uuid.UUID, key_id: uuid.UUID) -> None:
        cred = self.db.get(WebAuthnCredential, key_id)
        if cred is None or cred.account_id != account_id:
            raise NotFound("no such security key on this account")
        self._refuse_removing_last(account_id, removing_totp=False)
        self.db.delete(cred)

    # -- recovery codes -------------------------------------------------------------------

    def _recovery_hash(self, account_id: uuid.UUID, code: str) -> bytes:
        # Keyed, so a copy of the database does not allow guessing codes offline.
        return self.ctx.server_key.mac(
            "recovery-code", account_id.bytes + normalize_recovery_code(code).encode()
        )

    def new_recovery_codes(self, account_id: uuid.UUID) -> list[str]:
        """Replace every recovery code of the account; shown to the user once."""
        self.db.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
        codes = []
        for _ in range(RECOVERY_CODE_COUNT):
            raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(2 * _RECOVERY_GROUP))
            code = f"{raw[:_RECOVERY_GROUP]}-{raw[_RECOVERY_GROUP:]}"
            codes.append(code)
            self.db.add(
                RecoveryCode(code_hash=self._recovery_hash(account_id, code), account_id=account_id)
            )
        return codes

    def _recovery_accept(self, account_id: uuid.UUID, code: str) -> bool:
        if len(code) > 64:
            return False
        row = self.db.get(RecoveryCode, self._recovery_hash(account_id, code))
        if row is None or row.account_id != account_id or row.used_at is not None:
            return False
        row.used_at = self.ctx.now()
        return True

    # -- checking a factor ----------------------------------------------------------------

    def verify(
        self, account_id: uuid.UUID, proof: SecondFactor, purpose: str = SIGN_IN_CHALLENGE
    ) -> str | None:
        """The RFC 8176 method proven, or None if the proof is wrong or replayed; every
        answer draws on the account's failure budget (FactorLocked once it is spent). A
        passkey's answer must sign a challenge given for ``purpose``."""
        given = [p for p in (proof.totp_code, proof.recovery_code, proof.webauthn_response) if p]
        if len(given) != 1:
            raise InvalidInput("give exactly one second factor: a code, a recovery code or a key")
        # A passkey signs a fresh challenge: it cannot be guessed, so it is checked even
        # while the codes are locked, and its owner is never locked out by a guesser.
        budget = self._charge(account_id, guessable=proof.webauthn_response is None)
        method = self._check(account_id, proof, purpose)
        self._settle(budget, method is not None)
        return method

    def _check(self, account_id: uuid.UUID, proof: SecondFactor, purpose: str) -> str | None:
        if proof.totp_code is not None:
            cred = self.db.get(TotpCredential, account_id)
            if cred is None or cred.confirmed_at is None:
                return None
            return AMR_TOTP if self._totp_accept(cred, proof.totp_code) else None
        if proof.recovery_code is not None:
            return AMR_RECOVERY if self._recovery_accept(account_id, proof.recovery_code) else None
        assert proof.webauthn_response is not None
        accepted = self._webauthn_accept(account_id, proof.webauthn_response, purpose)
        return AMR_WEBAUTHN if accepted else None

    # -- the failure budget -----------------------------------------------------------

    def refuse_if_locked(self, account_id: uuid.UUID, proof: SecondFactor) -> None:
        """Raise FactorLocked if ``proof`` is a code and the account's codes are locked."""
        if proof.webauthn_response is None:
            budget = self.db.get(FactorBudget, account_id)
            account = self.db.get(Account, account_id)
            if budget is not None and factors_blocked(budget) and account is not None:
                # The owner may have lost the first link: a new one, at most daily.
                Unblocking(self.db, self.ctx).offer(account, FACTORS)
            self._refuse_if_locked(budget)

    def _refuse_if_locked(self, budget: FactorBudget | None) -> None:
        now = self.ctx.now()
        if budget is not None and factors_blocked(budget):
            raise FactorsBlocked()
        if budget is not None and budget.locked_until is not None and budget.locked_until > now:
            raise FactorLocked(budget.locked_until, now)

    def _charge(self, account_id: uuid.UUID, guessable: bool) -> FactorBudget:
        """Count the answer as a failure before checking it, refunded if it holds.

        The increment takes the budget row's lock until the request commits, so
        concurrent answers for one account are checked one after the other and a
        burst of parallel guesses cannot all slip through before the lock."""
        upsert(self.db, FactorBudget, {"account_id": account_id}, add={"failures": 1})
        budget = self.db.get(FactorBudget, account_id, populate_existing=True)
        assert budget is not None
        if guessable:
            self._refuse_if_locked(budget)  # rolled back: nothing was checked
        return budget

    def _settle(self, budget: FactorBudget, accepted: bool) -> None:
        if accepted:
            budget.failures, budget.locks, budget.locked_until = 0, 0, None
            return
        if budget.failures < FACTOR_BUDGET or factors_blocked(budget):
            return
        now = self.ctx.now()
        budget.failures = 0
        budget.locks += 1
        if factors_blocked(budget):
            budget.locked_until = None  # no time ends a block: only the owner's link
            account = self.db.get(Account, budget.account_id)
            if account is not None:
                Unblocking(self.db, self.ctx).blocked(account, FACTORS, FactorsBlocked.status)
            return
        budget.locked_until = now + timedelta(seconds=factor_lock_seconds(budget.locks))
        self._tell_locked(budget.account_id, budget.locked_until)

    def _tell_locked(self, account_id: uuid.UUID, until: datetime) -> None:
        """Journal the lock and mail the owner: someone may hold their password or a
        session, and only they can tell whether the wrong codes were theirs."""
        account = self.db.get(Account, account_id)
        if account is None:
            return
        MailOutbox(self.db, self.ctx).send(
            account.email,
            "U-HealthSec: wrong codes on your account",
            f"{FACTOR_BUDGET} wrong second-factor codes were given for your account in a "
            f"row, so codes are not checked until {until:%Y-%m-%d %H:%M} UTC (a passkey "
            "still works).\n\nIf it was not you, someone knows your password or uses one "
            "of your signed-in devices: change your password and sign your other devices "
            "out.\n",
        )
        entry = JournalEntry(
            timestamp_ms=int(self.ctx.now().timestamp() * 1000),
            actor=account_id,
            action=LOCK_ACTION,
            outcome=Outcome.REFUSED,
            status=FactorLocked.status,
            objects=((ObjectKind.ACCOUNT, account_id),),
            client="uhs-server",
        )
        # Staged with the lock, committed with it (a refusal that keeps its changes),
        # and sequenced by the sweeper (audit/outbox.py): never a lock without its entry
        # nor an entry without its lock.
        stage_entry(self.db, PendingEntry(entry), self.ctx.now())

    def _refuse_removing_last(self, account_id: uuid.UUID, removing_totp: bool) -> None:
        keys = len(self._passkey_ids(account_id))
        remaining = keys if removing_totp else int(self._has_totp(account_id)) + keys - 1
        if remaining < 1:
            raise Conflict("this is the account's last second factor; add another one first")


#: How many passkeys a decoy names, and how long their ids are, drawn from these by
#: the address: real accounts hold one to three, and authenticators make ids of these
#: lengths (16 and 32 bytes for most platform passkeys, 20 for some, 64 for security
#: keys), so neither the count nor a length tells a decoy from an account.
_DECOY_COUNTS = (1,) * 15 + (2,) * 4 + (3,)
_DECOY_ID_LENGTHS = (16,) * 8 + (32,) * 5 + (20,) * 2 + (64,)


def decoy_passkey_ids(mac: Callable[[str, bytes], bytes], address: str) -> list[bytes]:
    """The stable passkey ids of an address without any: the same at every ask, as an
    account's are, made from the server key (``mac``) so nobody else can predict them."""
    seed = mac("passkey-decoy", address.encode())
    count = _DECOY_COUNTS[seed[0] % len(_DECOY_COUNTS)]
    ids = []
    for n in range(count):
        material = mac("passkey-decoy-id", seed + bytes([n]))
        material += mac("passkey-decoy-id", material)
        ids.append(material[: _DECOY_ID_LENGTHS[seed[1 + n] % len(_DECOY_ID_LENGTHS)]])
    return ids
