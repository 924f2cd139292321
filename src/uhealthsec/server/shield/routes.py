"""HTTP layer of the shield: its counters for the compliance dashboard (what a request's
attempt is: shield/http.py; the Prometheus scrape: flows/metrics.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request

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
