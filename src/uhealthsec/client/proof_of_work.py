"""Solving the server's proof-of-work challenges (ALTCHA v1 format, docs/PROTOCOL.md).

At rest the server asks for none; under attack, or after failed attempts on an
address or from a network, a sign-in is answered 429 with a challenge, which the
client solves and sends back in the ``UHS-Proof-Of-Work`` header.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import altcha

HEADER = "UHS-Proof-Of-Work"


class UnsolvableChallenge(Exception):
    pass


def solve(challenge: dict[str, Any]) -> str:
    """The header value that answers ``challenge``: tries every number in turn."""
    if challenge.get("algorithm") != "SHA-256":
        raise UnsolvableChallenge("the server asks for an unknown proof of work")
    solution = altcha.solve_challenge_v1(
        str(challenge["challenge"]), str(challenge["salt"]), "SHA-256", int(challenge["maxnumber"])
    )
    if solution is None:
        raise UnsolvableChallenge("the server's challenge has no solution")
    payload = {
        "algorithm": "SHA-256",
        "challenge": challenge["challenge"],
        "number": solution.number,
        "salt": challenge["salt"],
        "signature": challenge["signature"],
    }
    return base64.b64encode(json.dumps(payload).encode()).decode()
