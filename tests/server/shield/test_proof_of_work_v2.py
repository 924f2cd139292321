"""ALTCHA v2 proofs of work as the shield checks them: bound to one endpoint, one
address, a few minutes and a cost, spent once, and checked with HMACs only, so that
no payload makes the server derive a key (docs/PROTOCOL.md 14)."""

from __future__ import annotations

import base64
import json

import pytest
from altcha import v2 as altcha
from fastapi.testclient import TestClient

from tests.server_fixtures import BASE_URL
from uhealthsec.client.proof_of_work import HEADER, solve
from uhealthsec.server.app import create_app
from uhealthsec.server.shield import challenges
from uhealthsec.server.shield import service as shield
from uhealthsec.server.shield.challenges import (
    ChallengeBook,
    ChallengeRefused,
)
from uhealthsec.server.shield.schemas import ProofRequiredOut
from uhealthsec.server.shield.service import Shield

SUBJECT = "c" * 32


@pytest.fixture
def book(ctx) -> ChallengeBook:
    with ctx.sessions() as db:
        return Shield(db, ctx).challenges


@pytest.fixture
def derivations(monkeypatch) -> list[int]:
    """The server's Argon2id runs (altcha's, through argon2-cffi), by memory size."""
    runs: list[int] = []
    original = altcha._argon2_hash_secret_raw

    def counted(**kwargs):
        runs.append(kwargs["memory_cost"])
        return original(**kwargs)

    monkeypatch.setattr(altcha, "_argon2_hash_secret_raw", counted)
    return runs


def payload_of(header: str) -> dict:
    return json.loads(base64.b64decode(header))


def header_of(payload: dict) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


def test_a_challenge_is_argon2id_with_a_secret_counter_in_the_upper_half(book, clock):
    for cost in (1, 2, 16):
        challenge = book.issue("login", SUBJECT, cost, clock.now)
        parameters = challenge["parameters"]
        assert (parameters["algorithm"], parameters["memoryCost"], parameters["cost"]) == (
            "ARGON2ID",
            challenges.MEMORY_KIB,
            challenges.TIME_COST,
        )
        assert parameters["data"] == {"endpoint": "login", "subject": SUBJECT, "cost": cost}
        counter = payload_of(solve(challenge))["solution"]["counter"]
        assert cost // 2 <= counter <= cost
    with pytest.raises(ValueError, match="cost"):
        book.issue("login", SUBJECT, challenges.MAX_COST + 1, clock.now)


def test_issuing_derives_one_key_and_checking_derives_none(book, clock, derivations):
    challenge = book.issue("login", SUBJECT, 2, clock.now)
    assert derivations == [challenges.MEMORY_KIB]
    proof = solve(challenge)
    wrong_key = payload_of(proof)
    wrong_key["solution"]["derivedKey"] = "00" * 32
    cheaper = json.loads(json.dumps(payload_of(proof)))
    cheaper["challenge"]["parameters"]["memoryCost"] = 8
    for refused in (header_of(wrong_key), header_of(cheaper)):
        with pytest.raises(ChallengeRefused, match="does not solve a challenge we issued"):
            book.check(refused, "login", SUBJECT, clock.now)
    assert book.check(proof, "login", SUBJECT, clock.now).cost == 2
    assert derivations == [challenges.MEMORY_KIB]  # the solver's own are the client's


def test_a_solution_by_altchas_own_solver_is_accepted(book, clock):
    """The payload the ALTCHA libraries (and widget) build is the one we parse."""
    challenge = book.issue("register", SUBJECT, 2, clock.now)
    solution = altcha.solve_challenge(altcha.Challenge.from_dict(challenge))
    assert solution is not None
    widget = altcha.Payload(altcha.Challenge.from_dict(challenge), solution).to_base64()
    assert "time" in payload_of(widget)["solution"]  # a float, as the widget sends it
    assert book.check(widget, "register", SUBJECT, clock.now).cost == 2


def test_a_v2_solution_is_accepted_once_and_replay_expiry_and_cost_are_refused(
    ctx, clock, derivations
):
    """Over HTTP: a sign-in without a User-Agent raises a signal (level 1)."""
    with TestClient(create_app(ctx=ctx), base_url=BASE_URL, client=("192.0.2.77", 40000)) as client:
        body = {"email": "someone@example.org", "auth_secret": "A" * 43}
        headers = {"user-agent": ""}

        def post(proof: str | None = None):
            extra = {HEADER: proof} if proof else {}
            return client.post("/auth/login", json=body, headers=headers | extra)

        asked = post()
        assert asked.status_code == 429
        document = ProofRequiredOut.model_validate(asked.json())
        assert document.challenge.parameters.data.cost == shield.COSTS[1]
        challenge = asked.json()["challenge"]
        proof = solve(challenge)
        before = len(derivations)
        assert post(proof).status_code == 401  # admitted: the password was checked
        replayed = post(proof)
        assert replayed.status_code == 429
        assert replayed.json()["challenge"]["signature"] != challenge["signature"]
        # A refusal costs the server the new challenge's one key, never a check's.
        assert len(derivations) == before + 1

        # A solution for a cheaper challenge than the shield asks now.
        with ctx.sessions() as db:
            service = Shield(db, ctx)
            subject = service._hmac("account", body["email"]).hex()[:32]
            cheap = service.challenges.issue("login", subject, shield.COSTS[1] - 1, clock.now)
        assert post(solve(cheap)).status_code == 429

        # For another endpoint, and after the five minutes.
        with ctx.sessions() as db:
            other = Shield(db, ctx).challenges.issue(
                "register", subject, shield.COSTS[1], clock.now
            )
        assert post(solve(other)).status_code == 429
        late = solve(post().json()["challenge"])
        clock.advance(minutes=5, seconds=1)
        assert post(late).status_code == 429
