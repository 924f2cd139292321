"""R27: every check of a secret is behind the shield, not only the password. A run of
guesses at a step-up (someone holding a stolen session) or at a sign-in's second
step is answered with proofs of work after a few failures, as the password is; the
owner at rest pays nothing, and the SDK solves the proof when it is asked."""

from __future__ import annotations

from collections.abc import Iterator

import pyotp
import pytest
from fastapi.testclient import TestClient

from tests.server_fixtures import BASE_URL, oathtool
from uhealthsec.client.proof_of_work import HEADER, solve
from uhealthsec.server.app import create_app
from uhealthsec.server.auth.factors import FACTOR_BUDGET
from uhealthsec.server.shield import service as shield


@pytest.fixture
def from_ip(ctx) -> Iterator:
    clients: list[TestClient] = []

    def make(ip: str) -> TestClient:
        client = TestClient(create_app(ctx=ctx), base_url=BASE_URL, client=(ip, 40000))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _wrong(secret: str, clock) -> str:
    valid = pyotp.TOTP(secret)
    return next(
        f"{n:06d}"
        for n in range(1000)
        if not valid.verify(f"{n:06d}", for_time=clock.now, valid_window=1)
    )


def _asks_proof(answer) -> dict:
    assert answer.status_code == 429, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return answer.json()["challenge"]


def test_r27_a_guessing_run_at_step_up_is_stopped(users, sdk, clock, from_ip):
    """The adversarial review guessed step-up codes with a stolen session: past the
    factor budget's lock, each further guess now costs a proof of work first."""
    user = users.signed_in("stolen@example.org")
    bearer = sdk.bearer(user.tokens)
    client = from_ip("192.0.2.44")

    def guess(code: str, **headers: str):
        return client.post("/auth/step-up", json={"totp_code": code}, headers=bearer | headers)

    for _ in range(FACTOR_BUDGET):  # just under: each guess is checked, and refused
        assert guess(_wrong(user.totp_secret, clock)).status_code == 401
    locked = guess(_wrong(user.totp_secret, clock))
    assert locked.status_code == 429 and "challenge" not in locked.json()  # the factor lock
    clock.advance(seconds=61)  # the lock ends; the address's backoff (30 s) too
    assert guess(_wrong(user.totp_secret, clock)).status_code == 401
    # The next guess, within the doubled backoff, is not checked without a proof.
    challenge = _asks_proof(guess(_wrong(user.totp_secret, clock)))
    assert challenge["parameters"]["data"]["endpoint"] == "step-up"
    assert challenge["parameters"]["data"]["cost"] == shield.COSTS[2]
    solved = guess(_wrong(user.totp_secret, clock), **{HEADER: solve(challenge)})
    assert solved.status_code == 401  # checked, and counted
    _asks_proof(guess(_wrong(user.totp_secret, clock)))

    # The owner goes on: the SDK solves the proof the shield asks for.
    token = sdk.step_up(user.tokens, totp_code=oathtool(user.totp_secret, clock.now))
    assert token
    # A success ends the run: the next step-up pays nothing.
    clock.advance(seconds=30)
    rest = guess(oathtool(user.totp_secret, clock.now))
    assert rest.status_code == 200, rest.text


def test_r27_second_factors_guessed_from_one_network_ask_for_proof(
    users, sdk, clock, from_ip, monkeypatch
):
    """Guesses at the second step of sign-ins from one network drain its bucket: the
    next second factor from there, whoever's, is checked only with a proof of work."""
    monkeypatch.setattr(shield, "NETWORK_CAPACITY", 2.0)  # 20: a shorter test
    monkeypatch.setattr(shield, "NETWORK_REFILL_PER_SECOND", 0.0)  # the next code's 30 s
    guessed = users.signed_in("guessed@example.org")
    owner = users.signed_in("owner@example.org")
    client = from_ip("198.51.100.7")

    def second_factor(login, code: str, **headers: str):
        body = {"ticket": login.ticket, "totp_code": code}
        return client.post("/auth/login/second-factor", json=body, headers=headers)

    login = sdk.start_login(guessed.email, guessed.password)
    for _ in range(2):  # the bucket's last tokens: checked, refused
        assert second_factor(login, _wrong(guessed.totp_secret, clock)).status_code == 401
    owners = sdk.start_login(owner.email, owner.password)
    clock.advance(seconds=30)  # a fresh code: the one of the enrolment was used
    right = oathtool(owner.totp_secret, clock.now)
    challenge = _asks_proof(second_factor(owners, right))
    assert challenge["parameters"]["data"]["endpoint"] == "second-factor"
    assert second_factor(owners, right, **{HEADER: solve(challenge)}).status_code == 200
    # Another network is not slowed.
    elsewhere = from_ip("203.0.113.80")
    login = sdk.start_login(owner.email, owner.password)
    clock.advance(seconds=30)
    body = {"ticket": login.ticket, "totp_code": oathtool(owner.totp_secret, clock.now)}
    assert elsewhere.post("/auth/login/second-factor", json=body).status_code == 200


def test_r27_at_rest_a_second_factor_pays_nothing(users, sdk, clock, from_ip):
    user = users.signed_in("rest@example.org")
    client = from_ip("203.0.113.5")
    login = sdk.start_login(user.email, user.password)
    clock.advance(seconds=30)
    body = {"ticket": login.ticket, "totp_code": oathtool(user.totp_secret, clock.now)}
    assert client.post("/auth/login/second-factor", json=body).status_code == 200


def test_r27_a_step_up_sent_again_with_its_proof_and_idempotency_key_is_carried_out(
    users, sdk, clock, client
):
    """The web client sends the request again as it was (its Idempotency-Key too) with
    the proof: the 429 carried nothing out, so the key must not answer it as done."""
    user = users.signed_in("keyed@example.org")
    bearer = sdk.bearer(user.tokens)

    def step_up(code: str, **headers: str):
        return client.post("/auth/step-up", json={"totp_code": code}, headers=bearer | headers)

    for _ in range(shield.BACKOFF_AFTER):
        step_up(_wrong(user.totp_secret, clock))
    clock.advance(seconds=61)  # past the factor lock; the backoff doubles at the next
    assert step_up(_wrong(user.totp_secret, clock)).status_code == 401
    key = {"Idempotency-Key": '"0b7e2f4c-9a51-4d3e-8f60-2c1d5e7a9b13"'}
    code = oathtool(user.totp_secret, clock.now)
    challenge = _asks_proof(step_up(code, **key))
    stepped = step_up(code, **key, **{HEADER: solve(challenge)})
    assert stepped.status_code == 200, stepped.text
    assert "access_token" in stepped.json()
