"""HTTP layer of the shield: the attempt a request makes, and the metrics."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from uhealthsec.server.accounts.service import normalize_email
from uhealthsec.server.deps import Ctx, Db
from uhealthsec.server.errors import Forbidden
from uhealthsec.server.problems import PROBLEM_JSON
from uhealthsec.server.shield import schemas as s
from uhealthsec.server.shield.service import METRICS, Attempt, Shield

router = APIRouter(tags=["shield"])

PROOF_HEADER = "uhs-proof-of-work"
SHIELD_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "A proof of work is required: solve the challenge and retry",
        "content": {PROBLEM_JSON: {"schema": s.ProofRequiredOut.model_json_schema()}},
    }
}


def attempt_of(request: Request, endpoint: str, email: str) -> Attempt:
    """What the shield sees of a request: read in memory, never stored."""
    return Attempt(
        endpoint=endpoint,
        address=normalize_email(email),
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


@router.get("/shield/metrics", response_model=list[s.MetricOut])
def metrics(request: Request, db: Db, ctx: Ctx) -> list[s.MetricOut]:
    """The shield's counters, for the compliance dashboard."""
    may_read_metrics(request, ctx.settings.metrics_token.get_secret_value())
    values = Shield(db, ctx).metrics()
    return [s.MetricOut(name=name, value=values[name], help=text) for name, text in METRICS.items()]


@router.get("/metrics", response_class=PlainTextResponse)
def prometheus(request: Request, db: Db, ctx: Ctx) -> PlainTextResponse:
    """The same counters in the Prometheus text format."""
    may_read_metrics(request, ctx.settings.metrics_token.get_secret_value())
    values = Shield(db, ctx).metrics()
    lines = []
    for name, text in METRICS.items():
        kind = "gauge" if name == "breaker_open" else "counter"
        metric = f"uhs_shield_{name}" + ("_total" if kind == "counter" else "")
        lines += [f"# HELP {metric} {text}", f"# TYPE {metric} {kind}", f"{metric} {values[name]}"]
    return PlainTextResponse(
        "\n".join(lines) + "\n", media_type="text/plain; version=0.0.4; charset=utf-8"
    )
