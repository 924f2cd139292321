"""HTTP layer of retention: a file's end date and the facts it rests on, claims, and
each practice's policy."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.deps import REPLAYABLE, AnswerKeepingRoute, Caller, Ctx, Db
from uhealthsec.server.records.models import PatientFile
from uhealthsec.server.records.service import RecordsService
from uhealthsec.server.retention import schemas as s
from uhealthsec.server.retention.export import retention_bundle
from uhealthsec.server.retention.models import RetentionPolicy
from uhealthsec.server.retention.service import FileStatus, RetentionService

router = APIRouter(route_class=AnswerKeepingRoute, tags=["retention"])

FileId = Annotated[uuid.UUID, Path()]


_FHIR = {200: {"content": {"application/fhir+json": {}}}}


@router.get("/retention/fhir", response_class=JSONResponse, responses=_FHIR)
def my_retention_as_fhir(caller: Caller, db: Db, ctx: Ctx) -> JSONResponse:
    """(Patients) Until when each file about you is kept, and why, as a FHIR R4 Bundle
    of Basic resources (your export)."""
    statuses = RetentionService(db, ctx).of_my_files(caller.account)
    return JSONResponse(retention_bundle(statuses), media_type="application/fhir+json")


@router.get("/patient-files/{patient_file_id}/retention", response_model=s.RetentionOut)
def file_retention(patient_file_id: FileId, caller: Caller, db: Db, ctx: Ctx) -> s.RetentionOut:
    """Until when this file is kept, and why."""
    service = RetentionService(db, ctx)
    return _out(service.status(_file(db, ctx, caller, patient_file_id)))


@router.put(
    "/patient-files/{patient_file_id}/retention",
    response_model=s.RetentionOut,
    dependencies=[REPLAYABLE],
)
def record_facts(
    patient_file_id: FileId, body: s.FileFactsIn, caller: Caller, db: Db, ctx: Ctx
) -> s.RetentionOut:
    """Record the last consultation, the patient's birth date or date of death (the
    practice's admin or a practitioner treating the patient); a null date of death
    erases one recorded by mistake."""
    service = RetentionService(db, ctx)
    patient_file = _file(db, ctx, caller, patient_file_id)
    return _out(
        service.record_facts(
            caller.account,
            patient_file,
            last_care_on=body.last_care_on,
            born_on=body.born_on,
            died_on=body.died_on,
            clear_death="died_on" in body.model_fields_set and body.died_on is None,
        )
    )


@router.post(
    "/patient-files/{patient_file_id}/retention/claim",
    response_model=s.RetentionOut,
    dependencies=[REPLAYABLE],
)
def open_claim(
    patient_file_id: FileId, body: s.ClaimIn, caller: Caller, db: Db, ctx: Ctx
) -> s.RetentionOut:
    """A claim or litigation about medical liability: the clock stops."""
    service = RetentionService(db, ctx)
    return _out(
        service.open_claim(caller.account, _file(db, ctx, caller, patient_file_id), body.on)
    )


@router.post(
    "/patient-files/{patient_file_id}/retention/claim/close",
    response_model=s.RetentionOut,
    dependencies=[REPLAYABLE],
)
def close_claim(
    patient_file_id: FileId, body: s.ClaimIn, caller: Caller, db: Db, ctx: Ctx
) -> s.RetentionOut:
    """The claim is over: the end moves back by the days it lasted."""
    service = RetentionService(db, ctx)
    return _out(
        service.close_claim(caller.account, _file(db, ctx, caller, patient_file_id), body.on)
    )


@router.get("/practices/{practice_id}/retention-policy", response_model=s.PolicyOut)
def policy(
    practice_id: Annotated[uuid.UUID, Path()], caller: Caller, db: Db, ctx: Ctx
) -> s.PolicyOut:
    AccountService(db, ctx).require(caller.account, practice_id, "members.read")
    return _policy_out(RetentionService(db, ctx).policy(practice_id))


@router.put(
    "/practices/{practice_id}/retention-policy",
    response_model=s.PolicyOut,
    dependencies=[REPLAYABLE],
)
def set_policy(
    practice_id: Annotated[uuid.UUID, Path()], body: s.PolicyIn, caller: Caller, db: Db, ctx: Ctx
) -> s.PolicyOut:
    """How long this practice keeps files (20 years unless it decides otherwise) and
    when they leave the daily views (admins)."""
    return _policy_out(
        RetentionService(db, ctx).set_policy(
            caller.account, practice_id, body.years, body.archive_after_years
        )
    )


def _file(db: Db, ctx: Ctx, caller: Caller, patient_file_id: uuid.UUID) -> PatientFile:
    return RecordsService(db, ctx).patient_file(caller.account, patient_file_id)


def _policy_out(policy: RetentionPolicy) -> s.PolicyOut:
    return s.PolicyOut(
        practice_id=policy.practice_id,
        years=policy.years,
        archive_after_years=policy.archive_after_years,
    )


def _out(status: FileStatus) -> s.RetentionOut:
    facts = status.facts
    return s.RetentionOut(
        patient_file_id=status.patient_file.id,
        keep_until=status.end.keep_until,
        basis=status.end.basis,
        explanation=status.end.explanation,
        last_care_on=facts.last_care_on,
        born_on=facts.born_on,
        died_on=facts.died_on,
        claim_open=facts.claim_open,
        suspended_days=facts.suspended_days,
        archived=status.archived,
        destroyable_from=status.destroyable_from,
        shredded_at=status.shredded_at,
    )
