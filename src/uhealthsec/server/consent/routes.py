"""HTTP layer of the patient's consent directives."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from uhealthsec.server.accounts.models import Account
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.consent import schemas as s
from uhealthsec.server.consent.export import consent_bundle
from uhealthsec.server.consent.models import ConsentDirective
from uhealthsec.server.consent.service import ConsentService
from uhealthsec.server.deps import Caller, Ctx, Db
from uhealthsec.server.errors import NotFound
from uhealthsec.server.records.models import PatientFile

router = APIRouter(tags=["consent"])


@router.post("/consents", status_code=201, response_model=s.DirectiveRecordedOut)
def record_directive(
    body: s.DirectiveIn, caller: Caller, db: Db, ctx: Ctx
) -> s.DirectiveRecordedOut:
    """Give, narrow or withdraw consent, or object (patients). Takes effect at once:
    shares the new directive no longer allows end before this request does."""
    recorded = ConsentService(db, ctx).record(
        caller.account, body.practice_id, body.purpose, body.decision, body.recipient_email
    )
    return s.DirectiveRecordedOut(
        directive=_directive_out(db, recorded.directive), shares_ended=recorded.shares_ended
    )


@router.get("/consents", response_model=list[s.DirectiveOut])
def my_directives(
    caller: Caller,
    db: Db,
    ctx: Ctx,
    practice_id: Annotated[uuid.UUID | None, Query()] = None,
    history: Annotated[bool, Query(description="every version, not only those in force")] = False,
) -> list[s.DirectiveOut]:
    """Your directives (patients)."""
    service = ConsentService(db, ctx)
    rows = (
        service.history(caller.account.id)
        if history
        else service.current(caller.account.id, practice_id)
    )
    return [_directive_out(db, d) for d in rows]


_FHIR = {200: {"content": {"application/fhir+json": {}}}}


@router.get("/consents/fhir", response_class=JSONResponse, responses=_FHIR)
def my_directives_as_fhir(caller: Caller, db: Db, ctx: Ctx) -> JSONResponse:
    """Every version of your directives as a FHIR R4 Bundle of Consent resources."""
    rows = ConsentService(db, ctx).history(caller.account.id)
    return _fhir(db, rows)


@router.get("/patient-files/{patient_file_id}/consents", response_model=list[s.DirectiveOut])
def patient_directives(
    patient_file_id: Annotated[uuid.UUID, Path()], caller: Caller, db: Db, ctx: Ctx
) -> list[s.DirectiveOut]:
    """The directives in force for this patient file (members of its practice)."""
    patient_file = _patient_file(db, ctx, caller.account, patient_file_id)
    rows = ConsentService(db, ctx).current(patient_file.patient_id, patient_file.practice_id)
    return [_directive_out(db, d) for d in rows]


def _patient_file(db: Db, ctx: Ctx, caller: Account, patient_file_id: uuid.UUID) -> PatientFile:
    patient_file = db.get(PatientFile, patient_file_id)
    if patient_file is None:
        raise NotFound("no such patient file")
    AccountService(db, ctx).require(caller, patient_file.practice_id, "records.read")
    return patient_file


def _fhir(db: Db, rows: list[ConsentDirective]) -> JSONResponse:
    content: dict[str, Any] = consent_bundle((d, _recipient(db, d)) for d in rows)
    return JSONResponse(content, media_type="application/fhir+json")


def _recipient(db: Db, directive: ConsentDirective) -> Account | None:
    return db.get(Account, directive.recipient_id) if directive.recipient_id else None


def _directive_out(db: Db, directive: ConsentDirective) -> s.DirectiveOut:
    recipient = _recipient(db, directive)
    return s.DirectiveOut(
        id=directive.id,
        version=directive.version,
        practice_id=directive.practice_id,
        purpose=directive.purpose,
        decision=directive.decision,
        recipient_id=directive.recipient_id,
        recipient_name=recipient.display_name if recipient else None,
        recipient_email=recipient.email if recipient else None,
        created_at=directive.created_at,
        superseded_at=directive.superseded_at,
    )
