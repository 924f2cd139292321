"""HTTP layer of patient files, documents and shares."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from uhealthsec.crypto.manifest import Reader, decode_readers
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.auth.service import SessionService
from uhealthsec.server.deps import (
    REPLAYABLE,
    AnswerKeepingRoute,
    Caller,
    Ctx,
    Db,
    admission_slot,
    check_streamed_body,
)
from uhealthsec.server.errors import ContentTooLarge, InvalidInput
from uhealthsec.server.records import schemas as s
from uhealthsec.server.records.granting import ShareGrant, SignedShare
from uhealthsec.server.records.interfaces import FileRetentionStatus
from uhealthsec.server.records.models import PatientFile
from uhealthsec.server.records.rewrapping import RewrappedKey
from uhealthsec.server.records.service import (
    DocumentView,
    NewVersion,
    RecordsService,
    SignedRevocation,
    over_quota,
)
from uhealthsec.server.storage.blobs import Spool, UploadTooLarge
from uhealthsec.server.storage.positions import Position

router = APIRouter(route_class=AnswerKeepingRoute, tags=["records"])

UPLOAD_PATH = "/blobs"
_WRITE_BUFFER = 1 << 20


@router.post("/patient-files", response_model=s.PatientFileOut, dependencies=[REPLAYABLE])
def open_patient_file(body: s.PatientFileIn, caller: Caller, db: Db, ctx: Ctx) -> s.PatientFileOut:
    """The patient's file in your practice, created the first time."""
    service = RecordsService(db, ctx)
    patient_file = service.open_patient_file(caller.account, body.practice_id, body.patient_email)
    patient = db.get(Account, patient_file.patient_id)
    assert patient is not None
    return _patient_file_out(patient_file, patient, service.retention(patient_file))


@router.get("/patient-files", response_model=list[s.PatientFileOut])
def patient_files(
    practice_id: Annotated[uuid.UUID, Query()],
    caller: Caller,
    db: Db,
    ctx: Ctx,
    archived: Annotated[
        bool, Query(description="include files archived after the practice's active period")
    ] = False,
) -> list[s.PatientFileOut]:
    return [
        _patient_file_out(f, a, status)
        for f, a, status in RecordsService(db, ctx).patient_files(
            caller.account, practice_id, archived=archived
        )
    ]


@router.get("/patient-files/mine", response_model=list[s.MyFileOut])
def my_files(caller: Caller, db: Db, ctx: Ctx) -> list[s.MyFileOut]:
    """(Patients) The practices that hold a file about you."""
    return [
        s.MyFileOut(id=f.id, practice_id=p.id, practice_name=p.name, created_at=f.created_at)
        for f, p in RecordsService(db, ctx).files_of_patient(caller.account)
    ]


@router.get("/patient-files/{patient_file_id}", response_model=s.PatientFileOut)
def patient_file(patient_file_id: uuid.UUID, caller: Caller, db: Db, ctx: Ctx) -> s.PatientFileOut:
    """A file of your practice: whom the server says it is about (a sender's client
    proves it before encrypting to them, PROTOCOL 11.7)."""
    service = RecordsService(db, ctx)
    found = service.patient_file(caller.account, patient_file_id)
    patient = db.get(Account, found.patient_id)
    assert patient is not None
    return _patient_file_out(found, patient, service.retention(found))


@router.post(
    UPLOAD_PATH,
    status_code=201,
    response_model=s.BlobOut,
    dependencies=[REPLAYABLE],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload(request: Request, caller: Caller, db: Db, ctx: Ctx) -> s.BlobOut:
    """Upload a document envelope (encrypted on your device), streamed. It stays
    invisible until a document version refers to it, and is removed if none does."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/octet-stream":
        raise InvalidInput("send the envelope as application/octet-stream")
    service = RecordsService(db, ctx)
    # Refused before a byte is written: no upload may go past the account's quota.
    allowance = await run_in_threadpool(service.upload_allowance, caller.account)
    # The body may take minutes to arrive and the store to take it: the session's
    # connection goes back to the pool meanwhile (the quota is checked again, under the
    # account's lock, once the object is stored).
    await run_in_threadpool(db.commit)
    # Nor does it hold its place among the requests admitted to a session (a slow
    # client would keep it from the others): taken again before the session is.
    admitted = admission_slot(request)
    admitted.give_back()
    limit = min(ctx.settings.max_upload_bytes, allowance)
    spool = await run_in_threadpool(Spool, ctx.settings.upload_dir, limit)
    try:
        pending = bytearray()
        async for chunk in request.stream():
            pending += chunk
            if len(pending) >= _WRITE_BUFFER:
                await run_in_threadpool(spool.write, bytes(pending))
                pending.clear()
        await run_in_threadpool(spool.write, bytes(pending))
        path, size, digest = await run_in_threadpool(spool.finish)
        if size == 0:
            raise InvalidInput("the upload is empty")
        check_streamed_body()
        await admitted.take()
        blob = await run_in_threadpool(service.store_upload, caller.account, path, size, digest)
    except UploadTooLarge as exc:
        spool.discard()
        if limit < ctx.settings.max_upload_bytes:
            raise over_quota(ctx.settings.account_upload_quota_bytes) from exc
        raise ContentTooLarge(str(exc)) from exc
    except BaseException:
        spool.discard()
        raise
    # The store consumed the file: release it (see Spool).
    spool.close()
    return s.BlobOut(id=blob.id, size=blob.size, sha256=blob.sha256)


@router.post("/documents", status_code=201, response_model=s.DocumentOut, dependencies=[REPLAYABLE])
def create_document(body: s.DocumentIn, caller: Caller, db: Db, ctx: Ctx) -> s.DocumentOut:
    """Add a signed, encrypted document to a patient file, shared with its recipients."""
    service = RecordsService(db, ctx)
    service.create_document(caller.account, body.id, body.patient_file_id, _new_version(body))
    return _document_out(service.view(caller.account, body.id))


@router.post(
    "/documents/{document_id}/versions",
    status_code=201,
    response_model=s.DocumentOut,
    dependencies=[REPLAYABLE],
)
def add_version(
    document_id: uuid.UUID, body: s.NewVersionIn, caller: Caller, db: Db, ctx: Ctx
) -> s.DocumentOut:
    """A new version under a new key, for people who can read the latest one."""
    service = RecordsService(db, ctx)
    service.add_version(caller.account, document_id, body.number, _new_version(body))
    return _document_out(service.view(caller.account, document_id))


@router.get("/documents", response_model=list[s.DocumentOut])
def inbox(
    request: Request,
    response: Response,
    caller: Caller,
    db: Db,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[str | None, Query(max_length=60)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    patient_file_id: uuid.UUID | None = None,
) -> list[s.DocumentOut]:
    """Documents you can read, most recently changed first; with `patient_file_id`,
    only those of that patient file. When there may be more, the `Link` header's
    `next` gives the next page's `after`; `offset` is kept for older clients, and
    costs more the further it goes."""
    documents, following = documents_page(
        caller.account, db, ctx, limit, after, offset, patient_file_id
    )
    if following is not None:
        next_page = request.url.remove_query_params("offset").include_query_params(
            limit=limit, after=following
        )
        response.headers["Link"] = f'<{next_page}>; rel="next"'
    return documents


def documents_page(
    account: Account,
    db: Db,
    ctx: Ctx,
    limit: int,
    after: str | None,
    offset: int = 0,
    patient_file_id: uuid.UUID | None = None,
) -> tuple[list[s.DocumentOut], str | None]:
    """A page of the inbox (of one patient file's documents, if given) and the
    position the next one starts after, if any."""
    if after is not None and offset:
        raise InvalidInput("ask for the page after a position or at an offset, not both")
    position = Position.parse(after) if after is not None else None
    views, following = RecordsService(db, ctx).inbox(
        account, limit, position, offset, patient_file_id
    )
    return [_document_out(v) for v in views], following.token() if following else None


@router.get("/documents/{document_id}", response_model=s.DocumentOut)
def document(document_id: uuid.UUID, caller: Caller, db: Db, ctx: Ctx) -> s.DocumentOut:
    return _document_out(RecordsService(db, ctx).view(caller.account, document_id))


@router.get(
    "/documents/{document_id}/versions/{number}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def content(
    request: Request,
    document_id: uuid.UUID,
    number: Annotated[int, Path(ge=1, le=2**31)],
    caller: Caller,
    db: Db,
    ctx: Ctx,
) -> StreamingResponse:
    """The encrypted envelope of one version, streamed."""
    blob = RecordsService(db, ctx).content(caller.account, document_id, number)
    key, size = blob.key, blob.size
    # The database is done with: its connection goes back to the pool before the store
    # is asked for the object (which may be slow, or hang until its timeout), so slow
    # downloads cannot take the connections every other request needs.
    db.commit()
    db.close()
    # Nor does it wait for the store in its place among the requests admitted to a
    # session (server/admission.py).
    admission_slot(request).give_back_from_thread()
    return StreamingResponse(
        ctx.blobs.read(key),
        media_type="application/octet-stream",
        headers={"Content-Length": str(size)},
    )


@router.post(
    "/documents/{document_id}/versions/{number}/read",
    status_code=204,
    dependencies=[REPLAYABLE],
)
def mark_read(
    document_id: uuid.UUID,
    number: Annotated[int, Path(ge=1, le=2**31)],
    caller: Caller,
    db: Db,
    ctx: Ctx,
) -> None:
    """Your read receipt: you opened this version (decrypted, its signature verified).
    The first one counts; the inbox then no longer shows the version as new."""
    RecordsService(db, ctx).mark_read(caller.account, document_id, number)


@router.post(
    "/documents/{document_id}/shares", response_model=s.DocumentOut, dependencies=[REPLAYABLE]
)
def share(
    document_id: uuid.UUID, body: s.SharesIn, caller: Caller, db: Db, ctx: Ctx
) -> s.DocumentOut:
    """Give more people a version: its key, unwrapped and wrapped again on your device."""
    service = RecordsService(db, ctx)
    service.share(caller.account, document_id, body.version, _grants(body.shares))
    return _document_out(service.view(caller.account, document_id))


@router.post("/documents/rewraps", response_model=s.RewrappedOut, dependencies=[REPLAYABLE])
def rewrap(body: s.RewrapsIn, caller: Caller, db: Db, ctx: Ctx) -> s.RewrappedOut:
    """After a rotation, replace your own wrapped keys that your former keys open with
    the same document keys wrapped on your device to your current keys (docs/PROTOCOL.md,
    10.6). Needs a recent second factor: a stolen session must not be able to make your
    documents unreadable to you."""
    SessionService(db, ctx).require_recent_mfa(caller)
    rewrapped = [RewrappedKey(k.document_id, k.version, k.wrapped_key) for k in body.keys]
    return s.RewrappedOut(versions=RecordsService(db, ctx).rewrap_mine(caller.account, rewrapped))


@router.post(
    "/documents/{document_id}/revocations", response_model=s.RevokedOut, dependencies=[REPLAYABLE]
)
def revoke(
    document_id: uuid.UUID, body: s.RevocationIn, caller: Caller, db: Db, ctx: Ctx
) -> s.RevokedOut:
    """End someone's access now, with your signed statement that you did: their wrapped
    keys are erased, downloads refused, and the next author leaves them out."""
    signed = SignedRevocation(body.version, body.signer_key_index, body.signature)
    return s.RevokedOut(
        versions=RecordsService(db, ctx).revoke(
            caller.account, document_id, body.account_id, signed
        )
    )


@router.post(
    "/documents/{document_id}/restriction",
    response_model=s.RestrictionOut,
    dependencies=[REPLAYABLE],
)
def restrict(document_id: uuid.UUID, caller: Caller, db: Db, ctx: Ctx) -> s.RestrictionOut:
    """(The document's patient) Only you and its author can read this document until you
    lift this; the others' access comes back then. A copy someone already opened is
    theirs: the server can only stop serving it."""
    since = RecordsService(db, ctx).restrict(caller.account, document_id, restricted=True)
    return s.RestrictionOut(document_id=document_id, restricted_at=since)


@router.delete(
    "/documents/{document_id}/restriction",
    response_model=s.RestrictionOut,
    dependencies=[REPLAYABLE],
)
def lift_restriction(document_id: uuid.UUID, caller: Caller, db: Db, ctx: Ctx) -> s.RestrictionOut:
    """(The document's patient) Lift your restriction: those you or the practitioners
    had given access read it again."""
    since = RecordsService(db, ctx).restrict(caller.account, document_id, restricted=False)
    return s.RestrictionOut(document_id=document_id, restricted_at=since)


def _grants(shares: list[s.ShareIn]) -> list[ShareGrant]:
    return [
        ShareGrant(
            x.recipient_id,
            x.wrapped_key,
            x.expires_at,
            None
            if x.statement is None
            else SignedShare(
                x.statement.recipient_email, x.statement.signer_key_index, x.statement.signature
            ),
            x.available_from,
        )
        for x in shares
    ]


def _new_version(body: s.VersionIn) -> NewVersion:
    return NewVersion(
        blob_id=body.blob_id,
        envelope_header=body.envelope_header,
        metadata_envelope=body.metadata_envelope,
        signature=body.signature,
        signer_key_index=body.signer_key_index,
        shares=_grants(body.shares),
        readers=[Reader(r.account_id, r.email) for r in body.readers],
    )


def _reader_out(reader: Reader) -> s.ReaderIO:
    return s.ReaderIO(account_id=reader.account_id, email=reader.email)


def _patient_file_out(
    patient_file: PatientFile, patient: Account, status: FileRetentionStatus
) -> s.PatientFileOut:
    return s.PatientFileOut(
        id=patient_file.id,
        practice_id=patient_file.practice_id,
        patient_id=patient.id,
        patient_name=patient.display_name,
        patient_email=patient.email,
        created_at=patient_file.created_at,
        last_care_on=status.last_care_on,
        keep_until=status.keep_until,
        archived=status.archived,
    )


def _document_out(view: DocumentView) -> s.DocumentOut:
    d = view.document
    return s.DocumentOut(
        id=d.id,
        patient_file_id=d.patient_file_id,
        practice_id=d.practice_id,
        patient_id=d.patient_id,
        author_id=d.author_id,
        author_email=view.author.email,
        author_name=view.author.display_name,
        created_at=d.created_at,
        latest_version=d.latest_version,
        versions=[
            s.VersionOut(
                number=v.version.number,
                author_id=v.version.author_id,
                envelope_header=v.version.envelope_header,
                metadata_envelope=v.version.metadata_envelope,
                signature=v.version.signature,
                signer_key_index=v.version.signer_key_index,
                size=v.size,
                created_at=v.version.created_at,
                wrapped_key=v.wrapped_key,
                content_digest=v.content_digest,
                read_at=v.read_at,
                available_from=v.available_from,
                readers=None
                if v.version.readers is None
                else [_reader_out(r) for r in decode_readers(v.version.readers)],
                statements=[
                    s.ShareStatementOut(
                        granter_id=st.granter_id,
                        signer_key_index=st.signer_key_index,
                        recipient=s.ReaderIO(account_id=st.recipient_id, email=st.recipient_email),
                        signature=st.signature,
                        available_from=st.available_from,
                    )
                    for st in v.statements
                ],
            )
            for v in view.versions
        ],
        recipients=[
            s.RecipientOut(
                account_id=r.account_id,
                email=r.email,
                display_name=r.display_name,
                kind=r.kind,
                granted_by=r.granted_by,
                expires_at=r.expires_at,
            )
            for r in view.recipients
        ],
        revocations=[
            s.RevocationOut(
                revoker_id=r.revoker_id,
                signer_key_index=r.signer_key_index,
                version=r.version,
                reader=s.ReaderIO(account_id=r.reader_id, email=r.reader_email),
                signature=r.signature,
            )
            for r in view.revocations
        ],
        restricted_at=view.restricted_at,
    )
