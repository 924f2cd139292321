"""Registration and sign-in speak the protocol's models (protocol/signin.py) on both
sides: the server validates the bodies the SDK writes with the very models the SDK
writes them from, and the SDK refuses an answer that does not fit them."""

from __future__ import annotations

import json

import httpx2
import pytest

from tests.server_fixtures import FAST_ARGON2
from uhealthsec.client.api import AuthClient, LoginState, Tokens
from uhealthsec.client.errors import MalformedAnswer
from uhealthsec.protocol import signin
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.server.accounts import schemas as accounts
from uhealthsec.server.auth import schemas as auth

PARAMS = FAST_ARGON2
TICKET = "t" * 20


def test_the_server_validates_with_the_protocol_models():
    assert accounts.RegistrationIn is signin.RegistrationIn
    assert accounts.EmailVerificationIn is signin.EmailVerificationIn
    assert auth.PreloginIn is signin.PreloginIn
    assert auth.LoginOut is signin.LoginOut
    assert issubclass(auth.LoginIn, signin.LoginIn)
    assert issubclass(auth.LoginSecondFactorIn, signin.LoginSecondFactorIn)
    assert auth.TokenOut is signin.TokenOut and auth.AccessTokenOut is signin.AccessTokenOut
    assert auth.FactorChangeNonceOut is signin.FactorChangeNonceOut
    assert accounts.KeystoreOut is signin.KeystoreOut


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            {"access_token": "a", "token_type": "Bearer", "expires_in": 60, "scope": ""},
            "no refresh",
        ),
        ({"access_token": "a", "token_type": "Bearer", "scope": ""}, "expires_in"),
    ],
)
def test_a_token_answer_that_does_not_fit_is_refused(answer, reason):
    client = _client(Recorder({"/oauth/token": answer}))
    with pytest.raises(MalformedAnswer, match=reason):
        client.refresh(Tokens("a", "r", 60, ""))


class Recorder:
    """A server that answers each path from ``answers`` and keeps the bodies it got."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers
        self.bodies: dict[str, object] = {}

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        form = request.headers.get("content-type", "").startswith("application/x-www-form")
        content = request.content or b"null"
        self.bodies[request.url.path] = content.decode() if form else json.loads(content)
        return httpx2.Response(200, json=self.answers.get(request.url.path, {}))


def _client(server: Recorder) -> AuthClient:
    return AuthClient(
        httpx2.Client(base_url="http://uhs.test", transport=httpx2.MockTransport(server))
    )


def test_the_bodies_the_sdk_writes_are_what_the_server_accepts():
    prelogin = {"argon2_params": b64u_encode(PARAMS.encode())}
    started = {
        "ticket": TICKET,
        "expires_at": "2026-01-01T00:00:00Z",
        "methods": ["totp"],
        "enrolment_required": False,
        "complete": True,
    }
    server = Recorder({"/auth/prelogin": prelogin, "/auth/login": started})
    sdk = _client(server)
    state = sdk.start_login("alice@example.org", "a password", {"totp_code": "123456"})
    assert state.ticket == TICKET and state.methods == ["totp"] and state.complete
    sdk.second_factor(state, recovery_code="r" * 12)
    sdk.register(
        "bob@example.org",
        "correct horse battery staple lamp",
        "Bob",
        "patient",
        params=PARAMS,
        invitation="i" * 20,
    )
    login = auth.LoginIn.model_validate(server.bodies["/auth/login"])
    assert login.second_factor is not None and login.second_factor.proof().totp_code == "123456"
    step = auth.LoginSecondFactorIn.model_validate(server.bodies["/auth/login/second-factor"])
    assert step.ticket == TICKET and step.proof().recovery_code == "r" * 12
    registration = server.bodies["/accounts/registrations"]
    assert "rpps" not in registration  # left out, as before, when not given
    assert accounts.RegistrationIn.model_validate(registration).invitation == "i" * 20


@pytest.mark.parametrize(
    ("answers", "call"),
    [
        (
            {"/auth/prelogin": {"argon2_params": 5}},
            lambda sdk: sdk.derive_auth_secret("a@b.c", "x"),
        ),
        (
            {"/auth/login/enrol/totp": {"secret": "S"}},
            lambda sdk: sdk.enrol_totp(LoginState(TICKET, [], True, b"")),
        ),
        (
            {"/auth/login/enrol/totp/confirm": {"recovery_codes": "not a list"}},
            lambda sdk: sdk.confirm_totp(LoginState(TICKET, [], True, b""), "123456"),
        ),
    ],
)
def test_an_answer_that_does_not_fit_its_model_is_refused(answers, call):
    with pytest.raises(MalformedAnswer, match="malformed"):
        call(_client(Recorder(answers)))
