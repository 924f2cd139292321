"""Professional sign-in through an OpenID Connect provider (e-CPS / Pro Santé Connect
style), against a real provider on loopback."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from joserfc.jwk import RSAKey

from tests.server.federation.provider import Professional
from tests.server_fixtures import BASE_URL, FAST_ARGON2
from tests.serving import HTTP_TIMEOUT
from uhealthsec.client.api import ApiError
from uhealthsec.crypto.factor_change import FactorAction
from uhealthsec.crypto.keystore import create_keystore
from uhealthsec.server.accounts.rpps import luhn_check_digit
from uhealthsec.server.federation.service import FederationService


def rpps(seed: str) -> str:
    partial = (seed * 10)[:10]
    return partial + luhn_check_digit(partial)


def professional(seed: str) -> Professional:
    return Professional(subject=f"psc-{seed}", national_id="8" + rpps(seed))


def link(sdk, browser, provider, user, who):
    provider.present(who)
    step = sdk.start_link(user.tokens)
    return sdk.finish_link(user.tokens, user.password, step, browser.open(step.url))


def federated_login(sdk, browser, provider, who, acr="eidas2"):
    provider.present(who, acr)
    step = sdk.federated_login_url(device_name="cps")
    return sdk.finish_federated_login(step, browser.open(step.url))


def refusal(sdk, browser, provider, who, acr="eidas2") -> str:
    with pytest.raises(ApiError) as refused:
        federated_login(sdk, browser, provider, who, acr)
    return refused.value.detail


def test_linked_professional_signs_in_with_the_provider(sdk, users, browser, provider, client):
    """R8: a professional signs in with e-CPS through OpenID Connect."""
    dr = professional("3")
    user = users.signed_in("doctor@example.org", rpps=rpps("3"))
    linked = link(sdk, browser, provider, user, dr)
    assert linked["rpps"] == rpps("3")

    tokens = federated_login(sdk, browser, provider, dr)
    me = client.get("/accounts/me", headers=sdk.bearer(tokens)).json()
    assert me["id"] == user.account_id
    devices = client.get("/auth/sessions", headers=sdk.bearer(tokens)).json()
    assert "cps" in {d["device_name"] for d in devices}

    # What we asked the provider for: PKCE S256, a nonce, eIDAS substantial or high.
    asked = provider.requests[-1]
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["nonce"]) >= 32
    assert asked["acr_values"].split() == ["eidas2", "eidas3"]
    assert asked["scope"] == "openid scope_all"
    listed = client.get("/auth/federated/identities", headers=sdk.bearer(tokens)).json()
    assert [i["id"] for i in listed] == [linked["id"]]
    assert listed[0]["last_login_at"] is not None


def test_an_identity_that_is_not_linked_signs_nobody_in(sdk, users, browser, provider):
    users.signed_in("doctor@example.org", rpps=rpps("3"))
    assert "not linked" in refusal(sdk, browser, provider, professional("3"))


def test_a_cancelled_provider_sign_in_is_reported(sdk, browser, provider):
    assert "cancelled" in refusal(sdk, browser, provider, None)


def test_a_weak_assurance_level_is_refused(sdk, users, browser, provider):
    user = users.signed_in("doctor@example.org", rpps=rpps("3"))
    link(sdk, browser, provider, user, professional("3"))
    assert "strong enough" in refusal(sdk, browser, provider, professional("3"), acr="eidas1")


@pytest.mark.parametrize(
    ("overrides", "claim"),
    [
        ({"nonce": "a-nonce-from-another-sign-in"}, "nonce"),
        ({"aud": ["another-relying-party"]}, "aud"),
        ({"iss": "http://127.0.0.1:1"}, "iss"),
        ({"exp": int(time.time()) - 3600}, "exp"),
    ],
)
def test_id_tokens_that_fail_a_check_are_refused(sdk, users, browser, provider, overrides, claim):
    user = users.signed_in("doctor@example.org", rpps=rpps("3"))
    link(sdk, browser, provider, user, professional("3"))
    provider.id_token_overrides = overrides
    assert f"({claim})" in refusal(sdk, browser, provider, professional("3"))


def test_an_id_token_without_assurance_level_is_refused(sdk, users, browser, provider):
    user = users.signed_in("doctor@example.org", rpps=rpps("3"))
    link(sdk, browser, provider, user, professional("3"))
    assert "strong enough" in refusal(sdk, browser, provider, professional("3"), acr="")


def test_an_id_token_signed_by_another_key_is_refused(sdk, users, browser, provider):
    user = users.signed_in("doctor@example.org", rpps=rpps("3"))
    link(sdk, browser, provider, user, professional("3"))
    provider.rogue_key = RSAKey.generate_key(2048, parameters={"kid": "psc-1"})
    assert "signature" in refusal(sdk, browser, provider, professional("3"))


def test_linking_needs_a_recent_second_factor(sdk, users, provider, clock):
    user = users.signed_in("doctor@example.org", rpps=rpps("3"))
    clock.advance(minutes=10)
    with pytest.raises(ApiError) as refused:
        sdk.start_link(sdk.refresh(user.tokens))
    assert refused.value.status == 403


def test_patients_cannot_link_a_professional_identity(sdk, users, provider):
    patient = users.signed_in("patient@example.org", kind="patient")
    with pytest.raises(ApiError) as refused:
        sdk.start_link(patient.tokens)
    assert refused.value.status == 403


def test_a_link_completes_only_in_the_session_that_started_it(
    sdk, users, browser, provider, client
):
    """An attacker starts a link and lures a professional through the provider: the
    link code lands in the victim's browser, and neither side can redeem it."""
    attacker = users.signed_in("attacker@example.org")
    victim = users.signed_in("victim@example.org", rpps=rpps("3"))
    provider.present(professional("3"))
    step = sdk.start_link(attacker.tokens)
    landed = browser.open(step.url)
    link_code = parse_qs(urlsplit(landed).query)["link_code"][0]

    for user, verifier in ((victim, step.verifier), (attacker, "x" * 64)):
        change = sdk._factor_change(
            user.tokens, user.password, FactorAction.LINK_E_CPS, link_code.encode()
        )
        response = client.post(
            "/auth/federated/links/complete",
            json={"link_code": link_code, "code_verifier": verifier, "change": change},
            headers=sdk.bearer(user.tokens),
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
    for user in (attacker, victim):
        listed = client.get("/auth/federated/identities", headers=sdk.bearer(user.tokens))
        assert listed.json() == []


def test_a_provider_answer_is_used_once(sdk, users, browser, provider, client):
    provider.present(professional("3"))
    step = sdk.federated_login_url()
    to_provider = client.get(step.url.removeprefix(BASE_URL), follow_redirects=False)
    back = httpx2.get(
        to_provider.headers["location"], follow_redirects=False, timeout=HTTP_TIMEOUT
    ).headers["location"]
    path = back.removeprefix(BASE_URL)
    assert client.get(path, follow_redirects=False).status_code == 302
    replay = client.get(path, follow_redirects=False)
    assert replay.status_code == 400
    assert "expired or was already used" in replay.json()["detail"]


def test_the_provider_rpps_must_match_the_account(sdk, users, browser, provider):
    user = users.signed_in("doctor@example.org", rpps=rpps("3"))
    with pytest.raises(ApiError) as refused:
        link(sdk, browser, provider, user, professional("5"))
    assert refused.value.status == 409


def test_linking_without_rpps_records_the_proven_one(sdk, users, browser, provider, client):
    naturopath = users.signed_in("naturo@example.org")
    link(sdk, browser, provider, naturopath, professional("7"))
    me = client.get("/accounts/me", headers=sdk.bearer(naturopath.tokens)).json()
    assert me["rpps"] == rpps("7")


def test_one_identity_links_one_account(sdk, users, browser, provider):
    first = users.signed_in("first@example.org")
    second = users.signed_in("second@example.org")
    link(sdk, browser, provider, first, professional("7"))
    with pytest.raises(ApiError) as refused:
        link(sdk, browser, provider, second, professional("7"))
    assert refused.value.status == 409


def test_unlinking_needs_step_up_and_stops_federated_sign_in(
    sdk, users, browser, provider, client, clock
):
    user = users.signed_in("doctor@example.org", rpps=rpps("3"))
    linked = link(sdk, browser, provider, user, professional("3"))
    clock.advance(minutes=10)
    tokens = sdk.refresh(user.tokens)
    with pytest.raises(ApiError) as stale:
        sdk.unlink(tokens, user.password, linked["id"])
    assert stale.value.status == 403
    step_up = client.post(
        "/auth/step-up",
        json={"totp_code": users.next_totp(user.totp_secret)},
        headers=sdk.bearer(tokens),
    )
    sdk.unlink(step_up.json()["access_token"], user.password, linked["id"])
    assert "not linked" in refusal(sdk, browser, provider, professional("3"))


def test_a_stolen_fresh_session_can_neither_link_the_thiefs_e_cps_nor_unlink_the_owners(
    sdk, users, browser, provider, client, outbox
):
    """A linked e-CPS signs in without the password or the account's second factor. A
    session copied in its step-up window (malware waiting for a sign-in) holds no
    keystore: it cannot sign a link of the thief's own e-CPS to an account with no
    proven RPPS, nor the removal of the owner's link (docs/PROTOCOL.md, 16.4)."""
    owner = users.signed_in("naturo@example.org")
    other_device = users.sign_in_again(owner)
    stolen = owner.tokens
    thief = create_keystore("a thief's own password here", params=FAST_ARGON2.with_new_salt())
    mails_before = len(outbox.messages(owner.email))

    provider.present(professional("7"))
    step = sdk.start_link(stolen)
    landed = browser.open(step.url)
    link_code = parse_qs(urlsplit(landed).query)["link_code"][0]
    unsigned = client.post(
        "/auth/federated/links/complete",
        json={"link_code": link_code, "code_verifier": step.verifier},
        headers=sdk.bearer(stolen),
    )
    assert unsigned.status_code == 422
    with pytest.raises(ApiError) as own_keys:
        sdk.finish_link(stolen, thief.keys, step, landed)
    assert own_keys.value.status == 400
    assert client.get("/auth/federated/identities", headers=sdk.bearer(stolen)).json() == []
    assert len(outbox.messages(owner.email)) == mails_before

    # The owner's own link, signed: the other devices are signed out, the owner told.
    linked = sdk.finish_link(stolen, owner.password, step, landed)
    assert client.get("/accounts/me", headers=sdk.bearer(other_device)).status_code == 401
    told = outbox.messages(owner.email)[mails_before:]
    assert [m["Subject"] for m in told] == ["U-HealthSec: an e-CPS was linked to your account"]

    path = f"/auth/federated/identities/{linked['id']}"
    assert client.delete(path, headers=sdk.bearer(stolen)).status_code == 422
    with pytest.raises(ApiError) as unlink:
        sdk.unlink(stolen, thief.keys, linked["id"])
    assert unlink.value.status == 400
    listed = client.get("/auth/federated/identities", headers=sdk.bearer(stolen)).json()
    assert [i["id"] for i in listed] == [linked["id"]]


def test_cleanup_forgets_provider_round_trips_an_hour_after_they_end(
    sdk, provider, client, ctx, clock
):
    """Anyone may start a professional sign-in, and never come back from the provider."""
    for _ in range(3):
        started = sdk.federated_login_url().url.removeprefix(BASE_URL)
        assert client.get(started, follow_redirects=False).status_code == 302
    with ctx.sessions.begin() as db:
        assert FederationService(db, ctx).purge() == 0
    clock.advance(hours=1, minutes=6)
    with ctx.sessions.begin() as db:
        assert FederationService(db, ctx).purge() == 3
