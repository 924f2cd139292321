"""HTTP layer of the anomaly alerts (R22)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from uhealthsec.server.deps import REPLAYABLE, AnswerKeepingRoute, Caller, Ctx, Db
from uhealthsec.server.incidents.anomalies import schemas as s
from uhealthsec.server.incidents.anomalies.models import AnomalyAlert
from uhealthsec.server.incidents.anomalies.service import AnomalyService, stored_thresholds
from uhealthsec.server.incidents.anomalies.thresholds import Thresholds

router = APIRouter(route_class=AnswerKeepingRoute, tags=["incidents"])

AlertId = Annotated[uuid.UUID, Path()]
PracticeId = Annotated[uuid.UUID, Path()]


@router.get("/practices/{practice_id}/alerts", response_model=list[s.AlertOut])
def alerts(
    practice_id: PracticeId,
    caller: Caller,
    db: Db,
    ctx: Ctx,
    status: Annotated[Literal["open", "dismissed", "incident", "all"], Query()] = "open",
    before: Annotated[uuid.UUID | None, Query()] = None,
) -> list[s.AlertOut]:
    """The practice's anomaly alerts, the open ones unless asked (newest first, 200 at
    most); ``before``, the last alert of a page, asks for the next one."""
    found = AnomalyService(db, ctx).alerts(
        caller.account, practice_id, None if status == "all" else status, before
    )
    return [_out(a) for a in found]


@router.post("/alerts/{alert_id}/dismissal", response_model=s.AlertOut, dependencies=[REPLAYABLE])
def dismiss(alert_id: AlertId, body: s.DismissalIn, caller: Caller, db: Db, ctx: Ctx) -> s.AlertOut:
    """Close an open alert as no breach, saying why."""
    return _out(AnomalyService(db, ctx).dismiss(caller.account, alert_id, body.reason))


@router.post(
    "/alerts/{alert_id}/incident",
    response_model=s.AlertOut,
    status_code=201,
    dependencies=[REPLAYABLE],
)
def open_incident(
    alert_id: AlertId, body: s.AlertIncidentIn, caller: Caller, db: Db, ctx: Ctx
) -> s.AlertOut:
    """Open an incident of the breach register from an open alert (linked to it)."""
    alert = AnomalyService(db, ctx).open_incident(
        caller.account, alert_id, body.nature, body.description
    )
    return _out(alert)


@router.get("/practices/{practice_id}/anomaly-settings", response_model=s.SettingsOut)
def thresholds(practice_id: PracticeId, caller: Caller, db: Db, ctx: Ctx) -> s.SettingsOut:
    """The thresholds of the practice's rules (its own, or the defaults), and their
    last changes, newest first."""
    current, changes = AnomalyService(db, ctx).settings(caller.account, practice_id)
    return s.SettingsOut(
        **current.model_dump(),
        changes=[
            s.SettingsChangeOut(
                changed_at=c.changed_at,
                changed_by=c.changed_by,
                before=stored_thresholds(c.before, practice_id),
                after=stored_thresholds(c.after, practice_id),
            )
            for c in changes
        ],
    )


@router.put(
    "/practices/{practice_id}/anomaly-settings",
    response_model=Thresholds,
    dependencies=[REPLAYABLE],
)
def tune(practice_id: PracticeId, body: Thresholds, caller: Caller, db: Db, ctx: Ctx) -> Thresholds:
    """A practice's admin tunes its thresholds, each within its bounds; a threshold
    left out takes its default."""
    return AnomalyService(db, ctx).tune(caller.account, practice_id, body)


def _out(alert: AnomalyAlert) -> s.AlertOut:
    return s.AlertOut(
        id=alert.id,
        practice_id=alert.practice_id,
        rule=alert.rule,  # type: ignore[arg-type]
        subject_kind=alert.subject_kind,  # type: ignore[arg-type]
        subject_id=alert.subject_id,
        window_start=alert.window_start,
        window_end=alert.window_end,
        count=alert.count,
        threshold=alert.threshold,
        counted=alert.counted,
        detail=alert.detail,
        status=alert.status,  # type: ignore[arg-type]
        reason=alert.reason,
        incident_id=alert.incident_id,
        created_at=alert.created_at,
        decided_at=alert.decided_at,
    )
