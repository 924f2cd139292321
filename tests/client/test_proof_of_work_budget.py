"""A hostile server cannot choose what its proof of work costs the client
(docs/PROTOCOL.md 14): parameters above the client's bounds are refused before any
Argon2id, and the client stops after a bounded amount of work."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx2
import pytest

from uhealthsec.client import proof_of_work
from uhealthsec.client.api import post_with_proof
from uhealthsec.client.errors import UnsolvableChallenge
from uhealthsec.client.proof_of_work import solve
from uhealthsec.server.shield.challenges import ChallengeBook


def served() -> dict:
    """A challenge as our server serves it (cost 2)."""
    return ChallengeBook(b"k" * 32).issue("login", "0" * 32, 2, datetime.now(UTC))


def with_parameters(**changes: object) -> dict:
    challenge = served()
    return {**challenge, "parameters": {**challenge["parameters"], **changes}}


@pytest.fixture
def no_derivation(monkeypatch):
    def refuse(**kwargs):
        raise AssertionError(f"Argon2id ran with parameters the server chose: {kwargs}")

    monkeypatch.setattr(proof_of_work, "hash_secret_raw", refuse)


@pytest.mark.parametrize(
    "changes",
    [
        {"memoryCost": 1024 * 1024},  # 1 GiB
        {"memoryCost": proof_of_work.MAX_MEMORY_KIB + 1},
        {"cost": proof_of_work.MAX_TIME_COST + 1},
        {"parallelism": proof_of_work.MAX_PARALLELISM + 1},
        {"memoryCost": 8192.0},
        {"memoryCost": True},
        {"memoryCost": 16, "parallelism": 4},  # Argon2 needs 8 KiB per lane
        {"keyLength": 4096},
        {"keyPrefix": "0" * 130},
        {"nonce": "not hex"},
        {"salt": ""},
        {"algorithm": "SCRYPT"},
    ],
    ids=lambda changes: ",".join(f"{k}={v!r}"[:40] for k, v in changes.items()),
)
def test_parameters_above_the_bounds_are_refused_before_argon2(no_derivation, changes):
    with pytest.raises(UnsolvableChallenge):
        solve(with_parameters(**changes))


def test_a_v1_challenge_is_not_solved(no_derivation):
    v1 = {"algorithm": "SHA-256", "challenge": "0" * 64, "maxnumber": 10, "salt": "s"}
    with pytest.raises(UnsolvableChallenge, match="unknown proof of work"):
        solve(v1)


def test_a_challenge_without_a_solution_stops_after_the_work_budget(monkeypatch):
    tries = []

    def derive(**kwargs):
        tries.append(kwargs["memory_cost"])
        return bytes(kwargs["hash_len"])

    monkeypatch.setattr(proof_of_work, "hash_secret_raw", derive)
    # The largest memory the client accepts, and a prefix no derivation gives here.
    challenge = with_parameters(memoryCost=proof_of_work.MAX_MEMORY_KIB, keyPrefix="ff")
    with pytest.raises(UnsolvableChallenge, match="costs more than this client spends"):
        solve(challenge)
    assert len(tries) * proof_of_work.MAX_MEMORY_KIB == proof_of_work.MAX_WORK_KIB


def test_the_sdk_refuses_a_hostile_challenge_instead_of_paying_it(no_derivation):
    hostile_challenge = with_parameters(memoryCost=4 * 1024 * 1024)

    def hostile(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            429,
            json={"status": 429, "title": "Proof of work required", "challenge": hostile_challenge},
        )

    http = httpx2.Client(base_url="http://server", transport=httpx2.MockTransport(hostile))
    with pytest.raises(UnsolvableChallenge, match="memoryCost"):
        post_with_proof(http, "/auth/login", {"email": "camille@demo.test"})
