"""A forgotten password replaced with the mailed code, a second factor and the 24
recovery words (docs/PROTOCOL.md, 16.5; issue 21, item 7), against a caller who holds
the address, the mailbox or the phone but not all three."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from tests.server.auth.softauthn import SoftAuthenticator
from tests.server_fixtures import FAST_ARGON2, ORIGIN, User
from uhealthsec.client.api import ApiError, PasswordRecovery
from uhealthsec.crypto.errors import WrongPassword
from uhealthsec.crypto.keystore import (
    Keystore,
    change_password,
    create_keystore,
    unlock_with_password,
    unlock_with_recovery_key,
)
from uhealthsec.crypto.keystore_change import KeystoreRecovery
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.server.audit.models import JournalRecord
from uhealthsec.server.audit.outbox import sequence_stale
from uhealthsec.server.auth.recovery import CODES_PER_HOUR, MAX_FAILURES, PasswordRecoveries

NEW_PASSWORD = "lantern quarry mosaic heron violet"
START, PROOF, COMPLETION = (
    "/accounts/password-recoveries",
    "/accounts/password-recoveries/proof",
    "/accounts/password-recoveries/completion",
)


def _code(outbox, user: User) -> str:
    return outbox.last_code(user.email, "recovery code")


def _proof(sdk, email: str, code: str, **factor: str):
    return sdk.http.post(PROOF, json={"email": email, "code": code, "second_factor": factor})


def _proven(users, sdk, outbox, user: User) -> PasswordRecovery:
    sdk.start_password_recovery(user.email)
    return sdk.prove_password_recovery(
        user.email, _code(outbox, user), {"totp_code": users.next_totp(user.totp_secret)}
    )


def _completion(recovery: PasswordRecovery, keys, *, keystore=None, signer=None, nonce=None):
    """The body of a completion, re-sealed and signed as a device would, or with one
    part replaced as an attacker would."""
    resealed, auth_secret = change_password(
        recovery.keystore, keys, NEW_PASSWORD, params=FAST_ARGON2.with_new_salt()
    )
    new = keystore if keystore is not None else resealed.encode()
    nonce = nonce if nonce is not None else recovery.nonce
    statement = KeystoreRecovery(recovery.account_id, nonce, new, auth_secret)
    return {
        "account_id": str(recovery.account_id),
        "nonce": b64u_encode(recovery.nonce),
        "auth_secret": b64u_encode(auth_secret),
        "keystore": b64u_encode(new),
        "signature": b64u_encode(statement.sign(signer or keys.signing)),
    }


def test_the_words_the_code_and_the_app_replace_the_password_and_end_every_session(
    users, sdk, outbox, ctx
):
    user = users.signed_in("forgetful@example.org")
    other_device = users.sign_in_again(user)
    recovery = _proven(users, sdk, outbox, user)
    # The server handed over the recovery slot only: the password slot is not there to
    # be guessed offline.
    assert recovery.keystore.password_sealed == bytes(len(recovery.keystore.password_sealed))
    with pytest.raises(WrongPassword):
        unlock_with_password(recovery.keystore, user.password)
    keys = unlock_with_recovery_key(recovery.keystore, user.recovery_key)

    sdk.finish_password_recovery(
        recovery, user.recovery_key, NEW_PASSWORD, params=FAST_ARGON2.with_new_salt()
    )

    # Every session and refresh token of the account ended; the owner was told.
    for tokens in (user.tokens, other_device):
        assert sdk.http.get("/accounts/me", headers=sdk.bearer(tokens)).status_code == 401
        with pytest.raises(ApiError):
            sdk.refresh(tokens)
    told = outbox.messages(user.email)[-1]
    assert told["Subject"] == "U-HealthSec: your password was replaced"
    # The old password no longer signs in; the new one does, and opens the same keys.
    with pytest.raises(ApiError) as old:
        sdk.start_login(user.email, user.password)
    assert old.value.status == 401
    user.password = NEW_PASSWORD
    tokens = users.sign_in_again(user)
    opened = unlock_with_password(sdk.keystore(tokens), NEW_PASSWORD)
    assert opened.encode() == keys.encode()
    # The recovery slot is as it was: the same 24 words open the new keystore.
    assert unlock_with_recovery_key(sdk.keystore(tokens), user.recovery_key).encode() == (
        keys.encode()
    )
    # Journaled, with the account as actor and object.
    sequence_stale(ctx.journal, ctx.now() + timedelta(minutes=1))
    with ctx.sessions() as db:
        rows = db.scalars(
            select(JournalRecord).where(
                JournalRecord.action == "accounts.complete_password_recovery"
            )
        ).all()
    assert [r.actor_id for r in rows] == [uuid.UUID(user.account_id)]


def test_the_answer_is_the_same_for_an_unknown_address_and_only_the_owner_gets_a_code(
    users, sdk, outbox
):
    user = users.signed_in("known@example.org")
    known = sdk.http.post(START, json={"email": user.email})
    unknown = sdk.http.post(START, json={"email": "nobody@example.org"})
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.status_code == 202
    assert "Recovery code: " in outbox.messages(user.email)[-1].get_payload(decode=True).decode()
    told = outbox.messages("nobody@example.org")[-1].get_payload(decode=True).decode()
    assert "no active account uses it" in told and "Recovery code" not in told
    # A code guessed for an unknown address is refused as a wrong code for a known one.
    wrong_known = _proof(sdk, user.email, "aaaa-bbbb-cccc-dddd", totp_code="123456")
    wrong_unknown = _proof(sdk, "nobody@example.org", "aaaa-bbbb-cccc-dddd", totp_code="123456")
    assert wrong_known.status_code == wrong_unknown.status_code == 400
    assert wrong_known.json() == wrong_unknown.json()


def test_a_code_is_single_use_short_lived_replaced_by_the_next_and_dies_after_a_few_guesses(
    users, sdk, outbox, clock
):
    user = users.signed_in("guessed@example.org")
    sdk.start_password_recovery(user.email)
    first = _code(outbox, user)
    # Expired after 15 minutes.
    clock.advance(minutes=16)
    expired = _proof(sdk, user.email, first, totp_code=users.next_totp(user.totp_secret))
    assert expired.status_code == 400
    # A new code replaces the one before it.
    sdk.start_password_recovery(user.email)
    second = _code(outbox, user)
    sdk.start_password_recovery(user.email)
    third = _code(outbox, user)
    replaced = _proof(sdk, user.email, second, totp_code=users.next_totp(user.totp_secret))
    assert replaced.status_code == 400
    # Wrong guesses kill the code: the right one is refused after them.
    for _ in range(MAX_FAILURES - 1):  # the replaced code above counted as one
        wrong = _proof(sdk, user.email, "aaaa-bbbb-cccc-dddd", totp_code="000000")
        assert wrong.status_code == 400
        clock.advance(minutes=1)  # past the shield's backoff, to reach the code itself
    clock.advance(minutes=2)
    dead = _proof(sdk, user.email, third, totp_code=users.next_totp(user.totp_secret))
    assert dead.status_code == 400, dead.text
    # A further request within the hour is answered alike but mails nothing more.
    mails = len(outbox.messages(user.email))
    assert CODES_PER_HOUR == 3
    clock.advance(minutes=3)  # past the shield's backoff after those failures
    assert sdk.http.post(START, json={"email": user.email}).status_code == 202
    assert len(outbox.messages(user.email)) == mails
    # A proven code serves once.
    clock.advance(hours=1)
    sdk.start_password_recovery(user.email)
    code = _code(outbox, user)
    assert _proof(
        sdk, user.email, code, totp_code=users.next_totp(user.totp_secret)
    ).status_code == (200)
    again = _proof(sdk, user.email, code, totp_code=users.next_totp(user.totp_secret))
    assert again.status_code == 400


def test_the_code_alone_is_not_enough_a_recovery_code_is_burnt_once(users, sdk, outbox):
    user = users.signed_in("mailbox@example.org")
    sdk.start_password_recovery(user.email)
    code = _code(outbox, user)
    missing = sdk.http.post(PROOF, json={"email": user.email, "code": code})
    assert missing.status_code == 422
    wrong = _proof(sdk, user.email, code, totp_code="000000")
    assert wrong.status_code == 401
    assert wrong.headers["content-type"].startswith("application/problem+json")
    # The code still works with the right factor (a wrong one counted against it).
    proven = _proof(sdk, user.email, code, recovery_code=user.recovery_codes[0])
    assert proven.status_code == 200, proven.text
    assert proven.headers["cache-control"] == "no-store"
    # That recovery code is spent.
    sdk.start_password_recovery(user.email)
    spent = _proof(sdk, user.email, _code(outbox, user), recovery_code=user.recovery_codes[0])
    assert spent.status_code == 401


def test_a_completion_must_be_signed_by_the_account_key_over_a_fresh_nonce(users, sdk, outbox):
    user = users.signed_in("signed@example.org")
    recovery = _proven(users, sdk, outbox, user)
    keys = unlock_with_recovery_key(recovery.keystore, user.recovery_key)
    stranger = create_keystore("a stranger's own password", params=FAST_ARGON2.with_new_salt())
    stored = Keystore.decode(sdk.keystore(user.tokens).encode())

    refusals = {
        "another key signs": _completion(recovery, keys, signer=stranger.keys.signing),
        "the stranger's keystore": _completion(recovery, keys, keystore=stranger.keystore.encode()),
        "the zeroed slot sent back": _completion(
            recovery, keys, keystore=recovery.keystore.encode()
        ),
        "another nonce signed": _completion(recovery, keys, nonce=bytes(32)),
    }
    # A keystore with the right keys whose recovery slot the words no longer open.
    own, _ = change_password(stored, keys, NEW_PASSWORD, params=FAST_ARGON2.with_new_salt())
    other_slot = create_keystore(NEW_PASSWORD, keys=keys, params=FAST_ARGON2.with_new_salt())
    refusals["a new recovery slot"] = _completion(
        recovery, keys, keystore=other_slot.keystore.encode()
    )
    assert own.recovery_sealed == stored.recovery_sealed
    for what, body in refusals.items():
        refused = sdk.http.post(COMPLETION, json=body)
        assert refused.status_code == 400, (what, refused.text)
    # Another account's id with this nonce.
    moved = _completion(recovery, keys) | {"account_id": str(uuid.uuid4())}
    assert sdk.http.post(COMPLETION, json=moved).status_code == 400
    # None of the refusals used the nonce up or changed the password.
    users.sign_in_again(user)
    accepted = _completion(recovery, keys)
    assert sdk.http.post(COMPLETION, json=accepted).status_code == 204
    # Replayed, the same signed completion is refused.
    replayed = sdk.http.post(COMPLETION, json=accepted)
    assert replayed.status_code == 400
    assert "start again" in replayed.json()["detail"]


def test_wrong_words_fail_on_the_device_and_never_reach_the_server(users, sdk, outbox):
    user = users.signed_in("wrongwords@example.org")
    recovery = _proven(users, sdk, outbox, user)
    with pytest.raises(WrongPassword):
        sdk.finish_password_recovery(
            recovery, bytes(32), NEW_PASSWORD, params=FAST_ARGON2.with_new_salt()
        )
    # Nothing changed: the old password still signs in.
    users.sign_in_again(user)


def test_a_passkey_proves_the_second_factor_over_the_sign_in_options(users, sdk, outbox):
    user = users.signed_in("passkey@example.org")
    key = SoftAuthenticator(ORIGIN)
    sdk.add_passkey(
        user.tokens, user.password, key.create(sdk.passkey_registration_options(user.tokens))
    )
    sdk.start_password_recovery(user.email)
    code = _code(outbox, user)
    # An assertion over options asked for before the code: the same as at sign-in.
    assertion = key.get(sdk.passkey_options(user.email), "localhost")
    recovery = sdk.prove_password_recovery(user.email, code, {"webauthn": assertion})
    sdk.finish_password_recovery(
        recovery, user.recovery_key, NEW_PASSWORD, params=FAST_ARGON2.with_new_salt()
    )
    user.password = NEW_PASSWORD
    users.sign_in_again(user)


def test_cleanup_forgets_recoveries_once_their_hour_has_passed(users, sdk, outbox, ctx, clock):
    user = users.signed_in("cleanup@example.org")
    sdk.start_password_recovery(user.email)
    with ctx.sessions.begin() as db:
        assert PasswordRecoveries(db, ctx).purge() == 0  # still counted, still valid
    clock.advance(hours=1, minutes=16)
    with ctx.sessions.begin() as db:
        assert PasswordRecoveries(db, ctx).purge() == 1


def test_a_sign_in_under_way_does_not_outlive_the_recovery(users, sdk, outbox):
    """A thief with the old password and a phished second factor holds a completed
    sign-in and an authorization code not yet exchanged when the owner recovers the
    account. "Every device was signed out" must hold for them too: neither may still
    be turned into a session once the password is replaced."""
    user = users.signed_in("phished@example.org")
    completed = sdk.start_login(user.email, user.password)
    sdk.second_factor(completed, recovery_code=user.recovery_codes[1])
    coded = sdk.start_login(user.email, user.password)
    sdk.second_factor(coded, recovery_code=user.recovery_codes[2])
    params, _state, verifier = sdk._authorization_request("thief")
    issued = sdk.http.post(
        "/oauth/authorize", data={**params, "ticket": coded.ticket}, follow_redirects=False
    )
    code = parse_qs(urlsplit(issued.headers["location"]).query)["code"][0]

    recovery = _proven(users, sdk, outbox, user)
    sdk.finish_password_recovery(
        recovery, user.recovery_key, NEW_PASSWORD, params=FAST_ARGON2.with_new_salt()
    )

    with pytest.raises(ApiError) as ticket:
        sdk.authorize(completed)
    assert ticket.value.status == 401
    with pytest.raises(ApiError) as exchange:
        sdk.exchange_code(code, verifier)
    assert exchange.value.status == 400
