"""Changes to an account's second factors are signed by the owner's key, end the
other sessions and are mailed (docs/PROTOCOL.md, 16.4; issue 15, item 3)."""

from __future__ import annotations

import uuid

import pytest

from tests.server.auth.softauthn import SoftAuthenticator
from tests.server_fixtures import FAST_ARGON2, ORIGIN
from uhealthsec.client.api import ApiError
from uhealthsec.crypto.factor_change import FactorAction, FactorChange
from uhealthsec.crypto.keystore import create_keystore, unlock_with_password
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode


def _post(sdk, path, tokens, **body):
    return sdk.http.post(path, json=body, headers=sdk.bearer(tokens))


def _nonce(sdk, tokens) -> bytes:
    return b64u_decode(_post(sdk, "/auth/factors/change-nonce", tokens).json()["nonce"])


def test_a_stolen_fresh_session_cannot_swap_the_owners_factors_and_lock_them_out(
    users, sdk, outbox
):
    """A thief holding a session in its step-up window (malware on the device waits
    for a sign-in) registers its own passkey, removes the owner's TOTP and replaces the
    recovery codes. It holds no keystore, so it cannot sign the changes: each is
    refused, and the owner still signs in with their password and TOTP app, or a
    recovery code."""
    owner = users.signed_in("victim@example.org")
    stolen = owner.tokens  # what the thief copied from the device
    mails_before = len(outbox.messages(owner.email))
    thief_key = SoftAuthenticator(ORIGIN)
    options = _post(sdk, "/auth/factors/webauthn-options", stolen).json()
    added = _post(sdk, "/auth/factors/webauthn", stolen, credential=thief_key.create(options))
    removed = sdk.http.delete("/auth/factors/totp", headers=sdk.bearer(stolen))
    renewed = _post(sdk, "/auth/recovery-codes", stolen)
    assert [added.status_code, removed.status_code, renewed.status_code] == [422, 422, 422]

    # Signed with a key of the thief's own: not the one the directory publishes.
    thief = create_keystore("a thief's own password here", params=FAST_ARGON2.with_new_salt())
    for action, route in [
        (FactorAction.REMOVE_TOTP, "/auth/factors/totp"),
        (FactorAction.RENEW_RECOVERY_CODES, "/auth/recovery-codes"),
    ]:
        nonce = _nonce(sdk, stolen)
        change = FactorChange(uuid.UUID(owner.account_id), action, b"", nonce)
        body = {
            "nonce": b64u_encode(nonce),
            "signature": b64u_encode(change.sign(thief.keys.signing)),
        }
        method = "DELETE" if route.endswith("totp") else "POST"
        refused = sdk.http.request(method, route, json=body, headers=sdk.bearer(stolen))
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    with pytest.raises(ApiError) as own_keys:
        sdk.add_passkey(
            stolen, thief.keys, thief_key.create(sdk.passkey_registration_options(stolen))
        )
    assert own_keys.value.status == 400
    assert [
        f["kind"] for f in sdk.http.get("/auth/factors", headers=sdk.bearer(stolen)).json()
    ] == ["totp"]
    assert len(outbox.messages(owner.email)) == mails_before

    # The owner comes back with everything they hold.
    users.sign_in_again(owner)
    login = sdk.start_login(owner.email, owner.password)
    sdk.second_factor(login, recovery_code=owner.recovery_codes[0])
    sdk.authorize(login)


def test_an_owner_signed_change_ends_the_other_sessions_and_is_mailed(users, sdk, outbox):
    owner = users.signed_in("owner@example.org")
    other_device = users.sign_in_again(owner)
    key = SoftAuthenticator(ORIGIN)
    sdk.add_passkey(
        owner.tokens, owner.password, key.create(sdk.passkey_registration_options(owner.tokens))
    )
    assert sdk.http.get("/accounts/me", headers=sdk.bearer(other_device)).status_code == 401
    assert sdk.http.get("/accounts/me", headers=sdk.bearer(owner.tokens)).status_code == 200
    told = outbox.messages(owner.email)[-1]
    assert told["Subject"] == "U-HealthSec: a passkey was added to your account"
    assert "signed out" in told.get_payload(decode=True).decode()


def test_a_signed_change_cannot_be_replayed_nor_moved_to_another_action(users, sdk):
    owner = users.signed_in("replayed@example.org")
    signing_key = unlock_with_password(sdk.keystore(owner.tokens), owner.password).signing
    account = uuid.UUID(owner.account_id)
    nonce = _nonce(sdk, owner.tokens)
    renewal = FactorChange(account, FactorAction.RENEW_RECOVERY_CODES, b"", nonce)
    body = {"nonce": b64u_encode(nonce), "signature": b64u_encode(renewal.sign(signing_key))}
    # The renewal's consent does not remove the TOTP app.
    moved = sdk.http.request(
        "DELETE", "/auth/factors/totp", json=body, headers=sdk.bearer(owner.tokens)
    )
    assert moved.status_code == 400
    # The refusal above used nothing up: the signed renewal holds once, then never again.
    assert _post(sdk, "/auth/recovery-codes", owner.tokens, **body).status_code == 200
    replayed = _post(sdk, "/auth/recovery-codes", owner.tokens, **body)
    assert replayed.status_code == 400
    assert "challenge" in replayed.json()["detail"]
