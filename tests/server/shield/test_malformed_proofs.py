"""A hostile UHS-Proof-Of-Work header gets a 4xx problem, never a 500 (issue 15,
item 10): ChallengeBook.check parses every field to its exact shape first."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient

from uhealthsec.server.app import create_app
from uhealthsec.server.shield.challenges import ChallengeBook, ChallengeRefused

_SALT = "x?expires=9999999999&cost=1&"
_GOOD = {"algorithm": "SHA-256", "salt": _SALT, "number": 1, "challenge": "0" * 64}
#: Payloads (JSON text) that once crashed the check, and others of the wrong shape.
PAYLOADS = {
    # hmac.compare_digest on a non-ASCII str raises TypeError.
    "non-ascii-challenge": json.dumps({**_GOOD, "challenge": "\u00e9", "signature": "00"}),
    # int() of a JSON 1e400 (float inf) raises OverflowError.
    "infinite-number": json.dumps({**_GOOD, "signature": "00"}).replace(
        '"number": 1', '"number": 1e400'
    ),
    "float-number": json.dumps({**_GOOD, "number": 1.5, "signature": "0" * 64}),
    "boolean-number": json.dumps({**_GOOD, "number": True, "signature": "0" * 64}),
    "huge-number": json.dumps({**_GOOD, "number": 10**400, "signature": "0" * 64}),
    "non-ascii-signature": json.dumps({**_GOOD, "signature": "\u00e9" * 64}),
    "salt-not-a-string": json.dumps({**_GOOD, "salt": ["x"], "signature": "0" * 64}),
    "not-an-object": "[1, 2]",
    "not-json": "\u00e9\u00e9",
}


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_a_malformed_proof_of_work_is_refused_not_a_500(ctx, payload):
    """Reached by any anonymous sign-in that the shield asks to pay (here: no
    User-Agent, a risk signal), before any account is looked at. The header is plain
    base64, so the edge check of control characters sees nothing inside it."""
    proof = base64.b64encode(PAYLOADS[payload].encode()).decode()
    with pytest.raises(ChallengeRefused):
        ChallengeBook(b"k" * 32).check(proof, "login", "subject", ctx.now())
    with TestClient(create_app(ctx=ctx), raise_server_exceptions=False) as client:
        response = client.post(
            "/auth/login",
            json={"email": "victim@example.org", "auth_secret": "AAAA"},
            headers={"uhs-proof-of-work": proof, "user-agent": ""},
        )
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json")
