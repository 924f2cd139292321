"""Access tokens, refresh rotation and reuse, revocation, introspection, sessions."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from uhealthsec.client.api import ApiError, Tokens
from uhealthsec.server.auth.models import OAuthClient
from uhealthsec.server.security.tokens import AccessClaims

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def authorize(client, ticket, **changes):
    """POST /oauth/authorize with a valid form, changed by ``changes`` (None removes)."""
    form = {
        "response_type": "code",
        "client_id": "uhs-cli",
        "redirect_uri": "http://127.0.0.1/callback",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "state": "s",
        "ticket": ticket,
    }
    form.update(changes)
    form = {k: v for k, v in form.items() if v is not None}
    return client.post("/oauth/authorize", data=form, follow_redirects=False)


def me(sdk, tokens):
    return sdk.http.get("/accounts/me", headers=sdk.bearer(tokens))


def test_access_token_is_paseto_v4_local_bound_to_audience_with_jti(users, sdk, ctx, clock):
    user = users.signed_in("ana@example.org")
    claims = ctx.keyring.verify(user.tokens.access_token, clock.now)
    assert isinstance(claims, AccessClaims)
    assert str(claims.account_id) == user.account_id
    assert (claims.expires_at - claims.issued_at).total_seconds() == 300
    assert claims.amr == ("pwd", "otp")
    assert len(claims.jti) >= 16
    # Claims are encrypted: nothing readable in the token.
    assert b"ana@example.org" not in user.tokens.access_token.encode()
    assert user.account_id.encode() not in base64.urlsafe_b64decode(
        user.tokens.access_token.split(".")[2] + "=="
    )
    other = users.sign_in_again(user)
    assert ctx.keyring.verify(other.access_token, clock.now).jti != claims.jti


def test_expired_token_refused(users, sdk, clock):
    user = users.signed_in("exp@example.org")
    clock.advance(seconds=299)
    assert me(sdk, user.tokens).status_code == 200
    clock.advance(seconds=2)
    response = me(sdk, user.tokens)
    assert response.status_code == 401
    assert "invalid_token" in response.headers["www-authenticate"]


def test_tampered_token_refused(users, sdk):
    user = users.signed_in("tamper@example.org")
    token = user.tokens.access_token
    prefix, body = token[: len("v4.local.")], token[len("v4.local.") :]
    for i in (0, len(body) // 2, len(body.split(".")[0]) - 2):
        flipped = body[:i] + ("A" if body[i] != "A" else "B") + body[i + 1 :]
        assert me(sdk, prefix + flipped).status_code == 401
    # A footer naming another key, and a token with no footer at all.
    payload_part = body.split(".")[0]
    forged_footer = base64.urlsafe_b64encode(json.dumps({"kid": "k4.lid.x"}).encode())
    assert (
        me(sdk, prefix + payload_part + "." + forged_footer.decode().rstrip("=")).status_code == 401
    )
    assert me(sdk, prefix + payload_part).status_code == 401


def test_wrong_audience_refused(users, sdk, ctx, clock):
    user = users.signed_in("aud@example.org")
    right = ctx.keyring.verify(user.tokens.access_token, clock.now)
    token, _ = ctx.keyring.issue(
        account_id=right.account_id,
        session_id=right.session_id,
        client_id=right.client_id,
        auth_time=right.auth_time,
        amr=right.amr,
        scope=right.scope,
        issuer=ctx.settings.issuer,
        now=clock.now,
        audience="some-other-service",
    )
    assert me(sdk, token).status_code == 401


def test_refresh_rotates_and_reuse_revokes_the_whole_family(users, sdk):
    """R9: refresh tokens rotate and a reused one ends the whole family."""
    user = users.signed_in("rot@example.org")
    first = user.tokens
    second = sdk.refresh(first)
    assert second.refresh_token != first.refresh_token
    assert me(sdk, second).status_code == 200
    third = sdk.refresh(second)

    # The first refresh token is presented again: someone holds a stolen copy.
    with pytest.raises(ApiError) as refused:
        sdk.refresh(first)
    assert refused.value.status == 400
    assert refused.value.body["error"] == "invalid_grant"
    # Every token of the family is dead, including the newest ones.
    with pytest.raises(ApiError):
        sdk.refresh(third)
    assert me(sdk, third).status_code == 401
    assert me(sdk, second).status_code == 401


def test_authorization_code_is_single_use_and_pkce_bound(users, sdk, client):
    from uhealthsec.client.api import pkce_pair

    login = users.completed_login(users.signed_in("code@example.org"))
    verifier, challenge = pkce_pair()
    response = authorize(
        client,
        login.ticket,
        redirect_uri="http://127.0.0.1:49152/callback",
        code_challenge=challenge,
    )
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith("http://127.0.0.1:49152/callback?code=")
    code = location.split("code=")[1].split("&")[0]
    cli = type(sdk)(client, redirect_uri="http://127.0.0.1:49152/callback")
    with pytest.raises(ApiError) as wrong_verifier:
        cli.exchange_code(code, "x" * 64)
    assert wrong_verifier.value.body["error"] == "invalid_grant"
    # A failed exchange does not burn the code... but a successful one does.
    tokens = cli.exchange_code(code, verifier)
    with pytest.raises(ApiError):
        cli.exchange_code(code, verifier)
    # Reusing the code revoked the session it had produced.
    assert me(sdk, tokens).status_code == 401


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_authorize_refuses_weak_or_missing_pkce(users, sdk, client, change, error):
    login = users.completed_login(users.signed_in("pkce@example.org"))
    response = authorize(client, login.ticket, **change)
    if response.status_code == 302:
        assert f"error={error}" in response.headers["location"]
    else:
        assert response.status_code in (400, 422)
    # The sign-in was not consumed by the refused request.
    assert sdk.authorize(login).access_token


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1/callback/../evil",
        "http://127.0.0.1/other",
        "http://evil.example/callback",
        "https://127.0.0.1/callback",
        "http://localhost/callback",
        "http://127.0.0.1/callback?x=1",
    ],
)
def test_redirect_uri_must_match_exactly(users, sdk, client, redirect_uri):
    login = users.completed_login(users.signed_in("redir@example.org"))
    response = authorize(client, login.ticket, redirect_uri=redirect_uri)
    # Never redirected to an unregistered URI.
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_no_password_grant(client):
    response = client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "a", "password": "b", "client_id": "uhs-cli"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_revocation_ends_the_session_at_once(users, sdk):
    user = users.signed_in("rev@example.org")
    sdk.revoke(user.tokens)
    assert me(sdk, user.tokens).status_code == 401
    with pytest.raises(ApiError):
        sdk.refresh(user.tokens)
    # RFC 7009: an unknown token is not an error.
    sdk.revoke(Tokens("x", "unknown-token-value", 0))


def test_introspection_needs_client_credentials_and_reports_state(users, sdk, ctx, client):
    secret = "resource-server-secret-for-tests"
    with ctx.sessions.begin() as db:
        db.add(
            OAuthClient(
                client_id="records-api",
                name="records API",
                redirect_uris="[]",
                secret_hash=hashlib.sha256(secret.encode()).digest(),
                grant_types="introspection",
                scope="",
                loopback_any_port=False,
            )
        )
    user = users.signed_in("intro@example.org")
    form = {"token": user.tokens.access_token}
    assert client.post("/oauth/introspect", data=form).status_code == 401
    bad = client.post("/oauth/introspect", data=form, auth=("records-api", "wrong"))
    assert bad.status_code == 401
    good = client.post("/oauth/introspect", data=form, auth=("records-api", secret)).json()
    assert good["active"] is True and good["sub"] == user.account_id
    assert good["aud"] == "uhealthsec-api"
    sdk.revoke(user.tokens)
    after = client.post("/oauth/introspect", data=form, auth=("records-api", secret)).json()
    assert after == {"active": False}


def test_sessions_are_listed_and_revocable(users, sdk):
    user = users.signed_in("sess@example.org")
    phone = users.sign_in_again(user)
    listed = sdk.http.get("/auth/sessions", headers=sdk.bearer(user.tokens)).json()
    assert len(listed) == 2
    assert [s["current"] for s in listed].count(True) == 1
    other = next(s for s in listed if not s["current"])
    response = sdk.http.delete(f"/auth/sessions/{other['id']}", headers=sdk.bearer(user.tokens))
    assert response.status_code == 204
    assert me(sdk, phone).status_code == 401
    assert me(sdk, user.tokens).status_code == 200
    # Another account's session id is not found, not revoked.
    stranger = users.signed_in("stranger@example.org")
    mine = sdk.http.get("/auth/sessions", headers=sdk.bearer(user.tokens)).json()[0]["id"]
    assert (
        sdk.http.delete(f"/auth/sessions/{mine}", headers=sdk.bearer(stranger.tokens)).status_code
        == 404
    )
    assert sdk.http.post("/auth/logout", headers=sdk.bearer(user.tokens)).status_code == 204
    assert me(sdk, user.tokens).status_code == 401


def test_key_rotation_keeps_existing_tokens_valid(users, sdk, ctx, clock):
    user = users.signed_in("rotate@example.org")
    old_kid = ctx.keyring.current().kid
    with ctx.sessions.begin() as db:
        new_kid = ctx.keyring.rotate(db, clock.now)
    assert new_kid != old_kid
    assert me(sdk, user.tokens).status_code == 200  # made with the retired key
    fresh = sdk.refresh(user.tokens)
    assert (
        json.loads(base64.urlsafe_b64decode(fresh.access_token.split(".")[3] + "=="))["kid"]
        == new_kid
    )
    assert me(sdk, fresh).status_code == 200


def test_a_token_is_checked_against_its_session_and_account_in_one_statement(users, sdk, ctx):
    """Every request reads the session and its account afresh, in one statement: a
    session ended, or an account disabled, by any process is refused at the next
    request, with no cache to outlive it."""
    import uuid

    from tests.server.statements import statements_run
    from uhealthsec.server.accounts.models import Account, AccountStatus
    from uhealthsec.server.auth.service import SessionService
    from uhealthsec.server.errors import NotAuthenticated
    from uhealthsec.server.storage.db import transaction

    user = users.signed_in("one-read@example.org")
    token = user.tokens.access_token
    with ctx.sessions() as db, statements_run(ctx) as run:
        principal = SessionService(db, ctx).authenticate(token)
    assert str(principal.account.id) == user.account_id
    assert len(run) == 1, run

    with transaction(ctx.sessions) as db:
        account = db.get(Account, uuid.UUID(user.account_id))
        account.status = AccountStatus.DISABLED
    assert me(sdk, user.tokens).status_code == 401
    with transaction(ctx.sessions) as db:
        db.get(Account, uuid.UUID(user.account_id)).status = AccountStatus.ACTIVE
    assert me(sdk, user.tokens).status_code == 200
    sdk.revoke(user.tokens)
    assert me(sdk, user.tokens).status_code == 401
    with ctx.sessions() as db, pytest.raises(NotAuthenticated):
        SessionService(db, ctx).authenticate(token)
