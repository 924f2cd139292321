"""One failure budget per account for every second-factor check, and what a stolen
session can no longer do with a password change or new recovery codes (issue 15, 3)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from tests.server_fixtures import FAST_ARGON2, PASSWORD
from uhealthsec.client.api import ApiError
from uhealthsec.client.transport import post_with_proof
from uhealthsec.crypto.keystore import change_password, create_keystore, unlock_with_password
from uhealthsec.crypto.keystore_change import KeystoreChange
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.server.audit.models import JournalRecord
from uhealthsec.server.audit.outbox import sequence_stale
from uhealthsec.server.auth.factors import FACTOR_BUDGET, LOCK_ACTION


def post(sdk, path, tokens=None, **body):
    headers = sdk.bearer(tokens) if tokens else {}
    return sdk.http.post(path, json=body, headers=headers)


def test_300_wrong_step_up_codes_lock_the_factors_and_the_right_one_is_refused(
    users, sdk, clock, outbox, ctx
):
    user = users.signed_in("guessed@example.org")
    right = users.next_totp(user.totp_secret)
    valid = pyotp.TOTP(user.totp_secret)
    guesses = [f"{n:06d}" for n in range(310)]
    guesses = [g for g in guesses if not valid.verify(g, for_time=clock.now, valid_window=1)][:300]
    answers = [post(sdk, "/auth/step-up", user.tokens, totp_code=g) for g in guesses]
    statuses = [a.status_code for a in answers]
    assert statuses[:FACTOR_BUDGET] == [401] * FACTOR_BUDGET
    assert set(statuses[FACTOR_BUDGET:]) == {429}
    locked = post(sdk, "/auth/step-up", user.tokens, totp_code=right)
    assert locked.status_code == 429
    assert locked.headers["content-type"].startswith("application/problem+json")
    assert int(locked.headers["retry-after"]) <= 60
    assert "passkey" in locked.json()["detail"]

    # The owner is told once, by mail.
    warnings = [m for m in outbox.messages(user.email) if "wrong codes" in m["Subject"]]
    assert len(warnings) == 1

    # Once the lock has passed, the owner's code works and the budget is whole again.
    clock.advance(seconds=61)
    stepped = post(sdk, "/auth/step-up", user.tokens, totp_code=users.next_totp(user.totp_secret))
    assert stepped.status_code == 200, stepped.text
    # The lock's entry, staged with it, is sequenced by the worker's next round.
    sequence_stale(ctx.journal, ctx.now() + timedelta(minutes=1))
    with ctx.sessions() as db:
        locks = db.scalars(select(JournalRecord).where(JournalRecord.action == LOCK_ACTION)).all()
    assert [r.actor_id for r in locks] == [uuid.UUID(user.account_id)]


def test_sign_in_step_up_and_recovery_codes_share_one_budget_and_locks_double(users, sdk, clock):
    """The shield also backs the address off after these failures (R27): the step-ups
    past the first lock pay the proof of work it asks, as the SDK does."""
    user = users.signed_in("shared@example.org")

    def post(sdk, path, tokens, **body):
        return post_with_proof(sdk.http, path, body, sdk.bearer(tokens))

    for _ in range(2):  # two wrong codes at sign-in...
        login = sdk.start_login(user.email, user.password)
        with pytest.raises(ApiError):
            sdk.second_factor(login, totp_code="000000")
    for _ in range(2):  # ...two wrong recovery codes at step-up...
        assert (
            post(sdk, "/auth/step-up", user.tokens, recovery_code="aaaaa-bbbbb").status_code == 401
        )
    # ...and a fifth wrong answer at step-up spends the budget.
    assert post(sdk, "/auth/step-up", user.tokens, totp_code="000000").status_code == 401
    login = sdk.start_login(user.email, user.password)
    with pytest.raises(ApiError) as refused:
        sdk.second_factor(login, recovery_code=user.recovery_codes[0])
    assert refused.value.status == 429

    # The second lock in a row lasts twice as long (two minutes).
    clock.advance(seconds=61)
    for _ in range(FACTOR_BUDGET):
        assert post(sdk, "/auth/step-up", user.tokens, totp_code="000000").status_code == 401
    clock.advance(seconds=100)
    again = post(sdk, "/auth/step-up", user.tokens, recovery_code=user.recovery_codes[0])
    assert again.status_code == 429
    clock.advance(seconds=30)
    assert (
        post(sdk, "/auth/step-up", user.tokens, recovery_code=user.recovery_codes[0]).status_code
        == 200
    )


def test_wrong_codes_at_factor_enrolment_draw_on_the_budget(users, sdk):
    users.register("enrol@example.org")
    login = sdk.start_login("enrol@example.org", PASSWORD)
    sdk.enrol_totp(login)
    refused = []
    for _ in range(FACTOR_BUDGET + 1):
        login = sdk.start_login("enrol@example.org", PASSWORD)
        sdk.enrol_totp(login)
        with pytest.raises(ApiError) as error:
            sdk.confirm_totp(login, "000000")
        refused.append(error.value.status)
    assert refused == [401] * FACTOR_BUDGET + [429]


def _forged_keystore(victim_keystore):
    """The victim's public keys over private slots the intruder sealed for themselves."""
    own = create_keystore("intruder chosen password", params=FAST_ARGON2.with_new_salt())
    forged = dataclasses.replace(own.keystore, public_keys=victim_keystore.public_keys)
    return own, forged


def test_a_stolen_session_cannot_take_the_account_by_a_password_change(users, sdk):
    user = users.signed_in("victim@example.org")
    stolen = user.tokens  # fresh from sign-in: within the step-up window
    victim_keystore = sdk.keystore(stolen)
    own, forged = _forged_keystore(victim_keystore)
    body = {"auth_secret": b64u_encode(own.auth_secret), "keystore": b64u_encode(forged.encode())}
    headers = sdk.bearer(stolen)

    unsigned = sdk.http.put("/accounts/me/password", json=body, headers=headers)
    assert unsigned.status_code == 422
    # Signed with a key the intruder holds: not the one the directory publishes.
    change = KeystoreChange(
        uuid.UUID(user.account_id), victim_keystore.encode(), forged.encode(), own.auth_secret
    )
    signed_by_intruder = {**body, "signature": b64u_encode(change.sign(own.keys.signing))}
    refused = sdk.http.put("/accounts/me/password", json=signed_by_intruder, headers=headers)
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "signed" in refused.json()["detail"]
    # Nor can it renew the recovery codes (16.4), and the keystore is unchanged.
    assert post(sdk, "/auth/recovery-codes", stolen).status_code == 422
    assert sdk.keystore(users.sign_in_again(user)).encode() == victim_keystore.encode()
    assert unlock_with_password(sdk.keystore(stolen), PASSWORD)


def test_an_owner_signed_change_is_bound_to_its_secret_and_cannot_be_replayed(users, sdk):
    user = users.signed_in("replay@example.org")
    current = sdk.keystore(user.tokens)
    keys = unlock_with_password(current, PASSWORD)
    new, auth_secret = change_password(
        current, keys, "copper orchard lagoon whistle", params=FAST_ARGON2.with_new_salt()
    )
    change = KeystoreChange(uuid.UUID(user.account_id), current.encode(), new.encode(), auth_secret)
    body = {
        "auth_secret": b64u_encode(auth_secret),
        "keystore": b64u_encode(new.encode()),
        "signature": b64u_encode(change.sign(keys.signing)),
    }
    other_secret = {**body, "auth_secret": b64u_encode(bytes(32))}
    headers = sdk.bearer(user.tokens)
    assert (
        sdk.http.put("/accounts/me/password", json=other_secret, headers=headers).status_code == 400
    )
    assert sdk.http.put("/accounts/me/password", json=body, headers=headers).status_code == 204
    # The same signed change again: it names the keystore it replaced, which is gone.
    assert sdk.http.put("/accounts/me/password", json=body, headers=headers).status_code == 400


def test_new_recovery_codes_end_the_other_sessions_and_the_owner_is_told(users, sdk, outbox):
    user = users.signed_in("codes@example.org")
    other_device = users.sign_in_again(user)
    assert len(sdk.renew_recovery_codes(user.tokens, PASSWORD)) == 10
    assert sdk.http.get("/accounts/me", headers=sdk.bearer(other_device)).status_code == 401
    assert sdk.http.get("/accounts/me", headers=sdk.bearer(user.tokens)).status_code == 200
    told = outbox.messages(user.email)[-1]
    assert told["Subject"] == "U-HealthSec: your recovery codes were replaced"
    assert "signed out" in told.get_payload(decode=True).decode()


def test_codes_sent_with_a_wrong_password_lock_nobody_out(users, sdk):
    user = users.signed_in("address-only@example.org")
    for _ in range(FACTOR_BUDGET + 1):  # someone who knows the address, not the password
        with pytest.raises(ApiError) as refused:
            sdk.start_login(user.email, "not the password", {"recovery_code": "aaaaa-bbbbb"})
        assert refused.value.status == 401
    login = sdk.start_login(user.email, PASSWORD, {"totp_code": users.next_totp(user.totp_secret)})
    assert login.complete
