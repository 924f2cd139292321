"""HTTP layer of the patient's consent directives and rights requests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy import select

from uhealthsec.protocol.consent import Right
from uhealthsec.protocol.signin import CodeIn
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.consent import schemas as s
from uhealthsec.server.consent.erasure import Erasure, ErasureService, items_of
from uhealthsec.server.consent.export import consent_bundle, rights_request_bundle
from uhealthsec.server.consent.information import Information, InformationService, Notice
from uhealthsec.server.consent.models import (
    OPEN_STATUSES,
    ConsentDirective,
    ResearchStudy,
    RightsRequest,
)
from uhealthsec.server.consent.service import (
    CITATIONS,
    NO_FILE,
    ConsentService,
    ListedStudy,
    RightsService,
    StudyDeclaration,
    StudyService,
    paris_today,
    study_state,
)
from uhealthsec.server.deps import REPLAYABLE, AnswerKeepingRoute, Caller, Ctx, Db
from uhealthsec.server.errors import NotFound
from uhealthsec.server.records.models import PatientFile
from uhealthsec.server.records.service import RecordsService

router = APIRouter(route_class=AnswerKeepingRoute, tags=["consent"])
#: Routes for whoever holds an invitation's code, signed in or not (app.PUBLIC_ROUTES).
invitation_router = APIRouter(route_class=AnswerKeepingRoute, tags=["consent"])


@router.post(
    "/consents", status_code=201, response_model=s.DirectiveRecordedOut, dependencies=[REPLAYABLE]
)
def record_directive(
    body: s.DirectiveIn, caller: Caller, db: Db, ctx: Ctx
) -> s.DirectiveRecordedOut:
    """Give, narrow or withdraw consent, or object (patients); a research consent names
    one study of the practice. Takes effect at once: shares the new directive no longer
    allows end before this request does."""
    recorded = ConsentService(db, ctx).record(
        caller.account,
        body.practice_id,
        body.purpose,
        body.decision,
        body.recipient_email,
        body.study_id,
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
    patient_file = RecordsService(db, ctx).patient_file(caller.account, patient_file_id)
    rows = ConsentService(db, ctx).current(patient_file.patient_id, patient_file.practice_id)
    return [_directive_out(db, d) for d in rows]


def _fhir(db: Db, rows: list[ConsentDirective]) -> JSONResponse:
    content: dict[str, Any] = consent_bundle((d, _recipient(db, d), _study(db, d)) for d in rows)
    return JSONResponse(content, media_type="application/fhir+json")


def _recipient(db: Db, directive: ConsentDirective) -> Account | None:
    return db.get(Account, directive.recipient_id) if directive.recipient_id else None


def _study(db: Db, directive: ConsentDirective) -> ResearchStudy | None:
    return db.get(ResearchStudy, directive.study_id) if directive.study_id else None


def _directive_out(db: Db, directive: ConsentDirective) -> s.DirectiveOut:
    recipient = _recipient(db, directive)
    study = _study(db, directive)
    return s.DirectiveOut(
        id=directive.id,
        version=directive.version,
        practice_id=directive.practice_id,
        purpose=directive.purpose,
        decision=directive.decision,
        recipient_id=directive.recipient_id,
        recipient_name=recipient.display_name if recipient else None,
        recipient_email=recipient.email if recipient else None,
        study_id=directive.study_id,
        study_title=study.title if study else None,
        created_at=directive.created_at,
        superseded_at=directive.superseded_at,
    )


# -- research studies ---------------------------------------------------------------------

StudyId = Annotated[uuid.UUID, Path()]


@router.post(
    "/practices/{practice_id}/studies",
    status_code=201,
    response_model=s.StudyOut,
    dependencies=[REPLAYABLE],
)
def declare_study(
    practice_id: Annotated[uuid.UUID, Path()], body: s.StudyIn, caller: Caller, db: Db, ctx: Ctx
) -> s.StudyOut:
    """(Admins, practitioners) Declare a research study the practice takes part in, so
    that its patients can consent to it, or not, knowing what it is."""
    declared = StudyDeclaration(**body.model_dump())
    study = StudyService(db, ctx).declare(caller.account, practice_id, declared)
    return _study_out(ListedStudy(study, study_state(study, paris_today(ctx)), 0, None))


@router.get("/practices/{practice_id}/studies", response_model=list[s.StudyOut])
def practice_studies(
    practice_id: Annotated[uuid.UUID, Path()], caller: Caller, db: Db, ctx: Ctx
) -> list[s.StudyOut]:
    """The practice's studies: every one for its members (with the number of patients
    consenting now for those who may read its records); for its patients, those they
    may join and those they consent to, with their own decision."""
    return [
        _study_out(listed) for listed in StudyService(db, ctx).listed(caller.account, practice_id)
    ]


@router.post("/studies/{study_id}/close", response_model=s.StudyOut, dependencies=[REPLAYABLE])
def close_study(study_id: StudyId, caller: Caller, db: Db, ctx: Ctx) -> s.StudyOut:
    """(Admins, practitioners) Close a study before its end: from now nobody is in it."""
    study = StudyService(db, ctx).close(caller.account, study_id)
    return _study_out(ListedStudy(study, study_state(study, paris_today(ctx)), None, None))


def _study_out(listed: ListedStudy) -> s.StudyOut:
    study = listed.study
    return s.StudyOut(
        id=study.id,
        practice_id=study.practice_id,
        title=study.title,
        sponsor=study.sponsor,
        purpose=study.purpose,
        methodology=study.methodology,
        authorisation=study.authorisation,
        starts_on=study.starts_on,
        ends_on=study.ends_on,
        declared_at=study.declared_at,
        closed_at=study.closed_at,
        state=listed.state,
        consenting=listed.consenting,
        my_decision=listed.my_decision,
    )


# -- patient rights -----------------------------------------------------------------------

RequestId = Annotated[uuid.UUID, Path()]


@router.post(
    "/rights-requests",
    status_code=201,
    response_model=s.RightsRequestOut,
    dependencies=[REPLAYABLE],
)
def ask(body: s.RightsRequestIn, caller: Caller, db: Db, ctx: Ctx) -> s.RightsRequestOut:
    """(Patients) Exercise a right on your file in a practice; the answer is due within
    a month (GDPR art. 12(3)), or 8 days for the medical file (CSP L1111-7)."""
    return _request_out(
        db, ctx, RightsService(db, ctx).ask(caller.account, body.practice_id, body.right)
    )


@router.get("/rights-requests", response_model=list[s.RightsRequestOut])
def my_requests(caller: Caller, db: Db, ctx: Ctx) -> list[s.RightsRequestOut]:
    """(Patients) Your requests, the most recent first."""
    return requests_out(db, ctx, RightsService(db, ctx).mine(caller.account))


@router.get("/rights-requests/fhir", response_class=JSONResponse, responses=_FHIR)
def my_requests_as_fhir(caller: Caller, db: Db, ctx: Ctx) -> JSONResponse:
    """(Patients) Your requests and their answers as a FHIR R4 Bundle of Task
    resources (your export)."""
    answers = requests_out(db, ctx, RightsService(db, ctx).mine(caller.account))
    return JSONResponse(rights_request_bundle(answers), media_type="application/fhir+json")


@router.post(
    "/rights-requests/{request_id}/withdraw",
    response_model=s.RightsRequestOut,
    dependencies=[REPLAYABLE],
)
def withdraw(request_id: RequestId, caller: Caller, db: Db, ctx: Ctx) -> s.RightsRequestOut:
    return _request_out(db, ctx, RightsService(db, ctx).withdraw(caller.account, request_id))


@router.post(
    "/rights-requests/{request_id}/lift",
    response_model=s.RightsRequestOut,
    dependencies=[REPLAYABLE],
)
def lift(request_id: RequestId, caller: Caller, db: Db, ctx: Ctx) -> s.RightsRequestOut:
    """(Patients) End a restriction of processing you asked for."""
    return _request_out(db, ctx, RightsService(db, ctx).lift(caller.account, request_id))


@router.get("/practices/{practice_id}/rights-requests", response_model=list[s.RightsRequestOut])
def practice_requests(
    practice_id: Annotated[uuid.UUID, Path()],
    caller: Caller,
    db: Db,
    ctx: Ctx,
    handled: Annotated[bool, Query(description="handled ones too, not only open ones")] = False,
) -> list[s.RightsRequestOut]:
    """The practice's requests, the nearest deadline first."""
    requests = RightsService(db, ctx).of_practice(
        caller.account, practice_id, open_only=not handled
    )
    return requests_out(db, ctx, requests)


@router.post(
    "/rights-requests/{request_id}/extend",
    response_model=s.RightsRequestOut,
    dependencies=[REPLAYABLE],
)
def extend(
    request_id: RequestId, body: s.ReasonIn, caller: Caller, db: Db, ctx: Ctx
) -> s.RightsRequestOut:
    """Two more months, once, with the reasons told to the patient."""
    request = RightsService(db, ctx).extend(caller.account, request_id, body.reason)
    return _request_out(db, ctx, request)


@router.post(
    "/rights-requests/{request_id}/complete",
    response_model=s.RightsRequestOut,
    dependencies=[REPLAYABLE],
)
def complete(
    request_id: RequestId,
    body: s.NoteIn,
    caller: Caller,
    db: Db,
    ctx: Ctx,
    background: BackgroundTasks,
) -> s.RightsRequestOut:
    """Answer the request. A copy needs every document shared with the patient first;
    an erasure is carried out, or refused with its legal ground and date."""
    handled = RightsService(db, ctx).complete(caller.account, request_id, body.note)
    # After the commit that destroyed their keys (cleanup removes any left behind).
    for key in handled.blob_keys:
        background.add_task(ctx.blobs.delete, key)
    return _request_out(db, ctx, handled.request)


@router.post(
    "/rights-requests/{request_id}/refuse",
    response_model=s.RightsRequestOut,
    dependencies=[REPLAYABLE],
)
def refuse(
    request_id: RequestId, body: s.ReasonIn, caller: Caller, db: Db, ctx: Ctx
) -> s.RightsRequestOut:
    """Refuse, with the reasons told to the patient (GDPR art. 12(4))."""
    return _request_out(
        db, ctx, RightsService(db, ctx).refuse(caller.account, request_id, body.reason)
    )


# -- account deletion ---------------------------------------------------------------------


@router.get("/accounts/me/deletion", response_model=s.AccountDeletionOut)
def account_deletion_preview(caller: Caller, db: Db, ctx: Ctx) -> s.AccountDeletionOut:
    """(Patients) What deleting your account would erase, and what the law keeps and
    until when: shown before you confirm. Nothing is changed."""
    erasure = ErasureService(db, ctx).preview(caller.account)
    return _deletion_out(caller.account.id, None, erasure)


@router.post("/accounts/me/deletion", response_model=s.AccountDeletionOut)
def delete_account(
    body: s.AccountDeletionIn, caller: Caller, db: Db, ctx: Ctx, background: BackgroundTasks
) -> s.AccountDeletionOut:
    """(Patients) Delete your account, after a step-up (a second factor in the last few
    minutes): everything that may be erased is, in every practice; what a file must
    keep is listed with its last day. You can no longer sign in afterwards."""
    account_id = caller.account.id
    erasure = ErasureService(db, ctx).delete_account(caller)
    for key in erasure.blob_keys:  # after the commit that destroyed their keys
        background.add_task(ctx.blobs.delete, key)
    return _deletion_out(account_id, ctx.now(), erasure)


def _deletion_out(
    account_id: uuid.UUID, deleted_at: datetime | None, erasure: Erasure
) -> s.AccountDeletionOut:
    return s.AccountDeletionOut(account_id=account_id, deleted_at=deleted_at, items=erasure.items)


def _request_out(db: Db, ctx: Ctx, request: RightsRequest) -> s.RightsRequestOut:
    return requests_out(db, ctx, [request])[0]


def requests_out(db: Db, ctx: Ctx, requests: Sequence[RightsRequest]) -> list[s.RightsRequestOut]:
    """The answers for requests, their patients and files read in one statement each,
    whatever the number of requests."""
    patient_ids = {r.patient_id for r in requests}
    patients = {a.id: a for a in db.scalars(select(Account).where(Account.id.in_(patient_ids)))}
    files = {
        (f.patient_id, f.practice_id): f
        for f in db.scalars(select(PatientFile).where(PatientFile.patient_id.in_(patient_ids)))
    }
    answers = []
    for request in requests:
        patient_file = files.get((request.patient_id, request.practice_id))
        if patient_file is None:
            raise NotFound(NO_FILE)
        answers.append(_answer(ctx, request, patients[request.patient_id], patient_file))
    return answers


def _answer(
    ctx: Ctx, request: RightsRequest, patient: Account, patient_file: PatientFile
) -> s.RightsRequestOut:
    return s.RightsRequestOut(
        id=request.id,
        patient_id=request.patient_id,
        patient_name=patient.display_name,
        patient_email=patient.email,
        practice_id=request.practice_id,
        patient_file_id=patient_file.id,
        right=request.right,
        citation=CITATIONS[Right(request.right)],
        status=request.status,
        received_at=request.received_at,
        earliest_at=request.earliest_at,
        due_at=request.due_at,
        overdue=request.status in OPEN_STATUSES and ctx.now() > request.due_at,
        extended_at=request.extended_at,
        reason=request.reason,
        handled_at=request.handled_at,
        erasure_from=request.erasure_from,
        lifted_at=request.lifted_at,
        erasure=items_of(request.erasure_items),
    )


# -- the information notice and that the patient was informed (R11) ----------------------

PracticeId = Annotated[uuid.UUID, Path()]


@router.get("/practices/{practice_id}/notice", response_model=s.NoticeOut)
def current_notice(practice_id: PracticeId, caller: Caller, db: Db, ctx: Ctx) -> s.NoticeOut:
    """The practice's current information notice (its members and patients)."""
    return _notice_out(InformationService(db, ctx).read(caller.account, practice_id, None))


@router.get("/practices/{practice_id}/notices/{version}", response_model=s.NoticeOut)
def notice_version(
    practice_id: PracticeId,
    version: Annotated[int, Path(ge=0, le=1_000_000)],
    caller: Caller,
    db: Db,
    ctx: Ctx,
) -> s.NoticeOut:
    """One version of the practice's notice (its members and patients)."""
    return _notice_out(InformationService(db, ctx).read(caller.account, practice_id, version))


@router.get("/practices/{practice_id}/notices", response_model=list[s.NoticeOut])
def notice_versions(practice_id: PracticeId, caller: Caller, db: Db, ctx: Ctx) -> list[s.NoticeOut]:
    """Every version of the practice's notice, newest first (members)."""
    notices = InformationService(db, ctx).versions(caller.account, practice_id)
    return [_notice_out(n) for n in notices]


@router.post(
    "/practices/{practice_id}/notices",
    status_code=201,
    response_model=s.NoticeOut,
    dependencies=[REPLAYABLE],
)
def publish_notice(
    practice_id: PracticeId, body: s.NoticeIn, caller: Caller, db: Db, ctx: Ctx
) -> s.NoticeOut:
    """(Admins) Publish the practice's next version of its notice; earlier versions
    stay as they were, with whom they were given to."""
    notice = InformationService(db, ctx).publish(
        caller.account, practice_id, body.text_fr, body.text_en
    )
    return _notice_out(notice)


@invitation_router.post("/invitations/notice", response_model=s.NoticeOut)
def invitation_notice(body: CodeIn, db: Db, ctx: Ctx) -> s.NoticeOut:
    """The notice of the practice whose invitation this is: shown to the invited patient
    before they accept or register, naming its version in the acceptance. Open to whoever
    holds the code (the invitation's secret), signed in or not."""
    notice, for_patient = InformationService(db, ctx).of_invitation(body.code)
    return _notice_out(notice).model_copy(update={"for_patient": for_patient})


@router.post(
    "/patient-files/{patient_file_id}/information",
    status_code=201,
    response_model=s.InformationOut,
    dependencies=[REPLAYABLE],
)
def record_information(
    patient_file_id: Annotated[uuid.UUID, Path()],
    body: s.InformationIn,
    caller: Caller,
    db: Db,
    ctx: Ctx,
) -> s.InformationOut:
    """(Practitioners of the file's practice) Record that you informed the patient in
    person at first care, on ``informed_on``."""
    information = InformationService(db, ctx).record_in_person(
        caller.account, patient_file_id, body.informed_on, body.notice_version
    )
    return _information_out(information)


@router.get("/patient-files/{patient_file_id}/information", response_model=list[s.InformationOut])
def file_information(
    patient_file_id: Annotated[uuid.UUID, Path()], caller: Caller, db: Db, ctx: Ctx
) -> list[s.InformationOut]:
    """When and how the file's patient was informed, oldest first (members who read
    records); empty when never."""
    rows = InformationService(db, ctx).of_file(caller.account, patient_file_id)
    return [_information_out(i) for i in rows]


@router.get("/consents/information", response_model=list[s.InformationOut])
def my_information(caller: Caller, db: Db, ctx: Ctx) -> list[s.InformationOut]:
    """The notices you were given, with when and how, oldest first (patients)."""
    return [_information_out(i) for i in InformationService(db, ctx).mine(caller.account)]


def _notice_out(notice: Notice) -> s.NoticeOut:
    return s.NoticeOut(
        practice_id=notice.practice.id,
        practice_name=notice.practice.name,
        version=notice.version,
        text_fr=notice.text_fr,
        text_en=notice.text_en,
        published_at=notice.published_at,
    )


def _information_out(information: Information) -> s.InformationOut:
    record = information.record
    return s.InformationOut(
        practice_id=record.practice_id,
        notice_version=record.notice_version,
        informed_on=record.informed_on,
        how=record.how,
        recorded_by_name=information.recorded_by_name,
        recorded_at=record.recorded_at,
        notice=_notice_out(information.notice),
    )
