"""Sign-in: password-derived secret, then a mandatory second factor, then tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.server_fixtures import FAST_ARGON2, PASSWORD, oathtool
from uhealthsec.client.api import ApiError


def test_registration_then_mandatory_totp_enrolment_then_tokens(users, sdk, clock):
    """R5: no token before a second factor is enrolled and proven."""
    users.register("alice@example.org")
    login = sdk.start_login("alice@example.org", PASSWORD)
    assert login.enrolment_required and login.methods == []

    # No second factor yet: the flow cannot be exchanged for tokens.
    with pytest.raises(ApiError) as refused:
        sdk.authorize(login)
    assert refused.value.status == 403
    assert "second factor" in refused.value.detail

    login = sdk.start_login("alice@example.org", PASSWORD)
    enrolment = sdk.enrol_totp(login)
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/")
    assert enrolment["qr_svg"].startswith("<svg")
    codes = sdk.confirm_totp(login, oathtool(enrolment["secret"], clock.now))
    assert len(codes) == 10 and len(set(codes)) == 10
    tokens = sdk.authorize(login, device_name="laptop")
    assert tokens.access_token.startswith("v4.local.")
    me = sdk.http.get("/accounts/me", headers=sdk.bearer(tokens))
    assert me.status_code == 200 and me.json()["email"] == "alice@example.org"


def test_login_needs_password_and_second_factor(users, sdk):
    user = users.signed_in("bob@example.org")
    login = sdk.start_login(user.email, user.password)
    assert login.methods == ["totp", "recovery_code"]
    assert not login.enrolment_required
    # Password alone: refused at the authorization endpoint.
    with pytest.raises(ApiError) as refused:
        sdk.authorize(login)
    assert refused.value.status == 403
    # An account with a factor cannot enrol another one from a password-only flow.
    with pytest.raises(ApiError) as refused:
        sdk.enrol_totp(sdk.start_login(user.email, user.password))
    assert refused.value.status == 403


def test_totp_code_from_oathtool_accepted_once_and_refused_when_replayed(users, sdk, clock):
    """R5: a TOTP code (30 s step) is accepted once."""
    user = users.signed_in("carol@example.org")
    code = users.next_totp(user.totp_secret)

    first = sdk.start_login(user.email, user.password)
    sdk.second_factor(first, totp_code=code)
    sdk.authorize(first)

    replay = sdk.start_login(user.email, user.password)
    with pytest.raises(ApiError) as refused:
        sdk.second_factor(replay, totp_code=code)
    assert refused.value.status == 401
    # An older code (previous step) is refused too, even inside the drift window.
    clock.advance(seconds=30)
    older = oathtool(user.totp_secret, clock.now - timedelta(seconds=30))
    with pytest.raises(ApiError):
        sdk.second_factor(replay, totp_code=older)
    # The next step's code works.
    sdk.second_factor(replay, totp_code=oathtool(user.totp_secret, clock.now))


def test_totp_accepts_one_step_of_drift_but_not_two(users, sdk, clock):
    user = users.signed_in("drift@example.org")
    clock.advance(minutes=5)
    login = sdk.start_login(user.email, user.password)
    with pytest.raises(ApiError):
        sdk.second_factor(
            login, totp_code=oathtool(user.totp_secret, clock.now + timedelta(seconds=60))
        )
    sdk.second_factor(
        login, totp_code=oathtool(user.totp_secret, clock.now + timedelta(seconds=30))
    )


def test_recovery_code_works_once(users, sdk):
    user = users.signed_in("dan@example.org")
    code = user.recovery_codes[0]
    login = sdk.start_login(user.email, user.password)
    sdk.second_factor(login, recovery_code=code.upper().replace("-", " "))  # forgiving format
    sdk.authorize(login)
    again = sdk.start_login(user.email, user.password)
    with pytest.raises(ApiError) as refused:
        sdk.second_factor(again, recovery_code=code)
    assert refused.value.status == 401


def test_second_factor_guessing_ends_the_flow(users, sdk, clock):
    user = users.signed_in("eve@example.org")
    login = sdk.start_login(user.email, user.password)
    for _ in range(5):
        with pytest.raises(ApiError):
            sdk.second_factor(login, totp_code="000000")
    # Even the right code is now refused: the flow is over.
    with pytest.raises(ApiError) as refused:
        sdk.second_factor(login, totp_code=users.next_totp(user.totp_secret))
    assert "start again" in refused.value.detail


def test_wrong_password_and_unknown_account_get_the_same_answer(users, client):
    users.register("frank@example.org")
    wrong = client.post("/auth/login", json={"email": "frank@example.org", "auth_secret": "A" * 43})
    unknown = client.post(
        "/auth/login", json={"email": "nobody@example.org", "auth_secret": "A" * 43}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["content-type"] == "application/problem+json"


def test_prelogin_does_not_reveal_whether_an_account_exists(users, client):
    users.register("gina@example.org")
    known = client.post("/auth/prelogin", json={"email": "gina@example.org"}).json()
    unknown = client.post("/auth/prelogin", json={"email": "nobody@example.org"}).json()
    unknown_again = client.post("/auth/prelogin", json={"email": "NOBODY@example.org "}).json()
    assert set(known) == set(unknown) == {"argon2_params"}
    assert len(known["argon2_params"]) == len(unknown["argon2_params"])
    assert unknown == unknown_again  # stable decoy, not a fresh random salt each time


def test_unconfirmed_address_cannot_sign_in(sdk, outbox):
    sdk.register(
        "hugo@example.org", PASSWORD, "Hugo", "patient", params=FAST_ARGON2.with_new_salt()
    )
    with pytest.raises(ApiError) as refused:
        sdk.start_login("hugo@example.org", PASSWORD)
    assert refused.value.status == 403 and "confirm" in refused.value.detail
    sdk.verify_email(outbox.last_code("hugo@example.org"), "hugo@example.org", PASSWORD)
    assert sdk.start_login("hugo@example.org", PASSWORD).enrolment_required
