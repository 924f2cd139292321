"""HTTP layer of pending shares (records/pending.py)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from uhealthsec.protocol import pending as s
from uhealthsec.protocol.records import ShareStatementIn
from uhealthsec.server.deps import REPLAYABLE, AnswerKeepingRoute, Caller, Ctx, Db
from uhealthsec.server.records.granting import SignedShare
from uhealthsec.server.records.pending import PendingShares, PendingView

router = APIRouter(route_class=AnswerKeepingRoute, tags=["records"])


@router.get(
    "/practices/{practice_id}/patient-invitations", response_model=list[s.PatientInvitationOut]
)
def patient_invitations(
    practice_id: uuid.UUID, caller: Caller, db: Db, ctx: Ctx
) -> list[s.PatientInvitationOut]:
    """Patients the practice invited who have not joined yet: a document can wait for them."""
    return [
        s.PatientInvitationOut(
            id=i.id,
            practice_id=i.practice_id,
            email=i.email,
            created_at=i.created_at,
            expires_at=i.expires_at,
        )
        for i in PendingShares(db, ctx).patient_invitations(caller.account, practice_id)
    ]


@router.post(
    "/documents/{document_id}/pending-shares",
    status_code=201,
    response_model=s.PendingShareOut,
    dependencies=[REPLAYABLE],
)
def create_pending_share(
    document_id: uuid.UUID, body: s.PendingShareIn, caller: Caller, db: Db, ctx: Ctx
) -> s.PendingShareOut:
    """A version waits for an invited patient; your client completes it when they join."""
    view = PendingShares(db, ctx).create(
        caller.account, document_id, body.version, body.invitation_id, _signed(body.statement)
    )
    return _out(view)


@router.get("/pending-shares", response_model=list[s.PendingShareOut])
def pending_shares(caller: Caller, db: Db, ctx: Ctx) -> list[s.PendingShareOut]:
    """Your pending shares, newest first, each with where it stands."""
    return [_out(v) for v in PendingShares(db, ctx).of_sender(caller.account)]


@router.post(
    "/pending-shares/{pending_share_id}/completion",
    response_model=s.PendingShareOut,
    dependencies=[REPLAYABLE],
)
def complete_pending_share(
    pending_share_id: uuid.UUID, body: s.PendingCompletionIn, caller: Caller, db: Db, ctx: Ctx
) -> s.PendingShareOut:
    """The patient joined: the key your client wrapped for their proven keys."""
    view = PendingShares(db, ctx).complete(
        caller.account, pending_share_id, body.wrapped_key, _signed(body.statement)
    )
    return _out(view)


@router.delete("/pending-shares/{pending_share_id}", response_model=s.PendingShareOut)
def cancel_pending_share(
    pending_share_id: uuid.UUID, caller: Caller, db: Db, ctx: Ctx
) -> s.PendingShareOut:
    return _out(PendingShares(db, ctx).cancel(caller.account, pending_share_id))


def _signed(statement: ShareStatementIn) -> SignedShare:
    return SignedShare(statement.recipient_email, statement.signer_key_index, statement.signature)


def _out(view: PendingView) -> s.PendingShareOut:
    p = view.pending
    return s.PendingShareOut(
        id=p.id,
        document_id=p.document_id,
        version=p.version,
        practice_id=view.practice_id,
        patient_id=p.patient_id,
        patient_email=p.patient_email,
        state=view.state,
        signer_key_index=p.signer_key_index,
        signature=p.signature,
        created_at=p.created_at,
        expires_at=p.expires_at,
    )
