"""HTTP layer of the shield: the metrics (what a request's attempt is: shield/http.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from uhealthsec.server.deps import Ctx, Db
from uhealthsec.server.shield import schemas as s
from uhealthsec.server.shield.http import may_read_metrics
from uhealthsec.server.shield.service import METRICS, Shield

router = APIRouter(tags=["shield"])


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
    # Then this process's request and journal metrics (server/observability.py).
    return PlainTextResponse(
        "\n".join(lines) + "\n" + ctx.metrics.exposition().decode(),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
