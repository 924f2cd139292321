"""The proof-of-work format against our stored vectors (tests/vectors/proof_of_work.json),
computed with argon2-cffi's low-level Argon2id, hashlib and hmac alone: what a second
client (the web client) checks itself against, and what the altcha library we build
on must agree with."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from altcha import v2 as altcha

from tests.conftest import load_vectors
from uhealthsec.client.proof_of_work import solve
from uhealthsec.server.shield.challenges import (
    ChallengeBook,
    ChallengeRefused,
    canonical,
    key_signature_secret,
)

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
def test_the_client_finds_the_vector_counter(vector):
    header = solve(vector["challenge"])
    payload = json.loads(base64.b64decode(header))
    assert payload == json.loads(base64.b64decode(vector["header"]))
    assert payload["solution"] == {
        "counter": vector["counter"],
        "derivedKey": vector["derived_key"],
    }


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["endpoint"])
def test_the_altcha_library_agrees_with_the_vectors(vector):
    """altcha's canonical JSON, its Argon2id and its verifier (the path the ALTCHA
    widget's payloads take elsewhere) give the vectors' bytes."""
    parameters = vector["challenge"]["parameters"]
    signed = vector["signed_parameters"]
    assert canonical(parameters).decode() == signed
    assert altcha._canonical_json(parameters) == signed
    derived = altcha.derive_key_argon2id(
        altcha.ChallengeParameters.from_dict(parameters),
        bytes.fromhex(parameters["salt"]),
        bytes.fromhex(parameters["nonce"]) + vector["counter"].to_bytes(4, "big"),
    )
    assert derived.hex() == vector["derived_key"]
    result = altcha.verify_solution(
        altcha.Payload.from_base64(vector["header"]),
        KEY,
        hmac_key_secret=key_signature_secret(KEY),
    )
    assert result.verified, vars(result)
