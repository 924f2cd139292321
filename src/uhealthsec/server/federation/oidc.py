"""OpenID Connect relying party for a professional identity provider (Pro Santé Connect
style): discovery, authorization code with PKCE and nonce, ID token checks, userinfo.

Everything a provider sends is checked before it is believed: the discovery document
must name the configured issuer; ID tokens must be signed with an asymmetric algorithm
by a key of the provider's JWKS, for our client, with our nonce, unexpired, and at an
accepted assurance level (``acr``, eIDAS substantial or high for e-CPS).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from pydantic import SecretStr

from uhealthsec.server.accounts.rpps import is_valid_rpps

#: Signature algorithms accepted for ID tokens: asymmetric only (never "none" or HS*,
#: whose key would be our own client secret).
SIGNING_ALGORITHMS = frozenset({"RS256", "PS256", "ES256", "EdDSA"})
#: Seconds of clock difference tolerated with the provider.
LEEWAY_SECONDS = 60
#: How long the discovery document and keys are reused before being fetched again.
METADATA_SECONDS = 3600
_MAX_RESPONSE_BYTES = 256 * 1024


class ProviderError(Exception):
    """The identity provider could not be reached or gave an answer we do not accept.

    The message is shown to the user; it never contains a token or a code.
    """


@dataclass(frozen=True)
class ProviderConfig:
    issuer: str
    client_id: str
    #: Masked in the config's repr; revealed only for the token request.
    client_secret: SecretStr
    redirect_uri: str
    scope: str
    acr_values: tuple[str, ...]
    #: The claim (ID token or userinfo) carrying the professional's national identifier.
    rpps_claim: str


@dataclass(frozen=True)
class VerifiedIdentity:
    """What the provider proved about the person who signed in."""

    issuer: str
    subject: str
    acr: str
    #: RPPS number when the provider gave one that passes the check digit.
    rpps: str | None
    auth_time: int | None


@dataclass
class _Cached:
    value: dict[str, Any]
    fetched_at: float


@dataclass
class OidcClient:
    config: ProviderConfig
    http: httpx2.Client
    monotonic: Callable[[], float] = field(default=time.monotonic)
    _metadata: _Cached | None = None
    _jwks: _Cached | None = None

    # -- discovery ----------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        if self._metadata and self.monotonic() - self._metadata.fetched_at < METADATA_SECONDS:
            return self._metadata.value
        issuer = self.config.issuer.rstrip("/")
        document = self._get_json(f"{issuer}/.well-known/openid-configuration")
        # OpenID Connect Discovery §4.3: the document must be the issuer's own.
        if document.get("issuer") != self.config.issuer:
            raise ProviderError("the identity provider's discovery document names another issuer")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(name), str):
                raise ProviderError(f"the identity provider publishes no {name}")
            _require_secure_url(document[name])
        self._metadata = _Cached(document, self.monotonic())
        return document

    def _key_set(self, refresh: bool = False) -> KeySet:
        if refresh or not self._jwks or self.monotonic() - self._jwks.fetched_at > METADATA_SECONDS:
            self._jwks = _Cached(self._get_json(self.metadata()["jwks_uri"]), self.monotonic())
        try:
            return KeySet.import_key_set(self._jwks.value)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ProviderError("the identity provider's key set is malformed") from exc

    # -- the flow -----------------------------------------------------------------------

    def authorization_url(self, state: str, nonce: str, code_challenge: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": self.config.redirect_uri,
            "scope": self.config.scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "acr_values": " ".join(self.config.acr_values),
        }
        endpoint = self.metadata()["authorization_endpoint"]
        separator = "&" if urlsplit(endpoint).query else "?"
        return endpoint + separator + urlencode(query)

    def exchange(self, code: str, code_verifier: str) -> dict[str, Any]:
        """Trade the provider's authorization code for its tokens (client_secret_basic)."""
        try:
            response = self.http.post(
                self.metadata()["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.config.redirect_uri,
                    "code_verifier": code_verifier,
                },
                auth=(self.config.client_id, self.config.client_secret.get_secret_value()),
                headers={"Accept": "application/json"},
            )
        except httpx2.HTTPError as exc:
            raise ProviderError("the identity provider could not be reached") from exc
        tokens = _json_body(response, "token")
        if not isinstance(tokens.get("id_token"), str) or not isinstance(
            tokens.get("access_token"), str
        ):
            raise ProviderError("the identity provider returned no ID token")
        return tokens

    def verify_id_token(
        self, id_token: str, nonce: str, access_token: str, now: datetime
    ) -> dict[str, Any]:
        algorithms = sorted(
            SIGNING_ALGORITHMS.intersection(
                self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
            )
        )
        if not algorithms:
            raise ProviderError("the identity provider signs ID tokens with no accepted algorithm")
        registry = JWSRegistry(algorithms=algorithms)
        try:
            try:
                token = jwt.decode(
                    id_token, self._key_set(), algorithms=algorithms, registry=registry
                )
            except JoseError:
                # The provider may have rotated its keys since we fetched them.
                token = jwt.decode(
                    id_token, self._key_set(refresh=True), algorithms=algorithms, registry=registry
                )
        except (JoseError, ValueError) as exc:
            raise ProviderError(
                "the identity provider's ID token has an invalid signature"
            ) from exc
        claims = CodeIDToken(
            token.claims,
            token.header,
            options={
                "iss": {"essential": True, "value": self.config.issuer},
                "aud": {"essential": True, "value": self.config.client_id},
                "sub": {"essential": True},
                "nonce": {"essential": True},
                "acr": {"essential": True, "values": list(self.config.acr_values)},
            },
            params={
                "nonce": nonce,
                "client_id": self.config.client_id,
                "access_token": access_token,
            },
        )
        try:
            claims.validate(now=int(now.timestamp()), leeway=LEEWAY_SECONDS)
        except JoseError as exc:
            claim = getattr(exc, "claim", None) or "a claim"
            if claim == "acr":
                raise ProviderError(
                    "the identity provider did not confirm a strong enough sign-in "
                    f"(accepted levels: {', '.join(self.config.acr_values)})"
                ) from exc
            raise ProviderError(f"the identity provider's ID token was refused ({claim})") from exc
        return dict(claims)

    def userinfo(self, access_token: str) -> dict[str, Any]:
        endpoint = self.metadata().get("userinfo_endpoint")
        if not isinstance(endpoint, str):
            return {}
        _require_secure_url(endpoint)
        try:
            response = self.http.get(
                endpoint,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        except httpx2.HTTPError as exc:
            raise ProviderError("the identity provider could not be reached") from exc
        return _json_body(response, "userinfo")

    def complete(
        self, code: str, code_verifier: str, nonce: str, now: datetime
    ) -> VerifiedIdentity:
        """The whole back channel: code → tokens → checked ID token → userinfo."""
        tokens = self.exchange(code, code_verifier)
        claims = self.verify_id_token(tokens["id_token"], nonce, tokens["access_token"], now)
        rpps_value = claims.get(self.config.rpps_claim)
        if rpps_value is None:
            info = self.userinfo(tokens["access_token"])
            # OpenID Connect Core §5.3.2: userinfo must be about the same subject.
            if info and info.get("sub") != claims["sub"]:
                raise ProviderError("the identity provider's userinfo is about someone else")
            rpps_value = info.get(self.config.rpps_claim)
        auth_time = claims.get("auth_time")
        return VerifiedIdentity(
            issuer=self.config.issuer,
            subject=str(claims["sub"]),
            acr=str(claims["acr"]),
            rpps=rpps_from_national_id(rpps_value),
            auth_time=auth_time if isinstance(auth_time, int) else None,
        )

    def _get_json(self, url: str) -> dict[str, Any]:
        _require_secure_url(url)
        try:
            response = self.http.get(url, headers={"Accept": "application/json"})
        except httpx2.HTTPError as exc:
            raise ProviderError("the identity provider could not be reached") from exc
        return _json_body(response, "metadata")


def rpps_from_national_id(value: object) -> str | None:
    """The RPPS number in a national professional identifier.

    Pro Santé Connect gives the identifier as "8" followed by the 11-digit RPPS; a bare
    RPPS is accepted too. Anything else (an ADELI number, garbage) gives ``None``.
    """
    if not isinstance(value, str):
        return None
    candidate = value[1:] if len(value) == 12 and value.startswith("8") else value
    return candidate if is_valid_rpps(candidate) else None


def _require_secure_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1", "localhost")
    ):
        return
    raise ProviderError("the identity provider must be reached over https")


def _json_body(response: httpx2.Response, what: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise ProviderError(f"the identity provider refused the {what} request")
    if len(response.content) > _MAX_RESPONSE_BYTES:
        raise ProviderError(f"the identity provider's {what} answer is too large")
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderError(f"the identity provider's {what} answer is not JSON") from exc
    if not isinstance(body, dict):
        raise ProviderError(f"the identity provider's {what} answer is not a JSON object")
    return body
