"""R7: never more than 100 consecutive failures per authenticator (NIST SP 800-63B
5.2.2). At 100 the password, or the codes, are blocked: not checked any more, even
when right, until the owner follows the link mailed at the block (once, within 24
hours) or replaces the password; an address without an account answers alike."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from email.header import decode_header, make_header

import pytest
from sqlalchemy import func, select

from tests.server_fixtures import PASSWORD
from uhealthsec.client.api import ApiError
from uhealthsec.server.audit.models import JournalRecord
from uhealthsec.server.audit.outbox import sequence_stale
from uhealthsec.server.auth.factors import (
    FACTOR_BUDGET,
    FACTORS_BLOCKED_AFTER,
    FactorsBlocked,
    FactorService,
    SecondFactor,
    factor_lock_seconds,
)
from uhealthsec.server.auth.models import AuthenticatorUnblock, TotpCredential
from uhealthsec.server.auth.service import (
    LoginService,
    account_addresses,
    purge_finished_sign_ins,
)
from uhealthsec.server.auth.unblocking import BLOCK_ACTION, LINK_HOURS, Unblocking
from uhealthsec.server.errors import PASSWORD_BLOCKED, CredentialsRefused, InvalidInput
from uhealthsec.server.shield.service import (
    PASSWORD_BLOCKED_AFTER,
    Attempt,
    PasswordBlocked,
    Shield,
)

WRONG = "not the password at all"
SUBJECT = "U-HealthSec : accès bloqué / access blocked"


@pytest.fixture
def hashes(ctx, monkeypatch) -> list[bytes]:
    """Every password hash the server verifies (the work a block must stop)."""
    checked: list[bytes] = []
    original = ctx.hasher.verify

    def counted(stored, secret):
        checked.append(secret)
        return original(stored, secret)

    monkeypatch.setattr(ctx.hasher, "verify", counted)
    return checked


def _wrong_passwords(ctx, address: str, count: int) -> None:
    """``count`` wrong passwords counted as the sign-in counts them (each real one is
    an Argon2id on both sides and, past 5, the backoff's proof of work)."""
    with ctx.sessions.begin() as db:
        shield = Shield(db, ctx)
        admission = shield.admit(Attempt("login", address, None, {"user-agent": "uhs"}))
        for _ in range(count):
            shield.charge_password(admission)


def _links(outbox, address: str) -> list[str]:
    mails = [
        m
        for m in outbox.messages(address)
        if str(make_header(decode_header(m["Subject"]))) == SUBJECT
    ]
    bodies = [m.get_payload(decode=True).decode() for m in mails]
    return [re.search(r"#/unblock\?token=(\S+)", body).group(1) for body in bodies]


def test_r7_the_100th_wrong_password_blocks_it_even_right_and_the_mailed_link_unblocks_once(
    users, sdk, ctx, outbox, hashes
):
    """Through the HTTP API end to end: the 99th and 100th wrong passwords are still
    checked, the 101st attempt is not, even with the right password and code; the
    owner is mailed one link (French, then English), which works once."""
    user = users.signed_in("blocked@example.org")
    _wrong_passwords(ctx, user.email, PASSWORD_BLOCKED_AFTER - 2)
    for _ in range(2):  # the 99th and the 100th: checked, refused
        before = len(hashes)
        with pytest.raises(ApiError) as refused:
            sdk.start_login(user.email, WRONG)
        assert refused.value.status == 401
        assert len(hashes) == before + 1
    assert len(_links(outbox, user.email)) == 1  # mailed at the block
    before = len(hashes)
    answers = []
    for factor in (None, {"totp_code": users.next_totp(user.totp_secret)}):
        with pytest.raises(ApiError) as blocked:
            sdk.start_login(user.email, PASSWORD, second_factor=factor)
        answers.append(blocked.value)
    assert len(hashes) == before  # the right password was not checked
    assert {(a.status, a.body["type"], a.body["password_blocked"]) for a in answers} == {
        (403, PASSWORD_BLOCKED, True)
    }
    assert len(_links(outbox, user.email)) == 1  # not one mail per attempt

    # An address without an account, past the same count, answers exactly alike.
    _wrong_passwords(ctx, "nobody@example.org", PASSWORD_BLOCKED_AFTER)
    with pytest.raises(ApiError) as unknown:
        sdk.start_login("nobody@example.org", PASSWORD)
    assert unknown.value.body == answers[0].body
    assert len(hashes) == before
    assert not outbox.messages("nobody@example.org")

    (token,) = _links(outbox, user.email)
    body = outbox.messages(user.email)[-1].get_payload(decode=True).decode()
    assert body.index("Bonjour") < body.index("Hello")
    unblocked = sdk.http.post("/auth/unblock", json={"token": token})
    assert unblocked.status_code == 200, unblocked.text
    assert unblocked.json() == {"unblocked": "password"}
    assert sdk.start_login(user.email, PASSWORD).methods  # checked again
    used = sdk.http.post("/auth/unblock", json={"token": token})
    assert used.status_code == 400
    assert used.headers["content-type"].startswith("application/problem+json")
    assert "already used" in used.json()["detail"]

    # The block and the unblocking are journaled, with the account as actor.
    sequence_stale(ctx.journal, ctx.now() + timedelta(minutes=1))
    with ctx.sessions() as db:
        actions = {
            record.action: record.actor_id
            for record in db.scalars(
                select(JournalRecord).where(
                    JournalRecord.action.in_((BLOCK_ACTION, "auth.unblock_authenticator"))
                )
            )
        }
    account = uuid.UUID(user.account_id)
    assert actions == {BLOCK_ACTION: account, "auth.unblock_authenticator": account}


def test_r7_a_right_password_ends_the_run_and_99_wrong_ones_do_not_block(users, sdk, ctx):
    user = users.signed_in("careful@example.org")
    _wrong_passwords(ctx, user.email, PASSWORD_BLOCKED_AFTER - 1)
    users.sign_in_again(user)  # the right password, checked at the 100th attempt
    _wrong_passwords(ctx, user.email, PASSWORD_BLOCKED_AFTER - 1)
    assert sdk.start_login(user.email, PASSWORD).methods


def test_r7_an_expired_link_is_refused_and_a_new_one_comes_once_none_is_valid(
    users, ctx, outbox, clock
):
    user = users.signed_in("late@example.org")
    _wrong_passwords(ctx, user.email, PASSWORD_BLOCKED_AFTER)

    def attempt() -> type[Exception]:
        return _one_wrong_password(ctx, user.email)

    assert attempt() is PasswordBlocked  # blocked by the service's own count
    (first,) = _links(outbox, user.email)
    clock.advance(hours=23)
    assert attempt() is PasswordBlocked
    assert len(_links(outbox, user.email)) == 1
    clock.advance(hours=1, seconds=1)
    with ctx.sessions.begin() as db, pytest.raises(InvalidInput, match="expired"):
        Unblocking(db, ctx).unblock(first)
    assert attempt() is PasswordBlocked  # a day on: a new link
    first_again, second = _links(outbox, user.email)
    assert first_again == first and second != first
    with ctx.sessions.begin() as db:
        assert Unblocking(db, ctx).unblock(second) == "password"
    assert attempt() is CredentialsRefused  # checked again (and wrong)
    # Links are forgotten by the cleanup an hour after they expire.
    clock.advance(hours=LINK_HOURS + 1, seconds=1)
    with ctx.sessions.begin() as db:
        purge_finished_sign_ins(db, ctx.now())
        assert db.scalar(select(func.count()).select_from(AuthenticatorUnblock)) == 0


def test_r7_replacing_the_password_with_the_recovery_words_unblocks_it(users, sdk, ctx, outbox):
    from tests.server.auth.test_password_recovery import NEW_PASSWORD, _proven
    from tests.server_fixtures import FAST_ARGON2

    user = users.signed_in("recovered@example.org")
    _wrong_passwords(ctx, user.email, PASSWORD_BLOCKED_AFTER)
    with pytest.raises(ApiError) as blocked:
        sdk.start_login(user.email, PASSWORD)
    assert blocked.value.status == 403
    recovery = _proven(users, sdk, outbox, user)
    sdk.finish_password_recovery(
        recovery, user.recovery_key, NEW_PASSWORD, params=FAST_ARGON2.with_new_salt()
    )
    assert sdk.start_login(user.email, NEW_PASSWORD).methods


def test_r7_the_100th_wrong_code_blocks_the_codes_until_the_mailed_link(users, ctx, outbox, clock):
    """The codes are counted by the factor budget: 5 wrong answers lock them, each lock
    longer; at the 100th wrong answer in a row (the 20th lock) they are blocked, and
    no time unblocks them: a right code is not even compared, until the link."""
    user = users.signed_in("codes@example.org")
    account_id = uuid.UUID(user.account_id)
    wrong = SecondFactor(recovery_code="zzzzz-zzzzz")
    for n in range(1, FACTORS_BLOCKED_AFTER + 1):
        with ctx.sessions.begin() as db:
            assert FactorService(db, ctx).verify(account_id, wrong) is None  # checked
        if n % FACTOR_BUDGET == 0 and n < FACTORS_BLOCKED_AFTER:
            clock.advance(seconds=factor_lock_seconds(n // FACTOR_BUDGET) + 1)
    assert len(_links(outbox, user.email)) == 1
    clock.advance(days=30)  # no lock's end: a block holds
    right = SecondFactor(totp_code=users.next_totp(user.totp_secret))
    with ctx.sessions.begin() as db:
        step = db.get(TotpCredential, account_id).last_used_step
        with pytest.raises(FactorsBlocked):
            FactorService(db, ctx).refuse_if_locked(account_id, right)
    with ctx.sessions.begin() as db, pytest.raises(FactorsBlocked):
        FactorService(db, ctx).verify(account_id, right)
    with ctx.sessions() as db:
        assert db.get(TotpCredential, account_id).last_used_step == step  # not compared
    (_, second) = _links(outbox, user.email)  # the first a month old: a new one
    with ctx.sessions.begin() as db:
        assert Unblocking(db, ctx).unblock(second) == "factors"
    with ctx.sessions.begin() as db:
        assert FactorService(db, ctx).verify(account_id, right) == "otp"


def _one_wrong_password(ctx, address: str) -> type[Exception]:
    """One wrong password through the sign-in service, as the route makes it: the
    refusal's class."""
    with (
        ctx.sessions.begin() as db,
        pytest.raises((PasswordBlocked, CredentialsRefused)) as refused,
    ):
        attempt = Attempt("login", address, None, {"user-agent": "uhs"})
        LoginService(db, ctx).start(address, b"\0" * 32, attempt)
    return refused.type


def test_r7_a_password_blocked_again_after_its_link_was_used_gets_a_new_link(
    users, ctx, outbox, clock
):
    """R7: the owner unblocks with the link; the guesser blocks the password again an
    hour later: the owner is told and given a way back, a new link (a used link does
    not hold the next one back)."""
    user = users.signed_in("reblocked@example.org")
    _wrong_passwords(ctx, user.email, PASSWORD_BLOCKED_AFTER)
    assert _one_wrong_password(ctx, user.email) is PasswordBlocked
    (first,) = _links(outbox, user.email)
    with ctx.sessions.begin() as db:
        assert Unblocking(db, ctx).unblock(first) == "password"
    clock.advance(hours=1)
    _wrong_passwords(ctx, user.email, PASSWORD_BLOCKED_AFTER - 1)
    assert _one_wrong_password(ctx, user.email) is CredentialsRefused  # the 100th: blocks it
    assert _one_wrong_password(ctx, user.email) is PasswordBlocked
    assert len(_links(outbox, user.email)) == 2, "blocked again, and no link to unblock it"


def test_r7_a_run_of_99_wrong_passwords_is_not_forgotten_by_the_cleanup(users, ctx, clock):
    """R7, "100 consecutive failures": nothing but a right password (or the owner's
    link) ends a run; the cleanup does not forget one 30 days on, or 99 guesses a month
    would never block."""
    user = users.signed_in("patient-guesser@example.org")
    for _ in range(2):  # two months, 99 + 99 wrong passwords, no success between
        with ctx.sessions.begin() as db:
            shield = Shield(db, ctx)
            admission = shield.admit(Attempt("login", user.email, None, {"user-agent": "uhs"}))
            for _ in range(PASSWORD_BLOCKED_AFTER - 1):
                shield.charge_password(admission)
            shield.fail(user.email)  # what settle() records of each wrong password
        clock.advance(days=31)
        with ctx.sessions.begin() as db:
            Shield(db, ctx).purge(account_addresses(db))
    assert _one_wrong_password(ctx, user.email) is PasswordBlocked, "198 wrong in a row"


def test_r7_a_run_is_not_forgotten_by_the_cleanup_with_the_shield_off(users, ctx, clock):
    """R7: the block holds with the shield off too: no cleanup forgets a run, although
    no failure time is written then."""
    user = users.signed_in("shieldoff@example.org")
    ctx.settings.shield_enabled = False
    try:
        for _ in range(PASSWORD_BLOCKED_AFTER - 1):
            assert _one_wrong_password(ctx, user.email) is CredentialsRefused
        with ctx.sessions.begin() as db:
            Shield(db, ctx).purge(account_addresses(db))
        assert _one_wrong_password(ctx, user.email) is CredentialsRefused  # the 100th
        assert _one_wrong_password(ctx, user.email) is PasswordBlocked, "the cleanup reset the run"
    finally:
        ctx.settings.shield_enabled = True
