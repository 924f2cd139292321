"""HTTP layer of the breach register."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from uhealthsec.server.deps import REPLAYABLE, AnswerKeepingRoute, Caller, Ctx, Db
from uhealthsec.server.incidents import schemas as s
from uhealthsec.server.incidents.export import markdown
from uhealthsec.server.incidents.models import Incident
from uhealthsec.server.incidents.service import DEADLINE, IncidentFields, IncidentService, Nature

router = APIRouter(route_class=AnswerKeepingRoute, tags=["incidents"])

IncidentId = Annotated[uuid.UUID, Path()]
PracticeId = Annotated[uuid.UUID, Path()]


@router.post(
    "/practices/{practice_id}/incidents",
    response_model=s.IncidentOut,
    status_code=201,
    dependencies=[REPLAYABLE],
)
def open_incident(
    practice_id: PracticeId, body: s.IncidentIn, caller: Caller, db: Db, ctx: Ctx
) -> s.IncidentOut:
    """Open an incident in the breach register (the practice's admins, or an operator)."""
    service = IncidentService(db, ctx)
    return _out(service, service.open(caller.account, practice_id, _fields(body)))


@router.get("/practices/{practice_id}/incidents", response_model=list[s.IncidentOut])
def register(practice_id: PracticeId, caller: Caller, db: Db, ctx: Ctx) -> list[s.IncidentOut]:
    """The practice's breach register (art. 33(5)): every incident, notified or not."""
    service = IncidentService(db, ctx)
    return [_out(service, i) for i in service.register(caller.account, practice_id)]


@router.get("/incidents/{incident_id}", response_model=s.IncidentOut)
def show(incident_id: IncidentId, caller: Caller, db: Db, ctx: Ctx) -> s.IncidentOut:
    service = IncidentService(db, ctx)
    return _out(service, service.incident(caller.account, incident_id))


@router.put("/incidents/{incident_id}", response_model=s.IncidentOut, dependencies=[REPLAYABLE])
def update(
    incident_id: IncidentId, body: s.IncidentIn, caller: Caller, db: Db, ctx: Ctx
) -> s.IncidentOut:
    """Change what the register says; fields left out stay as they are."""
    service = IncidentService(db, ctx)
    return _out(service, service.update(caller.account, incident_id, _fields(body)))


@router.post(
    "/incidents/{incident_id}/count", response_model=s.IncidentOut, dependencies=[REPLAYABLE]
)
def count(
    incident_id: IncidentId, body: s.CountIn, caller: Caller, db: Db, ctx: Ctx
) -> s.IncidentOut:
    """Count from the journal the patients and documents reached in a period."""
    service = IncidentService(db, ctx)
    incident = service.count(caller.account, incident_id, body.since, body.until, body.accounts)
    return _out(service, incident)


@router.post(
    "/incidents/{incident_id}/notifications",
    response_model=s.IncidentOut,
    status_code=201,
    dependencies=[REPLAYABLE],
)
def notify(
    incident_id: IncidentId, body: s.NotificationIn, caller: Caller, db: Db, ctx: Ctx
) -> s.IncidentOut:
    """Record a notification to the CNIL, made now: the initial one, or a complement."""
    service = IncidentService(db, ctx)
    notification = service.notify(
        caller.account,
        incident_id,
        complementary=body.complementary,
        complement=body.complement,
        delay_reasons=body.delay_reasons,
    )
    return _out(service, service.incident(caller.account, notification.incident_id))


@router.post(
    "/incidents/{incident_id}/decision", response_model=s.IncidentOut, dependencies=[REPLAYABLE]
)
def decide(
    incident_id: IncidentId, body: s.DecisionIn, caller: Caller, db: Db, ctx: Ctx
) -> s.IncidentOut:
    """Art. 33: notifiable, or not (with the written reason)."""
    service = IncidentService(db, ctx)
    return _out(service, service.decide(caller.account, incident_id, body.decision, body.reason))


@router.post(
    "/incidents/{incident_id}/people-decision",
    response_model=s.IncidentOut,
    dependencies=[REPLAYABLE],
)
def decide_people(
    incident_id: IncidentId, body: s.PeopleDecisionIn, caller: Caller, db: Db, ctx: Ctx
) -> s.IncidentOut:
    """Art. 34: tell the patients concerned, or record why not."""
    service = IncidentService(db, ctx)
    incident = service.decide_people(
        caller.account, incident_id, body.decision, body.reason, body.message
    )
    return _out(service, incident)


@router.get("/incidents/{incident_id}/export", response_model=None)
def export(
    incident_id: IncidentId,
    caller: Caller,
    db: Db,
    ctx: Ctx,
    format: Annotated[Literal["json", "md"], Query()] = "json",
) -> dict[str, object] | PlainTextResponse:
    """The incident as the CNIL's online notification form asks it (French labels)."""
    service = IncidentService(db, ctx)
    form = service.form(service.incident(caller.account, incident_id))
    if format == "md":
        return PlainTextResponse(markdown(form), media_type="text/markdown; charset=utf-8")
    return form


@router.get("/incident-notices", response_model=list[s.NoticeOut])
def my_notices(caller: Caller, db: Db, ctx: Ctx) -> list[s.NoticeOut]:
    """The breach notices a patient was sent (art. 34)."""
    return [
        s.NoticeOut(id=n.id, sent_at=n.sent_at, text=n.text)
        for n in IncidentService(db, ctx).my_notices(caller.account)
    ]


def _fields(body: s.IncidentIn) -> IncidentFields:
    values = body.model_dump(exclude_unset=True)
    return IncidentFields(**{k: v for k, v in values.items() if v is not None})


def _out(service: IncidentService, incident: Incident) -> s.IncidentOut:
    return s.IncidentOut(
        id=incident.id,
        practice_id=incident.practice_id,
        created_at=incident.created_at,
        aware_at=incident.aware_at,
        deadline=incident.aware_at + DEADLINE,
        clock=service.clock(incident),
        nature=[Nature(n) for n in incident.nature.split(",") if n],
        description=incident.description,
        data_categories=incident.data_categories,
        people_categories=incident.people_categories,
        people_estimate=incident.people_estimate,
        records_estimate=incident.records_estimate,
        people_counted=incident.people_counted,
        records_counted=incident.records_counted,
        counted_from=incident.counted_from,
        counted_until=incident.counted_until,
        contact=incident.contact,
        consequences=incident.consequences,
        measures_taken=incident.measures_taken,
        measures_planned=incident.measures_planned,
        decision=incident.decision,  # type: ignore[arg-type]
        decision_reason=incident.decision_reason,
        people_decision=incident.people_decision,  # type: ignore[arg-type]
        people_reason=incident.people_reason,
        clear_metadata=incident.clear_metadata,
        notifications=[
            s.NotificationOut(
                id=n.id,
                kind=n.kind,  # type: ignore[arg-type]
                made_at=n.made_at,
                complement=n.complement,
                delay_reasons=n.delay_reasons,
            )
            for n in service.notifications(incident)
        ],
    )
