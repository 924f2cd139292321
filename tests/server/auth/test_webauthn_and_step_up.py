"""Passkeys with a software authenticator; step-up for sensitive actions."""

from __future__ import annotations

import copy
import uuid

import pytest

from tests.server.auth.softauthn import SoftAuthenticator
from tests.server_fixtures import FAST_ARGON2, ORIGIN, PASSWORD
from uhealthsec.client.api import ApiError
from uhealthsec.crypto.keystore import change_password, unlock_with_password
from uhealthsec.crypto.keystore_change import KeystoreChange
from uhealthsec.protocol.encoding import b64u_encode


def post(sdk, path, tokens=None, **body):
    headers = sdk.bearer(tokens) if tokens else {}
    return sdk.http.post(path, json=body, headers=headers)


def test_passkey_as_first_factor_then_sign_in_with_it(users, sdk):
    users.register("pk@example.org")
    key = SoftAuthenticator(ORIGIN)
    login = sdk.start_login("pk@example.org", PASSWORD)
    options = post(sdk, "/auth/login/enrol/webauthn-options", ticket=login.ticket).json()
    assert options["rp"]["id"] == "localhost"
    registered = post(
        sdk,
        "/auth/login/enrol/webauthn",
        ticket=login.ticket,
        credential=key.create(options),
        name="laptop",
    )
    assert registered.status_code == 200, registered.text
    assert len(registered.json()["recovery_codes"]) == 10
    sdk.authorize(login)

    login = sdk.start_login("pk@example.org", PASSWORD)
    assert "webauthn" in login.methods
    options = post(sdk, "/auth/login/webauthn-options", ticket=login.ticket).json()
    assertion = key.get(options, "localhost")
    sdk.second_factor(login, webauthn=assertion)
    tokens = sdk.authorize(login)
    claims_amr = sdk.http.get("/auth/factors", headers=sdk.bearer(tokens)).json()
    assert [f["kind"] for f in claims_amr] == ["webauthn"]

    # The same assertion again: its challenge was used, so it is refused.
    again = sdk.start_login("pk@example.org", PASSWORD)
    with pytest.raises(ApiError):
        sdk.second_factor(again, webauthn=assertion)


def test_passkey_assertion_for_wrong_origin_or_forged_signature_is_refused(users, sdk):
    users.register("pk2@example.org")
    key = SoftAuthenticator(ORIGIN)
    login = sdk.start_login("pk2@example.org", PASSWORD)
    options = post(sdk, "/auth/login/enrol/webauthn-options", ticket=login.ticket).json()
    post(sdk, "/auth/login/enrol/webauthn", ticket=login.ticket, credential=key.create(options))

    phishing = SoftAuthenticator("https://evil.example")
    phishing.key, phishing.credential_id = key.key, key.credential_id
    login = sdk.start_login("pk2@example.org", PASSWORD)
    options = post(sdk, "/auth/login/webauthn-options", ticket=login.ticket).json()
    with pytest.raises(ApiError) as refused:
        sdk.second_factor(login, webauthn=phishing.get(options, "localhost"))
    assert refused.value.status == 401

    options = post(sdk, "/auth/login/webauthn-options", ticket=login.ticket).json()
    forged = copy.deepcopy(key.get(options, "localhost"))
    forged["response"]["signature"] = b64u_encode(b"\x30\x06\x02\x01\x01\x02\x01\x01")
    with pytest.raises(ApiError):
        sdk.second_factor(login, webauthn=forged)


def test_sensitive_actions_need_a_recent_second_factor(users, sdk, clock):
    """R9: a sensitive action needs a second factor proven in the last 5 minutes."""
    user = users.signed_in("step@example.org")
    keys = unlock_with_password(sdk.keystore(user.tokens), PASSWORD)
    clock.advance(minutes=4)
    fresh = sdk.refresh(user.tokens)
    assert len(sdk.renew_recovery_codes(fresh, keys)) == 10  # within 5 minutes

    clock.advance(minutes=2)
    fresh = sdk.refresh(fresh)
    with pytest.raises(ApiError) as refused:
        sdk.renew_recovery_codes(fresh, keys)
    assert refused.value.status == 403
    assert "step-up" in refused.value.detail
    # Its problem type says a step-up lifts it (a client asks for a factor on no other 403).
    assert refused.value.body["type"] == "tag:uhealthsec.fr,2026:problem:step-up-required"

    stepped = post(sdk, "/auth/step-up", fresh, totp_code=users.next_totp(user.totp_secret))
    assert stepped.status_code == 200
    token = stepped.json()["access_token"]
    assert len(sdk.renew_recovery_codes(token, keys)) == 10

    # A wrong code at step-up is refused and does not help.
    clock.advance(minutes=6)
    later = sdk.refresh(fresh)
    assert post(sdk, "/auth/step-up", later, totp_code="123456").status_code == 401
    with pytest.raises(ApiError) as refused:
        sdk.renew_recovery_codes(later, keys)
    assert refused.value.status == 403


def test_adding_a_passkey_after_sign_in_then_removing_factors(users, sdk):
    user = users.signed_in("multi@example.org")
    keys = unlock_with_password(sdk.keystore(user.tokens), PASSWORD)
    key = SoftAuthenticator(ORIGIN)
    sdk.add_passkey(user.tokens, keys, key.create(sdk.passkey_registration_options(user.tokens)))
    factors = sdk.http.get("/auth/factors", headers=sdk.bearer(user.tokens)).json()
    assert sorted(f["kind"] for f in factors) == ["totp", "webauthn"]
    sdk.remove_totp(user.tokens, keys)
    passkey = next(f for f in factors if f["kind"] == "webauthn")
    with pytest.raises(ApiError) as last:
        sdk.remove_passkey(user.tokens, keys, passkey["id"])
    assert last.value.status == 409  # the last second factor cannot be removed


def test_password_change_keeps_keys_and_signs_out_other_devices(users, sdk, outbox):
    user = users.signed_in("pw@example.org")
    other_device = users.sign_in_again(user)
    keystore = sdk.keystore(user.tokens)
    keys = unlock_with_password(keystore, PASSWORD)
    new_password = "quartz lantern meadow falcon harbour"
    new_keystore, auth_secret = change_password(
        keystore, keys, new_password, params=FAST_ARGON2.with_new_salt()
    )
    change = KeystoreChange(
        uuid.UUID(user.account_id), keystore.encode(), new_keystore.encode(), auth_secret
    )
    response = sdk.http.put(
        "/accounts/me/password",
        json={
            "auth_secret": b64u_encode(auth_secret),
            "keystore": b64u_encode(new_keystore.encode()),
            "signature": b64u_encode(change.sign(keys.signing)),
        },
        headers=sdk.bearer(user.tokens),
    )
    assert response.status_code == 204, response.text
    assert sdk.http.get("/accounts/me", headers=sdk.bearer(other_device)).status_code == 401
    assert outbox.messages(user.email)[-1]["Subject"] == "U-HealthSec: your password was changed"
    assert sdk.http.get("/accounts/me", headers=sdk.bearer(user.tokens)).status_code == 200
    with pytest.raises(ApiError):
        sdk.start_login(user.email, PASSWORD)
    login = sdk.start_login(user.email, new_password)
    assert login.methods
    assert (
        unlock_with_password(sdk.keystore(user.tokens), new_password)
        .public()
        .same_as(keys.public())
    )


def test_the_sdk_changes_a_password_after_a_step_up_and_refuses_leaked_ones(users, sdk):
    from uhealthsec.client.errors import WeakPassword

    user = users.signed_in("sdkpw@example.org")
    requests: list[str] = []
    sdk.http.event_hooks["request"].append(lambda request: requests.append(request.url.path))
    recent = sdk.step_up(user.tokens, totp_code=users.next_totp(user.totp_secret))
    for leaked in ("password123456", "qwertyuiop1234", "sdkpw example org 2024"):
        with pytest.raises(WeakPassword):
            sdk.change_password(recent, PASSWORD, leaked, (user.email, "Dr Sdkpw"))
    assert "/accounts/me/password" not in requests  # refused on the device
    new_password = "harbour violet compass thimble meadow"
    sdk.change_password(
        recent, PASSWORD, new_password, (user.email,), params=FAST_ARGON2.with_new_salt()
    )
    assert sdk.start_login(user.email, new_password).methods
    with pytest.raises(ApiError):
        sdk.start_login(user.email, PASSWORD)


def test_a_passkey_answer_serves_only_the_kind_of_proof_it_was_asked_for(users, sdk):
    """A sign-in's passkey answer left unused does not stand for a step-up's (a page
    script or a proxy that kept one), nor a step-up's for a sign-in's."""
    users.register("pk-purpose@example.org")
    key = SoftAuthenticator(ORIGIN)
    login = sdk.start_login("pk-purpose@example.org", PASSWORD)
    options = post(sdk, "/auth/login/enrol/webauthn-options", ticket=login.ticket).json()
    post(sdk, "/auth/login/enrol/webauthn", ticket=login.ticket, credential=key.create(options))
    tokens = sdk.authorize(login)

    kept = sdk.start_login("pk-purpose@example.org", PASSWORD)
    sign_in_answer = key.get(
        post(sdk, "/auth/login/webauthn-options", ticket=kept.ticket).json(), "localhost"
    )
    refused = post(sdk, "/auth/step-up", tokens, webauthn=sign_in_answer)
    assert refused.status_code == 400, refused.text
    assert "challenge" in refused.json()["detail"]

    step_up_answer = key.get(
        post(sdk, "/auth/step-up/webauthn-options", tokens).json(), "localhost"
    )
    with pytest.raises(ApiError):
        sdk.second_factor(kept, webauthn=step_up_answer)
    # Each answer for its own purpose (a fresh one: the challenge above was used up).
    fresh = key.get(post(sdk, "/auth/step-up/webauthn-options", tokens).json(), "localhost")
    assert post(sdk, "/auth/step-up", tokens, webauthn=fresh).status_code == 200
