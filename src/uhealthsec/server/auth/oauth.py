"""OAuth 2.1 authorization server on authlib: code + PKCE (S256 only), rotating refresh
tokens with reuse detection, RFC 7009 revocation, RFC 7662 introspection.

authlib provides the protocol checks; this module supplies storage and our rules:
- no password grant, no implicit grant, no ``plain`` PKCE;
- redirect URIs compared exactly (loopback clients may vary only the port, RFC 8252);
- the authorization endpoint accepts only a login flow that has passed a second factor;
- a refresh token presented twice revokes its whole session (OAuth 2.1 §4.3.1).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2 import AuthorizationServer as _AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from sqlalchemy.orm import Session as DbSession

from uhealthsec.protocol.oauth import AUDIENCE
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.auth.models import (
    AuthorizationCode,
    LoginFlow,
    OAuthClient,
    RefreshToken,
    Session,
)
from uhealthsec.server.auth.service import SessionService
from uhealthsec.server.context import AppContext, token_hash
from uhealthsec.server.errors import NotAuthenticated
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.security.tokens import AccessClaims

CODE_SECONDS = 60
SCOPES = ("api",)


class Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, row: OAuthClient) -> None:
        self.row = row
        self.client_id = row.client_id
        self._redirect_uris: list[str] = json.loads(row.redirect_uris)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # the redirect URI is always required

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.row.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        if redirect_uri in self._redirect_uris:
            return True
        if not self.row.loopback_any_port:
            return False
        # RFC 8252 §7.3: native apps listen on an ephemeral loopback port.
        given = urlsplit(redirect_uri)
        for registered in map(urlsplit, self._redirect_uris):
            if (
                given.scheme == "http"
                and given.hostname in ("127.0.0.1", "::1")
                and given.hostname == registered.hostname
                and given.path == registered.path
                and not given.query
                and not given.fragment
                and given.username is None
            ):
                return True
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        if self.row.secret_hash is None:
            return False
        return hmac.compare_digest(
            hashlib.sha256(client_secret.encode()).digest(), self.row.secret_hash
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.row.secret_hash is None:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.row.grant_types.split()

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types.split()


@dataclass
class GrantUser:
    """The resource owner as seen by authlib, with what a new session needs."""

    account: Account
    session: Session | None = None
    auth_code: AuthorizationCode | None = None
    #: The completed login flow, at the authorization endpoint.
    flow: LoginFlow | None = None

    def get_user_id(self) -> str:
        return str(self.account.id)


class _CodeRecord:
    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope


class _RefreshRecord:
    def __init__(self, row: RefreshToken, session: Session) -> None:
        self.row = row
        self.session = session

    def get_scope(self) -> str:
        return self.session.scope

    def check_client(self, client: Client) -> bool:
        return self.session.client_id == client.client_id

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return self.session.revoked_at is not None or self.row.used_at is not None


class _AccessRecord:
    def __init__(self, claims: AccessClaims, session: Session | None) -> None:
        self.claims = claims
        self.session = session

    def check_client(self, client: Client) -> bool:
        return self.claims.client_id == client.client_id

    def is_expired(self) -> bool:
        return False  # verify() already refused expired tokens

    def is_revoked(self) -> bool:
        return self.session is None or self.session.revoked_at is not None


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE required, S256 only: a missing method is refused rather than read as plain."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 - authlib reads it
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        if grant.request.payload.data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE with code_challenge_method=S256 is required")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: _CodeRecord) -> str:
        return authorization_code.row.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: _CodeRecord) -> str:
        return authorization_code.row.code_challenge_method


class FormRequest(OAuth2Request):  # type: ignore[misc]
    """An authlib request built from an already-parsed form (authlib has no Starlette
    server integration)."""

    def __init__(self, method: str, uri: str, headers: Mapping[str, str], form: dict[str, str]):
        super().__init__(method, uri, headers=headers)
        self._form = form
        self.payload = BasicOAuth2Payload(form)

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self._form


class OAuthServer(_AuthorizationServer):  # type: ignore[misc]
    """One per request: it holds that request's database session."""

    def __init__(self, db: DbSession, ctx: AppContext) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.db = db
        self.ctx = ctx
        self.sessions = SessionService(db, ctx)
        self.register_token_generator("default", self._generate_token)
        self.register_grant(AuthorizationCodeGrant, [S256Only(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    # -- authlib hooks --------------------------------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        if not client_id or len(client_id) > 100:
            return None
        row = self.db.get(OAuthClient, client_id)
        return Client(row) if row is not None else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        user: GrantUser = request.user
        assert user.session is not None
        if "refresh_token" in token:
            self.db.add(
                RefreshToken(
                    token_hash=token_hash(token["refresh_token"]),
                    session_id=user.session.id,
                    generation=self.sessions.refresh_generation(user.session.id),
                    created_at=self.ctx.now(),
                )
            )

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no JSON endpoints")

    def handle_response(
        self, status: int, body: Any, headers: Iterable[tuple[str, str]]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    # -- tokens ---------------------------------------------------------------------------

    def _generate_token(
        self,
        grant_type: str,
        client: Client,
        user: GrantUser | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        assert user is not None
        now = self.ctx.now()
        if user.session is None:
            code = user.auth_code
            assert code is not None
            session = Session(
                account_id=user.account.id,
                client_id=client.client_id,
                device_name=code.device_name,
                scope=code.scope,
                created_at=now,
                last_used_at=now,
                expires_at=now + timedelta(days=self.ctx.settings.refresh_token_days),
                auth_time=code.auth_time,
                amr=code.amr,
            )
            self.db.add(session)
            self.db.flush()
            code.session_id = session.id
            user.session = session
        else:
            session = user.session
            session.last_used_at = now
            # Sliding expiry: a device in use stays signed in, an idle one does not.
            session.expires_at = now + timedelta(days=self.ctx.settings.refresh_token_days)
        access, claims = self.sessions.issue_access_token(session)
        token = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": int((claims.expires_at - claims.issued_at).total_seconds()),
            "scope": session.scope,
        }
        if include_refresh_token:
            token["refresh_token"] = secrets.token_urlsafe(32)
        return token


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012 - authlib reads it

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        server: OAuthServer = self.server
        user: GrantUser = request.user
        flow = user.flow
        assert flow is not None and flow.mfa_verified_at is not None
        data = request.payload.data
        server.db.add(
            AuthorizationCode(
                code_hash=token_hash(code),
                client_id=request.client.client_id,
                account_id=user.account.id,
                redirect_uri=data["redirect_uri"],
                scope=request.client.get_allowed_scope(data.get("scope") or "api"),
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                auth_time=flow.mfa_verified_at,
                amr=flow.amr,
                device_name=(data.get("device_name") or "")[:100],
                expires_at=server.ctx.now() + timedelta(seconds=CODE_SECONDS),
            )
        )

    def query_authorization_code(self, code: str, client: Client) -> _CodeRecord | None:
        server: OAuthServer = self.server
        if len(code) > 100:
            return None
        # Locked until commit: of concurrent exchanges of one code, the second sees it
        # used (and revokes what the first was given), as if it came later.
        row = server.db.get(
            AuthorizationCode, token_hash(code), with_for_update=True, populate_existing=True
        )
        if row is None or row.client_id != client.client_id:
            return None
        if row.used_at is not None:
            # A code used twice was stolen: revoke what it gave (RFC 6749 §4.1.2).
            if row.session_id is not None:
                session = server.db.get(Session, row.session_id)
                if session is not None:
                    server.sessions.revoke(session, "code_reuse")
            return None
        if row.expires_at <= server.ctx.now():
            return None
        return _CodeRecord(row)

    def delete_authorization_code(self, authorization_code: _CodeRecord) -> None:
        authorization_code.row.used_at = self.server.ctx.now()

    def authenticate_user(self, authorization_code: _CodeRecord) -> GrantUser | None:
        server: OAuthServer = self.server
        account = server.db.get(Account, authorization_code.row.account_id)
        if account is None:
            return None
        return GrantUser(account=account, auth_code=authorization_code.row)


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012 - authlib reads it
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> _RefreshRecord | None:
        server: OAuthServer = self.server
        if len(refresh_token) > 100:
            return None
        # Locked until commit: of concurrent uses of one token, the second is reuse.
        row = server.db.get(
            RefreshToken, token_hash(refresh_token), with_for_update=True, populate_existing=True
        )
        if row is None:
            return None
        session = server.db.get(Session, row.session_id)
        if session is None:
            return None
        if row.used_at is not None:
            # Reuse: either the client or a thief holds an old token. Revoke the family.
            server.sessions.revoke(session, "refresh_reuse")
            return None
        if session.revoked_at is not None or session.expires_at <= server.ctx.now():
            return None
        return _RefreshRecord(row, session)

    def authenticate_user(self, refresh_token: _RefreshRecord) -> GrantUser | None:
        server: OAuthServer = self.server
        account = server.db.get(Account, refresh_token.session.account_id)
        if account is None or account.status != "active":
            return None
        return GrantUser(account=account, session=refresh_token.session)

    def revoke_old_credential(self, refresh_token: _RefreshRecord) -> None:
        refresh_token.row.used_at = self.server.ctx.now()


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["none", "client_secret_basic"]  # noqa: RUF012 - authlib reads it

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return _query_token(self.server, token_string, token_type_hint)

    def revoke_token(self, token: Any, request: OAuth2Request) -> None:
        # Revoking either token of a session ends the session: its access tokens stop
        # working at once because every request checks the session.
        if token.session is not None:
            self.server.sessions.revoke(token.session, "revoked")
            current_draft().listed = True  # an action: journaled


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012 - authlib reads it

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return _query_token(self.server, token_string, token_type_hint)

    def check_permission(self, token: Any, client: Client, request: OAuth2Request) -> bool:
        return "introspection" in client.row.grant_types.split()

    def introspect_token(self, token: Any) -> dict[str, Any]:
        if isinstance(token, _AccessRecord):
            c = token.claims
            return {
                "active": True,
                "token_type": "Bearer",
                "client_id": c.client_id,
                "sub": str(c.account_id),
                "scope": c.scope,
                "iat": int(c.issued_at.timestamp()),
                "exp": int(c.expires_at.timestamp()),
                "jti": c.jti,
                "aud": AUDIENCE,
                "iss": self.server.ctx.settings.issuer,
            }
        session = token.session
        return {
            "active": True,
            "token_type": "refresh_token",
            "client_id": session.client_id,
            "sub": str(session.account_id),
            "scope": session.scope,
            "exp": int(session.expires_at.timestamp()),
        }


def _query_token(server: OAuthServer, token: str, hint: str | None) -> Any:
    if len(token) > 4096:
        return None
    if token.startswith("v4.local."):
        try:
            claims = server.ctx.keyring.verify(token, server.ctx.now())
        except NotAuthenticated:
            return None
        return _AccessRecord(claims, server.db.get(Session, claims.session_id))
    row = server.db.get(RefreshToken, token_hash(token))
    if row is None:
        return None
    session = server.db.get(Session, row.session_id)
    return _RefreshRecord(row, session) if session is not None else None
