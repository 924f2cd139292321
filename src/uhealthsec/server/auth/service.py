"""Sign-in (password, then a second factor), sessions, step-up. No HTTP here.

A sign-in is a short *login flow*: the client proves its password-derived secret, then
a second factor (or, for a new account, enrols its first one). Only a flow with both
can be exchanged at the authorization endpoint for a code, and then for tokens (R5).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session as DbSession

from uhealthsec.crypto.keystore import Argon2Params, Keystore
from uhealthsec.server.accounts.models import Account, AccountStatus
from uhealthsec.server.addresses import normalize_email
from uhealthsec.server.auth.factors import (
    AMR_TOTP,
    AMR_WEBAUTHN,
    FACTOR_REFUSED,
    STEP_UP_CHALLENGE,
    FactorService,
    SecondFactor,
)
from uhealthsec.server.auth.models import (
    AuthenticatorUnblock,
    AuthorizationCode,
    LoginFlow,
    RefreshToken,
    Session,
    WebAuthnChallenge,
)
from uhealthsec.server.auth.unblocking import PASSWORD, Unblocking
from uhealthsec.server.context import AppContext, token_hash
from uhealthsec.server.errors import (
    CredentialsRefused,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    SecondFactorRefused,
    StepUpRequired,
)
from uhealthsec.server.mail.outbox import MailOutbox
from uhealthsec.server.security.tokens import AccessClaims
from uhealthsec.server.shield.service import (
    PASSWORD_BLOCKED_AFTER,
    Attempt,
    PasswordBlocked,
    SecondFactorFirst,
    Shield,
)

#: Wrong second-factor answers allowed in one flow before it must start again.
MAX_MFA_FAILURES = 5

_BAD_CREDENTIALS = "the e-mail address or the password is incorrect"
_FACTOR_FIRST = (
    "after many failed attempts on this address, its password is checked only together "
    "with a code from your authenticator app or a recovery code: send both"
)
_BAD_FLOW = "this sign-in has expired or was already used; start again"


def with_method(amr: str, method: str) -> str:
    """The space-separated RFC 8176 list ``amr`` with ``method`` added once."""
    return amr if method in amr.split() else f"{amr} {method}"


#: How long a sign-in's records are kept once they can no longer be used: a code used
#: again within it still revokes what it gave (RFC 6749 §4.1.2).
FINISHED_KEPT = timedelta(hours=1)


def purge_finished_sign_ins(db: DbSession, now: datetime) -> int:
    """Forget the sign-ins, authorization codes, WebAuthn challenges (and factor
    change nonces) and unblocking links that ended over an hour ago (``uhs-server
    cleanup``). Anyone may leave such rows, by asking a passkey's options for an
    address or starting a sign-in, so they must not be kept for ever."""
    cutoff = now - FINISHED_KEPT
    removed = 0
    for model in (LoginFlow, AuthorizationCode, WebAuthnChallenge, AuthenticatorUnblock):
        deleted = db.execute(delete(model).where(model.expires_at < cutoff))
        removed += deleted.rowcount or 0  # type: ignore[attr-defined]
    return removed


@dataclass(frozen=True)
class LoginStarted:
    ticket: str
    expires_at: datetime
    #: Second factors the account can use now; empty means one must be enrolled first.
    methods: list[str]
    #: A second factor was proven with the password (see the shield's limit).
    complete: bool = False

    @property
    def enrolment_required(self) -> bool:
        return not self.methods


@dataclass(frozen=True)
class Principal:
    """Who is calling, established from a valid access token and a live session."""

    account: Account
    session: Session
    claims: AccessClaims


def _for_address(attempt: Attempt | None, endpoint: str, address: str) -> Attempt:
    """The request's attempt, about the account the ticket or token names (the route
    does not know its address)."""
    return replace(attempt or Attempt(endpoint, "", None), address=normalize_email(address))


class LoginService:
    def __init__(self, db: DbSession, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx
        self.factors = FactorService(db, ctx)

    def prelogin(self, email: str) -> bytes:
        """The Argon2id parameters and salt the client needs to derive its secrets.

        For an unknown address the answer is a stable decoy made from the server key,
        so that the response does not reveal whether the address is registered.
        """
        address = normalize_email(email)
        account = self.db.scalar(select(Account).where(Account.email == address))
        if account is not None:
            return Keystore.decode(account.keystore).password_params.encode()
        salt = self.ctx.server_key.mac("prelogin-decoy", address.encode())[:16]
        return Argon2Params.default(random=lambda n: salt[:n]).encode()

    def start(
        self,
        email: str,
        auth_secret: bytes,
        attempt: Attempt | None = None,
        second_factor: SecondFactor | None = None,
    ) -> LoginStarted:
        """Check the password-derived secret, once the shield lets the attempt through.

        A ``second_factor`` may come with the password (a code, or a passkey assertion
        over the challenge of ``passkey_options``); the answer then tells nothing
        unless both hold. The shield requires one for an address past its limit of
        failures and, while its breaker is open, for every account that has a factor:
        guessing learns nothing while the owner still signs in. An account that has
        none yet (its first sign-in after confirming its address) is held back by
        neither, and its answer tells nothing to anyone without its password.
        """
        address = normalize_email(email)
        shield = Shield(self.db, self.ctx)
        admission = shield.admit(attempt or Attempt("login", address, None))
        account = self.db.scalar(select(Account).where(Account.email == address))
        if admission.password_blocked:
            self._refuse_blocked(account)
        if (
            second_factor is None
            and admission.address_exhausted
            and not (account is not None and not self.factors.has_confirmed_factor(account.id))
        ):
            # Before any hash, guessing stops; but an account with no factor yet has none
            # to send, so its password is still checked below (after the backoff's proof
            # of work): an outsider's failures on its address must not lock it out.
            raise SecondFactorFirst(_FACTOR_FIRST)
        if second_factor is not None and account is not None:
            # A lock is told whatever the password, or its answer would tell the password.
            self.factors.refuse_if_locked(account.id, second_factor)
        # Counted before the hash, so that parallel guesses cannot pass the limit (R7).
        run = shield.charge_password(admission)
        if run > PASSWORD_BLOCKED_AFTER:
            self._refuse_blocked(account)
        ok = self.ctx.hasher.verify(account.password_hash if account else None, auth_secret)
        if ok and account is not None:
            shield.password_right(admission)
        elif run == PASSWORD_BLOCKED_AFTER:
            shield.count("passwords_blocked")
            if account is not None:
                Unblocking(self.db, self.ctx).blocked(account, PASSWORD, PasswordBlocked.status)
        proven: str | None = None
        if second_factor is not None:
            # The factor is checked only with the right password: only someone who has
            # it draws on the account's factor budget (a guesser who knows the address
            # alone locks nobody out, nor burns a recovery code), and a wrong password
            # is answered as a wrong factor.
            if ok and account is not None:
                try:
                    proven = self.factors.verify(account.id, second_factor)
                except InvalidInput:
                    # Malformed is told as wrong: a 400 only with the right password
                    # would tell a guesser which password is right.
                    proven = None
            if proven is None:
                shield.settle(admission, succeeded=False)
                raise CredentialsRefused(_BAD_CREDENTIALS)
        elif (admission.address_exhausted or admission.breaker_open) and not self._newcomer(
            account, ok
        ):
            # Only an account without a factor yet goes on without one; a wrong password
            # gets the same answer as a right one for an account with a factor.
            raise SecondFactorFirst(_FACTOR_FIRST)
        shield.settle(admission, succeeded=ok and account is not None)
        if not ok or account is None:
            raise CredentialsRefused(_BAD_CREDENTIALS)
        # Only someone who knows the password learns the account's state.
        if account.status == AccountStatus.PENDING:
            raise Forbidden("confirm your e-mail address first: follow the code we sent you")
        if account.status != AccountStatus.ACTIVE:
            raise Forbidden("this account is disabled; contact your practice's administrator")
        if self.ctx.hasher.needs_rehash(account.password_hash):
            account.password_hash = self.ctx.hasher.hash(auth_secret)
        ticket = secrets.token_urlsafe(32)
        flow = self._new_flow(ticket, account, "pwd")
        if proven is not None:
            self.mark_mfa(flow, proven)
        methods = self.factors.methods(account.id)
        return LoginStarted(ticket, flow.expires_at, methods, complete=proven is not None)

    def _refuse_blocked(self, account: Account | None) -> None:
        """The password is not checked, and the answer is the same for an address
        without an account; only an owner is mailed (a new link at most daily)."""
        if account is not None:
            Unblocking(self.db, self.ctx).offer(account, PASSWORD)
        raise PasswordBlocked()

    def _newcomer(self, account: Account | None, password_ok: bool) -> bool:
        """Signing in with the right password to an account with no second factor yet."""
        return (
            password_ok
            and account is not None
            and not self.factors.has_confirmed_factor(account.id)
        )

    def passkey_options(self, email: str, attempt: Attempt | None = None) -> dict[str, Any]:
        """WebAuthn options to sign in with a passkey sent along with the password."""
        address = normalize_email(email)
        Shield(self.db, self.ctx).admit(attempt or Attempt("passkey", address, None))
        account = self.db.scalar(
            select(Account).where(Account.email == address, Account.status == AccountStatus.ACTIVE)
        )
        return self.factors.webauthn_login_options(account, address)

    def _new_flow(self, ticket: str, account: Account, amr: str) -> LoginFlow:
        now = self.ctx.now()
        flow = LoginFlow(
            ticket_hash=token_hash(ticket),
            account_id=account.id,
            created_at=now,
            expires_at=now + timedelta(seconds=self.ctx.settings.login_seconds),
            amr=amr,
            mfa_failures=0,
        )
        self.db.add(flow)
        return flow

    def completed_elsewhere(self, account: Account, amr: str) -> LoginFlow:
        """A flow already complete and consumed: the sign-in was proven by a trusted
        identity provider at a multi-factor level, and is answered at once."""
        flow = self._new_flow(secrets.token_urlsafe(32), account, amr)
        flow.mfa_verified_at = flow.consumed_at = self.ctx.now()
        return flow

    def flow(self, ticket: str, *, lock: bool = False) -> tuple[LoginFlow, Account]:
        """The flow of ``ticket`` if it can still be used. ``lock`` holds its row until
        commit, for a step that changes it (a failure counted, a factor proven, the flow
        consumed): concurrent steps of one flow then each see the one before, so that
        no failure goes uncounted and a flow is consumed once."""
        if len(ticket) > 100:
            raise NotAuthenticated(_BAD_FLOW)
        query = select(LoginFlow).where(LoginFlow.ticket_hash == token_hash(ticket))
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        flow = self.db.scalar(query)
        if (
            flow is None
            or flow.consumed_at is not None
            or flow.expires_at <= self.ctx.now()
            or flow.mfa_failures >= MAX_MFA_FAILURES
        ):
            raise NotAuthenticated(_BAD_FLOW)
        account = self.db.get(Account, flow.account_id)
        if account is None or account.status != AccountStatus.ACTIVE:
            raise NotAuthenticated(_BAD_FLOW)
        return flow, account

    def enrolling_flow(self, ticket: str, *, lock: bool = False) -> tuple[LoginFlow, Account]:
        """A flow allowed to enrol a first factor: the account must have none yet."""
        flow, account = self.flow(ticket, lock=lock)
        if self.factors.has_confirmed_factor(account.id) and flow.mfa_verified_at is None:
            raise Forbidden("this account already has a second factor: sign in with it first")
        return flow, account

    def mark_mfa(self, flow: LoginFlow, method: str) -> None:
        flow.mfa_verified_at = self.ctx.now()
        flow.amr = with_method(flow.amr, method)
        # Only a whole sign-in ends a run of failures: a guessed password alone does not.
        account = self.db.get(Account, flow.account_id)
        if account is not None:
            Shield(self.db, self.ctx).clear(account.email)

    def prove_second_factor(
        self, ticket: str, proof: SecondFactor, attempt: Attempt | None = None
    ) -> None:
        """The second step of a sign-in, behind the shield like the first (R27): after
        failures on the address or from the network, a code is checked only with a
        proof of work."""
        flow, account = self.flow(ticket, lock=True)
        # A lock is told first: the caller holds the password, and no proof of work
        # would get a locked code checked.
        self.factors.refuse_if_locked(account.id, proof)
        shield = Shield(self.db, self.ctx)
        admission = shield.admit(_for_address(attempt, "second-factor", account.email))
        method = self.factors.verify(account.id, proof)
        shield.settle_factor(admission, method is not None)
        if method is None:
            flow.mfa_failures += 1
            raise SecondFactorRefused(FACTOR_REFUSED)
        self.mark_mfa(flow, method)

    def confirm_totp_enrolment(self, ticket: str, code: str) -> list[str]:
        """First factor of a new account; returns its recovery codes (shown once)."""
        flow, account = self.enrolling_flow(ticket, lock=True)
        try:
            self.factors.totp_confirm(account, code)
        except SecondFactorRefused:
            flow.mfa_failures += 1
            raise
        self.mark_mfa(flow, AMR_TOTP)
        return self.factors.new_recovery_codes(account.id)

    def confirm_webauthn_enrolment(
        self, ticket: str, response: dict[str, object], name: str
    ) -> list[str]:
        flow, account = self.enrolling_flow(ticket, lock=True)
        self.factors.webauthn_register(account, response, name)  # type: ignore[arg-type]
        self.mark_mfa(flow, AMR_WEBAUTHN)
        return self.factors.new_recovery_codes(account.id)

    def consume(self, ticket: str) -> tuple[LoginFlow, Account]:
        """Hand a completed flow to the authorization endpoint, once."""
        flow, account = self.flow(ticket, lock=True)
        if flow.mfa_verified_at is None:
            raise Forbidden("a second factor is required before signing in")
        flow.consumed_at = self.ctx.now()
        return flow, account


class SessionService:
    def __init__(self, db: DbSession, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    def authenticate(self, token: str) -> Principal:
        claims = self.ctx.keyring.verify(token, self.ctx.now())
        # The session and its account in one statement, read at every request: a session
        # revoked by any process fails at once, with no cache to outlive it.
        found = self.db.execute(
            select(Session, Account)
            .join(Account, Account.id == Session.account_id)
            .where(Session.id == claims.session_id)
        ).one_or_none()
        refused = NotAuthenticated(
            "this session has ended; sign in again",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
        if found is None:
            raise refused
        session, account = found
        if (
            session.revoked_at is not None
            or session.expires_at <= self.ctx.now()
            or session.account_id != claims.account_id
            or account.status != AccountStatus.ACTIVE
        ):
            raise refused
        return Principal(account, session, claims)

    def require_recent_mfa(self, principal: Principal) -> None:
        """Sensitive actions (R9): a second factor proven in the last few minutes."""
        limit = timedelta(seconds=self.ctx.settings.step_up_seconds)
        if self.ctx.now() - principal.session.auth_time > limit:
            raise StepUpRequired(
                "confirm it is you: prove a second factor at /auth/step-up, then retry"
            )

    def step_up(
        self, principal: Principal, proof: SecondFactor, attempt: Attempt | None = None
    ) -> tuple[str, AccessClaims]:
        """A second factor proven again, behind the shield (R27): someone holding a
        stolen session who guesses codes pays a proof of work after a few failures."""
        factors = FactorService(self.db, self.ctx)
        factors.refuse_if_locked(principal.account.id, proof)  # told first, as at sign-in
        shield = Shield(self.db, self.ctx)
        admission = shield.admit(_for_address(attempt, "step-up", principal.account.email))
        method = factors.verify(principal.account.id, proof, STEP_UP_CHALLENGE)
        shield.settle_factor(admission, method is not None)
        if method is None:
            raise SecondFactorRefused(FACTOR_REFUSED)
        shield.clear(principal.account.email)
        session = principal.session
        session.auth_time = self.ctx.now()
        session.amr = with_method(session.amr, method)
        return self.issue_access_token(session)

    def credentials_changed(self, principal: Principal, reason: str, what: str) -> int:
        """A password or the second factors changed: every other session of the account
        ends (an intruder's among them) and the owner is told by mail, so a change
        they did not make does not go unnoticed."""
        ended = self.revoke_all(principal.account.id, reason, keep=principal.session.id)
        MailOutbox(self.db, self.ctx).send(
            principal.account.email,
            "U-HealthSec: " + what,
            f"On {self.ctx.now():%Y-%m-%d at %H:%M} UTC, {what} from one of your devices; "
            f"your other devices ({ended}) were signed out.\n\nIf it was not you, sign in "
            "with your recovery key, change your password and contact your practice's "
            "administrator.\n",
        )
        return ended

    def issue_access_token(self, session: Session) -> tuple[str, AccessClaims]:
        return self.ctx.keyring.issue(
            account_id=session.account_id,
            session_id=session.id,
            client_id=session.client_id,
            auth_time=session.auth_time,
            amr=tuple(session.amr.split()),
            scope=session.scope,
            issuer=self.ctx.settings.issuer,
            now=self.ctx.now(),
        )

    def list(self, account_id: uuid.UUID) -> list[Session]:
        now = self.ctx.now()
        return list(
            self.db.scalars(
                select(Session)
                .where(
                    Session.account_id == account_id,
                    Session.revoked_at.is_(None),
                    Session.expires_at > now,
                )
                .order_by(Session.last_used_at.desc())
            )
        )

    def revoke(self, session: Session, reason: str) -> None:
        if session.revoked_at is None:
            session.revoked_at = self.ctx.now()
            session.revoked_reason = reason

    def revoke_by_id(self, account_id: uuid.UUID, session_id: uuid.UUID, reason: str) -> None:
        session = self.db.get(Session, session_id)
        if session is None or session.account_id != account_id:
            raise NotFound("no such session on this account")
        self.revoke(session, reason)

    def revoke_all(self, account_id: uuid.UUID, reason: str, keep: uuid.UUID | None = None) -> int:
        """End every session of the account but ``keep``; returns how many ended.

        Sign-ins under way end too (a ticket, an authorization code not yet exchanged):
        whoever held the old password and a second factor would otherwise come back
        with a new session minutes after every device was signed out."""
        now = self.ctx.now()
        for model, unused in (
            (LoginFlow, LoginFlow.consumed_at.is_(None)),
            (AuthorizationCode, AuthorizationCode.used_at.is_(None)),
        ):
            self.db.execute(
                update(model)
                .where(model.account_id == account_id, unused, model.expires_at > now)
                .values(expires_at=now)
                .execution_options(synchronize_session=False)
            )
        stmt = (
            update(Session)
            .where(Session.account_id == account_id, Session.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )
        if keep is not None:
            stmt = stmt.where(Session.id != keep)
        return self.db.execute(stmt).rowcount  # type: ignore[attr-defined,no-any-return]

    def refresh_generation(self, session_id: uuid.UUID) -> int:
        latest = self.db.scalar(
            select(RefreshToken.generation)
            .where(RefreshToken.session_id == session_id)
            .order_by(RefreshToken.generation.desc())
            .limit(1)
        )
        return 0 if latest is None else latest + 1


def account_addresses(db: Session) -> Callable[[], Iterable[str]]:
    """The accounts' addresses, read when asked (the shield's cleanup, ``Shield.purge``)."""
    return lambda: db.scalars(select(Account.email))
