"""The Python SDK's account and sign-in calls. All cryptography happens here, on the
device: the server receives the sealed keystore and a password-derived secret, never
the password or a private key."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2

from uhealthsec.client.errors import ApiError, MalformedAnswer, SecondFactorRequired, WeakPassword
from uhealthsec.client.password_recovery import PasswordRecovery, PasswordRecoveryCalls
from uhealthsec.client.passwords import check_new_password
from uhealthsec.client.transport import (
    IDEMPOTENCY_KEY_HEADER,
    RetryUnavailable,
    check_response,
    http_client,
    idempotency_key,
    post_with_proof,
)
from uhealthsec.client.wire import body, parse
from uhealthsec.crypto.factor_change import FactorAction, FactorChange
from uhealthsec.crypto.keys import UserKeys
from uhealthsec.crypto.keystore import (
    Argon2Params,
    Keystore,
    NewKeystore,
    change_password,
    create_keystore,
    derive_password_secrets,
    unlock_with_password,
)
from uhealthsec.crypto.keystore_change import KeystoreChange
from uhealthsec.protocol.accounts import AccountKind, AccountOut
from uhealthsec.protocol.consent import NoticeOut
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode
from uhealthsec.protocol.oauth import CLI_CLIENT_ID, CLI_REDIRECT_URI
from uhealthsec.protocol.signin import (
    AccessTokenOut,
    EmailVerificationIn,
    FactorChangeNonceOut,
    KeystoreOut,
    LoginIn,
    LoginOut,
    LoginSecondFactorIn,
    LoginTotpConfirmIn,
    PreloginIn,
    PreloginOut,
    RecoveryCodesOut,
    RegistrationIn,
    SecondFactorIn,
    TicketIn,
    TokenOut,
    TotpEnrolmentOut,
)

#: Besides the sign-in calls, the transport's names that the SDK's users have always
#: imported from here.
__all__ = [
    "IDEMPOTENCY_KEY_HEADER",
    "ApiError",
    "AuthClient",
    "BrowserStep",
    "LoginState",
    "PasswordRecovery",
    "RetryUnavailable",
    "SecondFactorRequired",
    "Tokens",
    "WeakPassword",
    "check_response",
    "http_client",
    "idempotency_key",
    "pkce_pair",
    "post_with_proof",
]


@dataclass
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    scope: str = ""


@dataclass
class LoginState:
    """A sign-in in progress on this device."""

    ticket: str
    methods: list[str]
    enrolment_required: bool
    auth_secret: bytes = field(repr=False)
    #: The second factor was proven with the password (SecondFactorRequired).
    complete: bool = False


@dataclass(frozen=True)
class BrowserStep:
    """A round trip through a browser: open ``url``, then hand back where it landed."""

    url: str
    state: str
    verifier: str = field(repr=False)


def _redirect_result(location: str, state: str, name: str) -> str:
    """The ``name`` parameter of an OAuth redirect, after checking its state."""
    query = parse_qs(urlsplit(location).query)
    if query.get("state") != [state]:
        raise ApiError(400, "the authorization response carries another state")
    if name not in query:
        raise ApiError(400, query.get("error_description", query.get("error", ["refused"]))[0])
    return query[name][0]


def pkce_pair() -> tuple[str, str]:
    """RFC 7636 S256: a random verifier and its challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = b64u_encode(hashlib.sha256(verifier.encode("ascii")).digest())
    return verifier, challenge


class AuthClient(PasswordRecoveryCalls):
    def __init__(
        self,
        http: httpx2.Client,
        client_id: str = CLI_CLIENT_ID,
        redirect_uri: str = CLI_REDIRECT_URI,
    ) -> None:
        self.http = http
        self.client_id = client_id
        self.redirect_uri = redirect_uri

    # -- registration ---------------------------------------------------------------------

    def register(
        self,
        email: str,
        password: str,
        display_name: str,
        kind: str,
        *,
        rpps: str | None = None,
        invitation: str | None = None,
        notice_version: int | None = None,
        params: Argon2Params | None = None,
    ) -> NewKeystore:
        """Create keys and keystore locally, then register. The caller must show the
        returned recovery key to the user once (client/recovery.py). With a patient's
        invitation, ``notice_version`` is the version of the practice's information
        notice (``invitation_notice``) the caller showed the user."""
        verdict = check_new_password(password, (email, display_name))
        if not verdict.acceptable:
            raise WeakPassword(verdict.reason)
        new = create_keystore(password, params=params) if params else create_keystore(password)
        fields: dict[str, Any] = {
            "email": email,
            "display_name": display_name,
            "kind": AccountKind(kind),
            "auth_secret": new.auth_secret,
            "keystore": new.keystore.encode(),
        }
        fields.update({k: v for k, v in (("rpps", rpps), ("invitation", invitation)) if v})
        if notice_version is not None:
            fields["notice_version"] = notice_version
        # Built unvalidated (model_construct), here as for every sign-in request: the
        # server judges what the user typed, and its refusal is a problem document.
        request = RegistrationIn.model_construct(**fields)
        check_response(post_with_proof(self.http, "/accounts/registrations", body(request)))
        return new

    def invitation_notice(self, code: str) -> NoticeOut:
        """The notice a patient reads before joining by invitation ``code`` (R11)."""
        answer = check_response(self.http.post("/invitations/notice", json={"code": code}))
        return parse(NoticeOut, answer, ApiError, "a notice")

    def verify_email(self, code: str, email: str, password: str) -> None:
        """Confirm the address: the mailed code, with the password of the registration
        it confirms (a code mailed for someone else's registration is refused)."""
        secret = self.derive_auth_secret(email, password)
        request = EmailVerificationIn.model_construct(code=code, auth_secret=secret)
        check_response(self.http.post("/accounts/email-verifications", json=body(request)))

    # -- sign-in --------------------------------------------------------------------------

    def derive_auth_secret(self, email: str, password: str) -> bytes:
        request = PreloginIn.model_construct(email=email)
        answer = check_response(self.http.post("/auth/prelogin", json=body(request)))
        prelogin = parse(PreloginOut, answer, MalformedAnswer, "the password's parameters")
        params = Argon2Params.decode(prelogin.argon2_params)
        return derive_password_secrets(password, params).auth_secret

    def start_login(
        self, email: str, password: str, second_factor: dict[str, Any] | None = None
    ) -> LoginState:
        """Check the password; ``second_factor`` ({"totp_code": …}, {"recovery_code": …}
        or {"webauthn": …} over :meth:`passkey_options`) is checked first, and the
        returned state is then already complete (SecondFactorRequired asks for one)."""
        secret = self.derive_auth_secret(email, password)
        fields: dict[str, Any] = {"email": email, "auth_secret": secret}
        if second_factor:
            fields["second_factor"] = SecondFactorIn.model_construct(**second_factor)
        request = LoginIn.model_construct(**fields)
        response = post_with_proof(self.http, "/auth/login", body(request))
        if response.status_code == 401 and response.json().get("second_factor_required"):
            raise SecondFactorRequired(401, response.json()["detail"], response.json())
        started = parse(LoginOut, check_response(response), MalformedAnswer, "the sign-in")
        return LoginState(
            started.ticket, started.methods, started.enrolment_required, secret, started.complete
        )

    def passkey_options(self, email: str) -> dict[str, Any]:
        """WebAuthn request options for a passkey sent with the password:
        ``start_login(email, password, {"webauthn": <assertion over these>})``."""
        response = post_with_proof(self.http, "/auth/login/passkey-options", {"email": email})
        return dict(check_response(response).json())

    def enrol_totp(self, login: LoginState) -> dict[str, str]:
        request = TicketIn.model_construct(ticket=login.ticket)
        answer = check_response(self.http.post("/auth/login/enrol/totp", json=body(request)))
        enrolment = parse(TotpEnrolmentOut, answer, MalformedAnswer, "the authenticator app")
        return enrolment.model_dump()

    def confirm_totp(self, login: LoginState, code: str) -> list[str]:
        request = LoginTotpConfirmIn.model_construct(ticket=login.ticket, code=code)
        answer = self.http.post("/auth/login/enrol/totp/confirm", json=body(request))
        return _recovery_codes(answer)

    def second_factor(self, login: LoginState, **proof: Any) -> None:
        """Prove the second factor of a sign-in: ``totp_code=…``, ``recovery_code=…``
        or ``webauthn=…`` (an assertion)."""
        request = LoginSecondFactorIn.model_construct(ticket=login.ticket, **proof)
        check_response(post_with_proof(self.http, "/auth/login/second-factor", body(request)))

    def authorize(self, login: LoginState, device_name: str = "") -> Tokens:
        """Exchange a completed sign-in for tokens: authorization code with PKCE."""
        params, state, verifier = self._authorization_request(device_name)
        response = self.http.post(
            "/oauth/authorize",
            data={**params, "ticket": login.ticket},
            follow_redirects=False,
        )
        if response.status_code != 302:
            check_response(response)
            raise ApiError(response.status_code, "the authorization endpoint did not redirect")
        code = _redirect_result(response.headers["location"], state, "code")
        return self.exchange_code(code, verifier)

    # -- professional identity provider (e-CPS / Pro Santé Connect) -----------------------

    def federated_login_url(self, device_name: str = "") -> BrowserStep:
        """Where to send the browser to sign in with the professional identity provider;
        finish with :meth:`finish_federated_login` and the URL it is redirected to."""
        params, state, verifier = self._authorization_request(device_name)
        url = str(self.http.build_request("GET", "/auth/federated/authorize", params=params).url)
        return BrowserStep(url, state, verifier)

    def _authorization_request(self, device_name: str) -> tuple[dict[str, str], str, str]:
        """RFC 6749 §4.1.1 parameters with a fresh state and PKCE S256 challenge; returns
        them with the state and the verifier to keep."""
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": state,
            "scope": "api",
            "device_name": device_name,
        }
        return params, state, verifier

    def finish_federated_login(self, step: BrowserStep, redirected_to: str) -> Tokens:
        code = _redirect_result(redirected_to, step.state, "code")
        return self.exchange_code(code, step.verifier)

    def start_link(self, tokens: Tokens) -> BrowserStep:
        """Link the signed-in account to a professional identity (needs a recent second
        factor: see /auth/step-up). Send the browser to the returned URL."""
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        body = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "state": state,
            "code_challenge": challenge,
        }
        response = check_response(
            self.http.post("/auth/federated/links", json=body, headers=self.bearer(tokens))
        )
        return BrowserStep(response.json()["authorization_url"], state, verifier)

    def finish_link(
        self, tokens: Tokens, keys: UserKeys | str, step: BrowserStep, redirected_to: str
    ) -> dict[str, Any]:
        """Redeem the link code the browser came back with, signed with the account's
        keys (or the password to unlock them): a linked e-CPS signs in without the
        password or a second factor (docs/PROTOCOL.md, 16.4)."""
        link_code = _redirect_result(redirected_to, step.state, "link_code")
        change = self._factor_change(tokens, keys, FactorAction.LINK_E_CPS, link_code.encode())
        response = self.http.post(
            "/auth/federated/links/complete",
            json={"link_code": link_code, "code_verifier": step.verifier, "change": change},
            headers=self.bearer(tokens),
        )
        return dict(check_response(response).json())

    def unlink(self, tokens: Tokens | str, keys: UserKeys | str, identity_id: str) -> None:
        """Remove a linked professional identity, signed as a link is."""
        identity = uuid.UUID(identity_id)
        change = self._factor_change(tokens, keys, FactorAction.UNLINK_E_CPS, identity.bytes)
        path = f"/auth/federated/identities/{identity}"
        check_response(self.http.request("DELETE", path, json=change, headers=self.bearer(tokens)))

    def exchange_code(self, code: str, verifier: str) -> Tokens:
        return self._token_request(
            grant_type="authorization_code",
            code=code,
            redirect_uri=self.redirect_uri,
            code_verifier=verifier,
        )

    def refresh(self, tokens: Tokens) -> Tokens:
        return self._token_request(grant_type="refresh_token", refresh_token=tokens.refresh_token)

    def _token_request(self, **form: str) -> Tokens:
        response = self.http.post("/oauth/token", data={**form, "client_id": self.client_id})
        token = parse(TokenOut, check_response(response), MalformedAnswer, "the tokens")
        if token.refresh_token is None:
            raise MalformedAnswer("the server's answer for the tokens has no refresh token")
        return Tokens(token.access_token, token.refresh_token, token.expires_in, token.scope)

    def revoke(self, tokens: Tokens) -> None:
        check_response(
            self.http.post(
                "/oauth/revoke",
                data={
                    "token": tokens.refresh_token,
                    "token_type_hint": "refresh_token",
                    "client_id": self.client_id,
                },
            )
        )

    # -- signed in ------------------------------------------------------------------------

    @staticmethod
    def bearer(tokens: Tokens | str) -> dict[str, str]:
        token = tokens if isinstance(tokens, str) else tokens.access_token
        return {"Authorization": f"Bearer {token}"}

    def step_up(self, tokens: Tokens | str, **proof: Any) -> str:
        """Prove a second factor again (``totp_code=…`` or ``recovery_code=…``); the
        returned access token allows sensitive actions for a few minutes."""
        response = post_with_proof(self.http, "/auth/step-up", proof, self.bearer(tokens))
        return parse(
            AccessTokenOut, check_response(response), MalformedAnswer, "the step-up"
        ).access_token

    def change_password(
        self,
        tokens: Tokens | str,
        current: str,
        new: str,
        user_inputs: tuple[str, ...] = (),
        params: Argon2Params | None = None,
    ) -> None:
        """Re-seal the keys under a new password, on this device, and sign the change
        with the signing key they hold (the server accepts no other). The new password
        is refused here if weak, common or leaked (client/passwords.py): the server never
        sees it. ``tokens`` must come from a recent step-up."""
        verdict = check_new_password(new, user_inputs)
        if not verdict.acceptable:
            raise WeakPassword(verdict.reason)
        keystore = self.keystore(tokens)
        keys = unlock_with_password(keystore, current)
        resealed, auth_secret = (
            change_password(keystore, keys, new, params=params)
            if params
            else change_password(keystore, keys, new)
        )
        me = self._me(tokens)
        change = KeystoreChange(me.id, keystore.encode(), resealed.encode(), auth_secret)
        body = {
            "auth_secret": b64u_encode(auth_secret),
            "keystore": b64u_encode(resealed.encode()),
            "signature": b64u_encode(change.sign(keys.signing)),
        }
        check_response(
            self.http.put("/accounts/me/password", json=body, headers=self.bearer(tokens))
        )

    # -- second factors (each change signed by the keystore's key: PROTOCOL 16.4) -------

    def _factor_change(
        self, tokens: Tokens | str, keys: UserKeys | str, action: FactorAction, subject: bytes
    ) -> dict[str, str]:
        """The signed consent a change of factors carries. ``keys`` are the unlocked
        keys, or the password to unlock them with; ``tokens`` from a recent step-up."""
        if isinstance(keys, str):
            keys = unlock_with_password(self.keystore(tokens), keys)
        me = self._me(tokens)
        answer = self.http.post("/auth/factors/change-nonce", headers=self.bearer(tokens))
        nonce = parse(
            FactorChangeNonceOut, check_response(answer), MalformedAnswer, "the change's nonce"
        ).nonce
        change = FactorChange(me.id, action, subject, nonce)
        return {"nonce": b64u_encode(nonce), "signature": b64u_encode(change.sign(keys.signing))}

    def begin_totp(self, tokens: Tokens | str) -> dict[str, str]:
        """Start adding an authenticator app: its secret, URI and QR code to show."""
        response = self.http.post("/auth/factors/totp", headers=self.bearer(tokens))
        return dict(check_response(response).json())

    def add_totp(self, tokens: Tokens | str, keys: UserKeys | str, secret: str, code: str) -> None:
        """Finish adding the app of :meth:`begin_totp` with a code it shows."""
        change = self._factor_change(tokens, keys, FactorAction.ADD_TOTP, secret.encode())
        response = self.http.post(
            "/auth/factors/totp/confirm",
            json={"code": code, "change": change},
            headers=self.bearer(tokens),
        )
        check_response(response)

    def remove_totp(self, tokens: Tokens | str, keys: UserKeys | str) -> None:
        change = self._factor_change(tokens, keys, FactorAction.REMOVE_TOTP, b"")
        check_response(
            self.http.request(
                "DELETE", "/auth/factors/totp", json=change, headers=self.bearer(tokens)
            )
        )

    def passkey_registration_options(self, tokens: Tokens | str) -> dict[str, Any]:
        """Options for navigator.credentials.create() to add a passkey."""
        response = self.http.post("/auth/factors/webauthn-options", headers=self.bearer(tokens))
        return dict(check_response(response).json())

    def add_passkey(
        self,
        tokens: Tokens | str,
        keys: UserKeys | str,
        credential: dict[str, Any],
        name: str = "Security key",
    ) -> None:
        """Add the passkey ``credential`` (the authenticator's answer to
        :meth:`passkey_registration_options`)."""
        subject = b64u_decode(credential["rawId"])
        change = self._factor_change(tokens, keys, FactorAction.ADD_PASSKEY, subject)
        response = self.http.post(
            "/auth/factors/webauthn",
            json={"credential": credential, "name": name, "change": change},
            headers=self.bearer(tokens),
        )
        check_response(response)

    def remove_passkey(self, tokens: Tokens | str, keys: UserKeys | str, key_id: str) -> None:
        key = uuid.UUID(key_id)
        change = self._factor_change(tokens, keys, FactorAction.REMOVE_PASSKEY, key.bytes)
        check_response(
            self.http.request(
                "DELETE", f"/auth/factors/webauthn/{key}", json=change, headers=self.bearer(tokens)
            )
        )

    def renew_recovery_codes(self, tokens: Tokens | str, keys: UserKeys | str) -> list[str]:
        """Replace every recovery code; the new ones are shown once."""
        change = self._factor_change(tokens, keys, FactorAction.RENEW_RECOVERY_CODES, b"")
        response = self.http.post("/auth/recovery-codes", json=change, headers=self.bearer(tokens))
        return _recovery_codes(response)

    def keystore(self, tokens: Tokens | str) -> Keystore:
        response = check_response(
            self.http.get("/accounts/me/keystore", headers=self.bearer(tokens))
        )
        return Keystore.decode(
            parse(KeystoreOut, response, MalformedAnswer, "the keystore").keystore
        )

    def _me(self, tokens: Tokens | str) -> AccountOut:
        """The signed-in account, whose id a signed change names."""
        answer = check_response(self.http.get("/accounts/me", headers=self.bearer(tokens)))
        return parse(AccountOut, answer, MalformedAnswer, "your account")


def _recovery_codes(answer: httpx2.Response) -> list[str]:
    """The recovery codes a server answered with, to show once."""
    return parse(
        RecoveryCodesOut, check_response(answer), MalformedAnswer, "recovery codes"
    ).recovery_codes
