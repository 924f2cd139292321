"""A hostile UHS-Proof-Of-Work header gets a 4xx problem, never a 500 (issue 15,
item 10): ChallengeBook.check parses every field to its exact shape first, and the
shield answers a refused solution 429 with a new challenge."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from uhealthsec.client.proof_of_work import solve
from uhealthsec.server.app import create_app
from uhealthsec.server.shield.challenges import ChallengeBook, ChallengeRefused

KEY = b"k" * 32
SUBJECT = "5" * 32
#: A genuine solution, to be broken field by field (cost 2: three tries at most),
#: made when the module is collected: checked as at that time, not minutes later.
ISSUED = datetime.now(UTC)
GOOD = json.loads(base64.b64decode(solve(ChallengeBook(KEY).issue("login", SUBJECT, 2, ISSUED))))


def _with(path: str, value: object) -> str:
    """GOOD with the field at ``path`` (dotted) set to ``value``, or removed (...)."""
    payload = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = payload
    for name in parents:
        node = node[name]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return json.dumps(payload)


#: Payloads (JSON text) of the wrong shape, each one change away from a good one.
PAYLOADS = {
    "v1": json.dumps(
        {
            "algorithm": "SHA-256",
            "challenge": "0" * 64,
            "number": 1,
            "salt": "x?expires=9999999999&cost=1&",
            "signature": "0" * 64,
        }
    ),
    "not-an-object": "[1, 2]",
    "not-json": "\u00e9\u00e9",
    "nan": _with("solution.time", 1).replace('"time": 1', '"time": NaN'),
    "deep": "[" * 700 + "]" * 700,
    "extra-top-level-key": _with("extra", 1),
    "no-solution": _with("solution", ...),
    "solution-a-list": _with("solution", [1]),
    "float-counter": _with("solution.counter", 1.0),
    "boolean-counter": _with("solution.counter", True),
    "negative-counter": _with("solution.counter", -1),
    "huge-counter": _with("solution.counter", 10**400),
    "infinite-counter": _with("solution.counter", 1).replace('"counter": 1', '"counter": 1e400'),
    "boolean-time": _with("solution.time", True),
    "string-time": _with("solution.time", "1"),
    "short-derived-key": _with("solution.derivedKey", "00" * 16),
    "upper-case-derived-key": _with("solution.derivedKey", GOOD["solution"]["derivedKey"].upper()),
    "non-ascii-derived-key": _with("solution.derivedKey", "\u00e9" * 64),
    "non-ascii-signature": _with("challenge.signature", "\u00e9" * 64),
    "signature-a-number": _with("challenge.signature", 0),
    "algorithm-sha256": _with("challenge.parameters.algorithm", "SHA-256"),
    "algorithm-scrypt": _with("challenge.parameters.algorithm", "SCRYPT"),
    "float-memory": _with("challenge.parameters.memoryCost", 8192.0),
    "string-memory": _with("challenge.parameters.memoryCost", "8192"),
    "float-expiry": _with("challenge.parameters.expiresAt", 9e99),
    "boolean-expiry": _with("challenge.parameters.expiresAt", True),
    "null-key-signature": _with("challenge.parameters.keySignature", None),
    "no-key-signature": _with("challenge.parameters.keySignature", ...),
    "unknown-parameter": _with("challenge.parameters.counter", 1),
    "key-length-64": _with("challenge.parameters.keyLength", 64),
    "data-a-string": _with("challenge.parameters.data", "endpoint=login"),
    "float-cost-in-data": _with("challenge.parameters.data.cost", 2.0),
    "subject-not-hex": _with("challenge.parameters.data.subject", "s" * 32),
    "endpoint-with-quote": _with("challenge.parameters.data.endpoint", 'lo"gin'),
}


def test_the_genuine_solution_is_accepted():
    """So that each payload below is refused for its one change."""
    proof = base64.b64encode(json.dumps(GOOD).encode()).decode()
    assert ChallengeBook(KEY).check(proof, "login", SUBJECT, ISSUED).cost == 2


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_a_malformed_proof_of_work_is_refused_not_a_500(ctx, payload):
    """Reached by any anonymous sign-in that the shield asks to pay (here: no
    User-Agent, a risk signal), before any account is looked at. The header is plain
    base64, so the edge check of control characters sees nothing inside it."""
    proof = base64.b64encode(PAYLOADS[payload].encode()).decode()
    with pytest.raises(ChallengeRefused):
        ChallengeBook(KEY).check(proof, "login", SUBJECT, ctx.now())
    with TestClient(create_app(ctx=ctx), raise_server_exceptions=False) as client:
        response = client.post(
            "/auth/login",
            json={"email": "victim@example.org", "auth_secret": "AAAA"},
            headers={"uhs-proof-of-work": proof, "user-agent": ""},
        )
    assert response.status_code == 429, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["challenge"]["parameters"]["algorithm"] == "ARGON2ID"


@pytest.mark.parametrize("header", ["", "=", "A" * 2049, "\u00e9", "e30="])
def test_a_header_that_is_not_base64_json_of_a_solution_is_refused(header):
    with pytest.raises(ChallengeRefused):
        ChallengeBook(KEY).check(header, "login", SUBJECT, datetime.now(UTC))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    path=st.sampled_from(
        [
            "solution.counter",
            "solution.derivedKey",
            "solution.time",
            "challenge.signature",
            "challenge.parameters.data",
            "challenge.parameters.memoryCost",
            "challenge.parameters.keySignature",
            "challenge.parameters.data.cost",
            "challenge.parameters.data.endpoint",
        ]
    ),
    value=_JSON,
)
def test_any_json_in_a_field_is_refused_or_accepted_never_an_error(path, value):
    """Fuzzed: whatever a field holds, the check refuses (or, for the one value that
    is the genuine one, accepts) and raises nothing else."""
    proof = base64.b64encode(_with(path, value).encode()).decode()
    try:
        solved = ChallengeBook(KEY).check(proof, "login", SUBJECT, datetime.now(UTC))
    except ChallengeRefused:
        return
    assert solved.signature == GOOD["challenge"]["signature"]
