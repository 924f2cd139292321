"""The shield: decides, before any password is hashed, what a sign-in or registration
attempt must show to be checked at all, and learns from each outcome.

Layers, each shared by every API process through the database:
- per address (registered or not, alike): after ``BACKOFF_AFTER`` consecutive
  failures the address backs off (30 s doubling to 1 h); while it does, an attempt
  needs a step-up proof of work, so the owner is slowed, never locked out. After
  ``SECOND_FACTOR_AFTER`` failures the password is answered only together with a
  valid second factor: guessing stops, the owner (who holds the factor) goes on.
  After ``PASSWORD_BLOCKED_AFTER`` wrong passwords in a row the password is blocked:
  not checked at all, for a registered address or not alike, until the owner unblocks
  it with the link mailed at the block or replaces it (R7, NIST SP 800-63B 5.2.2).
- per network (IPv4 /24, IPv6 /64) and endpoint: a token bucket of failures; an
  empty bucket asks for a step-up proof of work (a shared NAT is slowed, not shut).
- globally: when most recent password checks fail, the breaker opens: until the
  ratio falls, every attempt pays a step-up proof of work and, for an account with
  a second factor, the password is checked only together with it (a code, or a
  passkey over a challenge asked for before the password), so a stuffing run learns
  nothing about the pairs it tries while every owner still signs in. An account
  without a factor yet (its first sign-in after confirming its address) goes on:
  the breaker is opened by strangers and must not shut newcomers out.
- signals from the request's headers raise the price one level; they never block.
At rest an attempt pays nothing: no challenge, no latency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from uhealthsec.server.addresses import normalize_email
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import PASSWORD_BLOCKED, ServiceError
from uhealthsec.server.shield.challenges import ChallengeBook, ChallengeRefused
from uhealthsec.server.shield.models import (
    ShieldAccount,
    ShieldCounter,
    ShieldMinute,
    ShieldNetwork,
    ShieldSpentChallenge,
)
from uhealthsec.server.shield.networks import network_of
from uhealthsec.server.shield.signals import risk
from uhealthsec.server.storage.db import upsert

BACKOFF_AFTER = 5
BACKOFF_FIRST_SECONDS = 30.0
BACKOFF_MAX_SECONDS = 3600.0
#: NIST SP 800-63B: no more than 100 consecutive failed guesses on one authenticator.
SECOND_FACTOR_AFTER = 100
#: The same limit on the password itself: past it, no hash is computed at all.
PASSWORD_BLOCKED_AFTER = 100
NETWORK_CAPACITY = 20.0
NETWORK_REFILL_PER_SECOND = 1 / 30
BREAKER_WINDOW_MINUTES = 2
BREAKER_MIN_ATTEMPTS = 10
BREAKER_FAILURE_RATIO = 0.5
#: Proof-of-work price per level: the largest secret counter, drawn in [cost / 2,
#: cost], so a solution takes cost / 2 + 1 to cost + 1 Argon2id of 8 MiB
#: (challenges.py), 15 ms each in desktop Chromium (BENCHMARKS.md). Level 1 (headers
#: raise a signal): 0.1 to 0.2 s there, under 0.8 s on a phone assumed 4 times
#: slower; level 2 (step-up: address, network or breaker) 0.5 to 1 s; level 3
#: (step-up and a signal) 2 to 4 s.
COSTS = (0, 12, 64, 256)

_GENERIC_PROOF = "prove that this request is not automated: solve the challenge and retry"


class ChallengeRequired(ServiceError):
    """Answered 429 with a challenge; the client solves it and sends the request again."""

    status = 429
    title = "Proof of work required"
    keep_changes = True  # the metrics and a spent challenge stay counted


class SecondFactorFirst(ServiceError):
    """The address had too many failures: the password is checked only with a factor."""

    status = 401
    title = "Second factor required"
    keep_changes = True

    def __init__(self, detail: str) -> None:
        super().__init__(detail, extra={"second_factor_required": True})


class PasswordBlocked(ServiceError):
    """Too many wrong passwords in a row on this address: the password is not checked.
    Answered alike for an address without an account (nothing tells them apart)."""

    status = 403
    title = "Password blocked"
    problem_type = PASSWORD_BLOCKED
    keep_changes = True  # the unblocking mail queued for the owner

    def __init__(self) -> None:
        super().__init__(
            "after too many wrong passwords in a row, the password of this address is "
            "blocked: if this is your account, follow the link we mailed you to unblock "
            "it, or reset your password with your recovery words",
            extra={"password_blocked": True},
        )


@dataclass(frozen=True)
class Attempt:
    endpoint: str  # "login", "register", "second-factor", "step-up", ...
    address: str  # normalized e-mail address
    client_ip: str | None
    headers: Mapping[str, str] = field(default_factory=dict)
    proof: str | None = None  # the UHS-Proof-Of-Work header


@dataclass(frozen=True)
class Admission:
    attempt: Attempt
    account_key: bytes
    network_key: bytes | None
    #: The address is past SECOND_FACTOR_AFTER failures: no password without a factor.
    address_exhausted: bool = False
    #: Most recent password checks failed: accounts with a factor must send it first.
    breaker_open: bool = False
    #: PASSWORD_BLOCKED_AFTER wrong passwords in a row: the password is not checked.
    password_blocked: bool = False

    @property
    def second_factor_first(self) -> bool:
        return self.address_exhausted or self.breaker_open


def backoff_seconds(failures: int) -> float:
    if failures < BACKOFF_AFTER:
        return 0.0
    return min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (failures - BACKOFF_AFTER))


class Shield:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx
        self.challenges = ChallengeBook(ctx.server_key.derive("shield-challenges"))

    # -- before the password is checked -------------------------------------------------

    def admit(self, attempt: Attempt) -> Admission:
        """Raise ChallengeRequired unless the attempt carries the proof of work its
        context asks for; cheap reads only, and no work depends on the account."""
        now = self.ctx.now().timestamp()
        account_key = self._hmac("account", attempt.address)
        failures, last_failure_at, password_failures = self.db.execute(
            select(
                ShieldAccount.failures,
                ShieldAccount.last_failure_at,
                ShieldAccount.password_failures,
            ).where(ShieldAccount.key == account_key)
        ).one_or_none() or (0, 0.0, 0)
        # A rule of the authenticator, not a throttle: it holds with the shield off too.
        blocked = password_failures >= PASSWORD_BLOCKED_AFTER
        if not self.ctx.settings.shield_enabled:
            return Admission(attempt, account_key, None, password_blocked=blocked)
        network = network_of(attempt.client_ip)
        network_key = self._hmac("network", f"{attempt.endpoint} {network}") if network else None
        level = 0
        if failures and now < last_failure_at + backoff_seconds(failures):
            level = 2
        if network_key is not None and self._tokens(network_key, now) < 1:
            level = 2
        breaker = self.breaker_open(now)
        if breaker:
            level = 2
        signals = risk(attempt.headers)
        if signals:
            level += 1
            self.count("signals")
        if level:
            self._require(attempt, account_key, COSTS[min(level, len(COSTS) - 1)], now)
        admission = Admission(
            attempt,
            account_key,
            network_key,
            address_exhausted=failures >= SECOND_FACTOR_AFTER,
            breaker_open=breaker,
            password_blocked=blocked,
        )
        if admission.second_factor_first:
            self.count("second_factor_first")
        return admission

    def _require(self, attempt: Attempt, account_key: bytes, cost: int, now: float) -> None:
        subject = account_key.hex()[:32]
        if attempt.proof is not None:
            try:
                solved = self.challenges.check(
                    attempt.proof, attempt.endpoint, subject, self.ctx.now()
                )
                if solved.cost < cost:
                    raise ChallengeRefused("the proof of work is for a cheaper challenge")
                self._spend(solved.signature, solved.expires_at)
                self.count("challenges_solved")
                return
            except ChallengeRefused:
                self.count("challenges_refused")
        self.count("challenges_issued")
        challenge = self.challenges.issue(attempt.endpoint, subject, cost, self.ctx.now())
        raise ChallengeRequired(_GENERIC_PROOF, extra={"challenge": challenge})

    def _spend(self, signature: str, expires_at: float) -> None:
        try:
            with self.db.begin_nested():
                self.db.add(ShieldSpentChallenge(signature=signature, expires_at=expires_at))
        except IntegrityError as exc:
            raise ChallengeRefused("this proof of work was already used") from exc

    # -- after the password is checked --------------------------------------------------

    def settle(self, admission: Admission, succeeded: bool) -> None:
        """Learn from the outcome of a checked attempt."""
        if not self.ctx.settings.shield_enabled:
            return
        now = self.ctx.now().timestamp()
        upsert(
            self.db,
            ShieldMinute,
            {"minute": int(now // 60)},
            add={"attempts": 1, "failures": 0 if succeeded else 1},
        )
        self.ctx.shield.forget_breaker()
        self.count("attempts")
        if succeeded:
            return
        self.count("failures")
        self._fail(admission.account_key, now)
        if admission.network_key is not None:
            self._take_token(admission.network_key, now)

    def settle_factor(self, admission: Admission, succeeded: bool) -> None:
        """Learn from a second factor checked on its own (a sign-in's second step, a
        step-up): a failure backs the address off and costs the network a token, as a
        wrong password does; it feeds no breaker, which weighs password checks only
        (a thief guessing one account's codes must not slow every sign-in)."""
        if not self.ctx.settings.shield_enabled or succeeded:
            return  # a success ends the run with the whole sign-in (``clear``)
        self.count("factor_failures")
        self._fail(admission.account_key, self.ctx.now().timestamp())
        if admission.network_key is not None:
            self._take_token(admission.network_key, self.ctx.now().timestamp())

    def charge_password(self, admission: Admission) -> int:
        """Count the password about to be checked as wrong, before its hash (refunded by
        ``password_right``): the statement holds the row until commit, so parallel
        guesses are counted one after the other. Returns the run's length with it: past
        PASSWORD_BLOCKED_AFTER the password must not be checked (R7)."""
        run: int = upsert(
            self.db,
            ShieldAccount,
            {"key": admission.account_key},
            add={"password_failures": 1},
            returning="password_failures",
        )
        return run

    def password_right(self, admission: Admission) -> None:
        """A right password ends the address's run of wrong ones."""
        self.db.execute(
            update(ShieldAccount)
            .where(ShieldAccount.key == admission.account_key)
            .values(password_failures=0)
        )

    def unblock_password(self, address: str) -> None:
        """The owner proved their mailbox or replaced the password: the runs end."""
        self.db.execute(
            update(ShieldAccount)
            .where(ShieldAccount.key == self._hmac("account", address))
            .values(password_failures=0, failures=0)
        )

    def fail(self, address: str) -> None:
        """A failure after the password stage (a wrong second factor) on ``address``."""
        self._fail(self._hmac("account", address), self.ctx.now().timestamp())

    def clear(self, address: str) -> None:
        """A whole sign-in succeeded: the address's run of failures ends."""
        self.db.execute(
            update(ShieldAccount)
            .where(ShieldAccount.key == self._hmac("account", address))
            .values(failures=0)
        )

    def _fail(self, account_key: bytes, now: float) -> None:
        upsert(
            self.db,
            ShieldAccount,
            {"key": account_key},
            add={"failures": 1},
            set_={"last_failure_at": now},
        )

    def consume(self, admission: Admission) -> None:
        """An attempt that costs the network a token whatever its outcome (registration)."""
        if admission.network_key is not None:
            self._take_token(admission.network_key, self.ctx.now().timestamp())

    # -- state --------------------------------------------------------------------------

    def breaker_open(self, now: float) -> bool:
        remembered = self.ctx.shield.breaker(now)
        if remembered is not None:
            return remembered
        since = int(now // 60) - BREAKER_WINDOW_MINUTES + 1
        attempts, failures = self.db.execute(
            select(
                func.coalesce(func.sum(ShieldMinute.attempts), 0),
                func.coalesce(func.sum(ShieldMinute.failures), 0),
            ).where(ShieldMinute.minute >= since)
        ).one()
        is_open = bool(
            attempts >= BREAKER_MIN_ATTEMPTS and failures >= BREAKER_FAILURE_RATIO * attempts
        )
        self.ctx.shield.remember_breaker(now, is_open)
        return is_open

    def _tokens(self, network_key: bytes, now: float) -> float:
        bucket = self.db.execute(
            select(ShieldNetwork.tokens, ShieldNetwork.updated_at).where(
                ShieldNetwork.key == network_key
            )
        ).one_or_none()
        if bucket is None:
            return NETWORK_CAPACITY
        tokens, updated_at = bucket
        return min(NETWORK_CAPACITY, tokens + (now - updated_at) * NETWORK_REFILL_PER_SECOND)

    def _take_token(self, network_key: bytes, now: float) -> None:
        refilled = ShieldNetwork.tokens + (now - ShieldNetwork.updated_at) * (
            NETWORK_REFILL_PER_SECOND
        )
        upsert(
            self.db,
            ShieldNetwork,
            {"key": network_key},
            insert={"tokens": NETWORK_CAPACITY - 1, "updated_at": now},
            set_={
                "tokens": case((refilled > NETWORK_CAPACITY, NETWORK_CAPACITY), else_=refilled) - 1,
                "updated_at": now,
            },
        )

    def count(self, name: str, by: int = 1) -> None:
        """Counted in memory, written with the request's changes at most every second."""
        self.ctx.shield.add(name, by)
        self._write_counts()

    def _write_counts(self, force: bool = False) -> None:
        for name, value in self.ctx.shield.counts_due(force).items():
            upsert(self.db, ShieldCounter, {"name": name}, add={"value": value})

    def metrics(self) -> dict[str, int]:
        now = self.ctx.now().timestamp()
        self._write_counts(force=True)
        totals = dict(self.db.execute(select(ShieldCounter.name, ShieldCounter.value)).all())
        return {
            **{name: 0 for name in METRICS},
            **totals,
            "breaker_open": int(self.breaker_open(now)),
        }

    def purge(self, account_addresses: Callable[[], Iterable[str]]) -> int:
        """Forget what no decision needs any more (``uhs-server cleanup``);
        ``account_addresses`` gives the accounts' addresses, whose runs of failures
        only a success ends (the shield knows addresses, not accounts)."""
        now = self.ctx.now().timestamp()
        runs_before = now - 30 * 86400
        removed = 0
        for statement in (
            delete(ShieldSpentChallenge).where(ShieldSpentChallenge.expires_at < now),
            delete(ShieldMinute).where(ShieldMinute.minute < int(now // 60) - 60),
            # A bucket full again and an address whose backoff has long ended.
            delete(ShieldNetwork).where(
                ShieldNetwork.updated_at < now - NETWORK_CAPACITY / NETWORK_REFILL_PER_SECOND
            ),
            # An account's run of failures is forgotten only by a success (R7: at most
            # 100 in a row, not 100 a month), a blocked password only by its owner's
            # unblocking; runs on addresses of no account, below.
            delete(ShieldAccount).where(
                ShieldAccount.last_failure_at < runs_before,
                ShieldAccount.password_failures == 0,
            ),
        ):
            removed += self.db.execute(statement).rowcount or 0
        return removed + self._forget_runs_of_no_account(runs_before, account_addresses)

    def _forget_runs_of_no_account(
        self, before: float, account_addresses: Callable[[], Iterable[str]]
    ) -> int:
        """Forget the old runs of failures on addresses that are no account's (they
        guard no password), so that guessing addresses does not fill the table."""
        stale = self.db.scalars(
            select(ShieldAccount.key).where(
                ShieldAccount.last_failure_at < before, ShieldAccount.password_failures > 0
            )
        ).all()
        if not stale:
            return 0
        accounts = {self._hmac("account", normalize_email(a)) for a in account_addresses()}
        forgotten = [key for key in stale if key not in accounts]
        for start in range(0, len(forgotten), 500):
            chunk = forgotten[start : start + 500]
            self.db.execute(delete(ShieldAccount).where(ShieldAccount.key.in_(chunk)))
        return len(forgotten)

    def _hmac(self, kind: str, value: str) -> bytes:
        return self.ctx.server_key.mac("shield", f"{kind}\0{value}".encode())


#: Counters exposed as metrics, with what they count.
METRICS = {
    "attempts": "password checks made",
    "failures": "password checks failed",
    "challenges_issued": "proof-of-work challenges sent (429)",
    "challenges_solved": "valid proofs of work received",
    "challenges_refused": "proofs of work refused (forged, expired, replayed, too cheap)",
    "factor_failures": "second factors refused at a sign-in's second step or a step-up",
    "signals": "attempts whose headers raised a consistency signal",
    "passwords_blocked": "addresses whose password was blocked after 100 wrong ones",
    "second_factor_first": "attempts whose factor was asked first (breaker, 100 failures)",
    "breaker_open": "1 while the failure-ratio breaker is open",
}
