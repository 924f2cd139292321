"""The shield at the edge of the HTTP layer: the attempt a request makes, the answer
a route documents when a proof of work is asked, and who may read the metrics.

Apart from shield/routes.py so that other domains' routes use them without
importing another domain's routes.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Request

from uhealthsec.server.addresses import normalize_email
from uhealthsec.server.errors import Forbidden
from uhealthsec.server.problems import PROBLEM_JSON
from uhealthsec.server.shield import schemas as s
from uhealthsec.server.shield.service import Attempt

PROOF_HEADER = "uhs-proof-of-work"
SHIELD_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "A proof of work is required: solve the challenge and retry",
        "content": {PROBLEM_JSON: {"schema": s.ProofRequiredOut.model_json_schema()}},
    }
}


def attempt_of(request: Request, endpoint: str, email: str | None) -> Attempt:
    """What the shield sees of a request: read in memory, never stored. ``email`` is
    None where the service learns the address (from a ticket or a token)."""
    return Attempt(
        endpoint=endpoint,
        address=normalize_email(email) if email is not None else "",
        client_ip=request.client.host if request.client else None,
        headers=request.headers,
        proof=request.headers.get(PROOF_HEADER),
    )


def may_read_metrics(request: Request, token: str) -> None:
    given = request.headers.get("authorization", "")
    if token:
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise Forbidden("the metrics need the operator's bearer token")
        return
    host = request.client.host if request.client else ""
    if host not in ("127.0.0.1", "::1"):
        raise Forbidden("the metrics are served to this host only unless a token is set")
