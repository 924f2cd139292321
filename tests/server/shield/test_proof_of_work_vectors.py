"""The proof-of-work format against our stored vectors (tests/vectors/proof_of_work.json),
computed with hashlib and hmac alone: what a second client (the web client) checks
itself against."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from tests.conftest import load_vectors
from uhealthsec.client.proof_of_work import solve
from uhealthsec.server.shield.challenges import ChallengeBook, ChallengeRefused

VECTORS = load_vectors("proof_of_work.json")
KEY = bytes.fromhex(VECTORS["hmac_key"])
BEFORE_EXPIRY = datetime.fromtimestamp(VECTORS["expires_unix"] - 60, UTC)


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["endpoint"])
def test_the_server_accepts_the_vector_header(vector):
    solved = ChallengeBook(KEY).check(
        vector["header"], vector["endpoint"], vector["subject"], BEFORE_EXPIRY
    )
    assert (solved.signature, solved.cost) == (vector["challenge"]["signature"], vector["cost"])
    with pytest.raises(ChallengeRefused, match="another request"):
        ChallengeBook(KEY).check(vector["header"], "other", vector["subject"], BEFORE_EXPIRY)
    with pytest.raises(ChallengeRefused, match="does not solve"):
        ChallengeBook(bytes(32)).check(
            vector["header"], vector["endpoint"], vector["subject"], BEFORE_EXPIRY
        )


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["endpoint"])
def test_the_client_finds_the_vector_number(vector):
    header = solve(vector["challenge"])
    payload = json.loads(base64.b64decode(header))
    assert payload == json.loads(base64.b64decode(vector["header"]))
    assert payload["number"] == vector["number"]
