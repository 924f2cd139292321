"""HTTP layer of the compliance dashboard."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from uhealthsec.server.compliance import schemas as s
from uhealthsec.server.compliance.dashboard import MAX_PAGE, ComplianceService
from uhealthsec.server.compliance.report import report_pdf
from uhealthsec.server.deps import Caller, Ctx, Db

router = APIRouter(tags=["compliance"])


@router.get(
    "/practices/{practice_id}/compliance",
    response_model=s.DashboardOut,
    responses={200: {"content": {"application/pdf": {}}}},
)
def dashboard(
    practice_id: Annotated[uuid.UUID, Path()],
    caller: Caller,
    db: Db,
    ctx: Ctx,
    format: Annotated[Literal["json", "pdf"], Query()] = "json",
) -> s.DashboardOut | Response:
    """The practice's compliance dashboard (its admins, or an operator); as a dated PDF
    report in French with ``format=pdf``."""
    found = ComplianceService(db, ctx).dashboard(caller.account, practice_id)
    if format == "pdf":
        day = found.generated_at.strftime("%Y-%m-%d")
        return Response(
            report_pdf(found),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="conformite-{day}.pdf"'},
        )
    return s.dashboard_out(found)


@router.get("/compliance/practices", response_model=list[s.DashboardOut])
def across_practices(
    caller: Caller,
    db: Db,
    ctx: Ctx,
    after: Annotated[uuid.UUID | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
) -> list[s.DashboardOut]:
    """The operators' view: every practice's dashboard, by practice id, a page at a time."""
    found = ComplianceService(db, ctx).all_practices(caller.account, after, limit)
    return [s.dashboard_out(d) for d in found]
