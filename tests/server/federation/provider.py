"""A real OpenID Connect provider on loopback, standing in for Pro Santé Connect.

Built on authlib's server side (authorization code + PKCE + OpenID Connect), it signs
ID tokens with its own RSA key, publishes discovery and JWKS, and serves userinfo with
the national identifier ("8" + RPPS). Instead of a sign-in page it approves whoever the
test says is holding their e-CPS, at the assurance level the test chooses; a test may
also make it misbehave (claims overridden, another signing key).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.serving import ServerThread
from uhealthsec.server.auth.oauth import FormRequest


@dataclass
class Professional:
    subject: str
    #: The national identifier as PSC gives it: "8" followed by the RPPS number.
    national_id: str


@dataclass
class _Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    redirect_uri: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str
    acr: str
    user: Professional
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> list[str]:
        return ["pop", "pin"]


class _User:
    def __init__(self, professional: Professional) -> None:
        self.professional = professional

    def get_user_id(self) -> str:
        return self.professional.subject


class TestProvider:
    """Start with ``start()``; configure who signs in with ``present``."""

    __test__ = False

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.issuer = ""  # known once started
        self.key = RSAKey.generate_key(2048, parameters={"kid": "psc-1", "use": "sig"})
        self.client = _Client(client_id, client_secret, redirect_uri)
        #: Who holds their e-CPS when the browser arrives; None cancels the sign-in.
        self.holder: Professional | None = None
        self.acr = "eidas2"
        #: Claims forced into the next ID tokens (to test the relying party's checks).
        self.id_token_overrides: dict[str, Any] = {}
        #: Sign ID tokens with this key instead of the published one.
        self.rogue_key: RSAKey | None = None
        self.codes: dict[str, _Code] = {}
        self.access_tokens: dict[str, Professional] = {}
        self.requests: list[dict[str, str]] = []
        self._serving = ServerThread(self.app())

    def present(self, professional: Professional | None, acr: str = "eidas2") -> None:
        self.holder = professional
        self.acr = acr

    # -- authlib ----------------------------------------------------------------------

    def _authorization_server(self) -> AuthorizationServer:
        provider = self

        class Server(AuthorizationServer):  # type: ignore[misc]
            def query_client(self, client_id: str) -> _Client | None:
                return provider.client if client_id == provider.client.client_id else None

            def save_token(self, token: dict[str, Any], request: Any) -> None:
                provider.access_tokens[token["access_token"]] = request.user.professional

            def create_oauth2_request(self, request: Any) -> Any:
                return request

            def handle_response(self, status: int, body: Any, headers: Any) -> Any:
                return status, body, list(headers)

            def send_signal(self, *args: Any, **kwargs: Any) -> None:
                return None

        class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012

            def save_authorization_code(self, code: str, request: Any) -> None:
                data = request.payload.data
                provider.codes[code] = _Code(
                    client_id=request.client.client_id,
                    redirect_uri=data["redirect_uri"],
                    scope=data.get("scope", ""),
                    nonce=data.get("nonce"),
                    code_challenge=data["code_challenge"],
                    acr=provider.acr,
                    user=request.user.professional,
                )

            def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
                return provider.codes.get(code)

            def delete_authorization_code(self, authorization_code: _Code) -> None:
                for key, value in list(provider.codes.items()):
                    if value is authorization_code:
                        del provider.codes[key]

            def authenticate_user(self, authorization_code: _Code) -> _User:
                return _User(authorization_code.user)

        class Pkce(CodeChallenge):  # type: ignore[misc]
            def get_authorization_code_challenge(self, authorization_code: _Code) -> str:
                return authorization_code.code_challenge

            def get_authorization_code_challenge_method(self, authorization_code: _Code) -> str:
                return "S256"

        class OpenId(OpenIDCode):  # type: ignore[misc]
            def resolve_client_private_key(self, client: _Client) -> RSAKey:
                return provider.rogue_key or provider.key

            def get_client_claims(self, client: _Client) -> dict[str, Any]:
                return {"iss": provider.issuer, "aud": [client.client_id]}

            def get_encode_header(self, client: _Client) -> dict[str, str]:
                key = provider.rogue_key or provider.key
                return {"alg": "RS256", "kid": str(key.kid)}

            def exists_nonce(self, nonce: str, request: Any) -> bool:
                return any(code.nonce == nonce for code in provider.codes.values())

            def generate_user_info(self, user: _User, scope: str) -> UserInfo:
                # Like PSC: the ID token names the subject; the identifier is in userinfo.
                return UserInfo(sub=user.professional.subject, **provider.id_token_overrides)

        server = Server(scopes_supported=["openid", "scope_all"])
        server.register_token_generator("default", _bearer_token)
        server.register_grant(CodeGrant, [Pkce(required=True), OpenId(require_nonce=True)])
        return server

    # -- HTTP -------------------------------------------------------------------------

    def app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            base = self.issuer
            return JSONResponse(
                {
                    "issuer": base,
                    "authorization_endpoint": f"{base}/authorize",
                    "token_endpoint": f"{base}/token",
                    "userinfo_endpoint": f"{base}/userinfo",
                    "jwks_uri": f"{base}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                    "acr_values_supported": ["eidas1", "eidas2", "eidas3"],
                }
            )

        async def jwks(request: Request) -> Response:
            return JSONResponse({"keys": [self.key.as_dict(private=False)]})

        async def authorize(request: Request) -> Response:
            query = dict(request.query_params)
            self.requests.append(query)
            if self.holder is None:
                target = add_params_to_uri(
                    query["redirect_uri"], [("error", "access_denied"), ("state", query["state"])]
                )
                return RedirectResponse(target, status_code=302)
            server = self._authorization_server()
            oauth_request = FormRequest("GET", str(request.url), request.headers, query)
            grant = server.get_consent_grant(oauth_request)
            status, _, headers = server.create_authorization_response(
                oauth_request, grant_user=_User(self.holder), grant=grant
            )
            return Response(status_code=status, headers=dict(headers))

        async def token(request: Request) -> Response:
            form = {k: str(v) for k, v in (await request.form()).items()}
            server = self._authorization_server()
            status, body, _ = server.create_token_response(
                FormRequest("POST", str(request.url), request.headers, form)
            )
            return JSONResponse(body, status_code=status)

        async def userinfo(request: Request) -> Response:
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            professional = self.access_tokens.get(token)
            if professional is None:
                return JSONResponse({"error": "invalid_token"}, status_code=401)
            return JSONResponse(
                {"sub": professional.subject, "SubjectNameID": professional.national_id}
            )

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/jwks", jwks),
                Route("/authorize", authorize),
                Route("/token", token, methods=["POST"]),
                Route("/userinfo", userinfo),
            ]
        )

    def start(self) -> None:
        self.issuer = self._serving.start().url

    def stop(self) -> None:
        self._serving.stop()


def _bearer_token(
    grant_type: str, client: Any, user: Any = None, scope: Any = None, **_: Any
) -> dict[str, Any]:
    return {
        "token_type": "Bearer",
        "access_token": secrets.token_urlsafe(32),
        "expires_in": 300,
        "scope": scope,
    }
