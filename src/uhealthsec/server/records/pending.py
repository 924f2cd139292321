"""Pending shares: a version its sender wants a patient to read who has no account
yet. No HTTP here.

The server knows only the invitation (address, practice, role patient) and the
sender's signed statement naming the patient's future account and address; it holds
no key of the document, so it never completes a share itself. It tells the sender when
the patient has joined; the sender's client then looks the patient up in the key
directory itself, checks that the proven entry is the account and address it signed
for, and shares the normal way (docs/PROTOCOL.md 11.6).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from uhealthsec.crypto.manifest import Reader, ShareStatement
from uhealthsec.protocol.pending import MAX_OPEN_PENDING_SHARES, PendingState
from uhealthsec.server.accounts.models import (
    Account,
    AccountKind,
    AccountStatus,
    Invitation,
    Role,
)
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import Conflict, Forbidden, NotFound
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.records.granting import ShareGrant, SignedShare
from uhealthsec.server.records.interfaces import SharingRules
from uhealthsec.server.records.models import PatientFile, PendingShare
from uhealthsec.server.records.service import RecordsService

#: The newest pending shares a sender is shown (the open ones are at most
#: MAX_OPEN_PENDING_SHARES).
LISTED = 200


@dataclass(frozen=True)
class PendingView:
    pending: PendingShare
    practice_id: uuid.UUID
    state: PendingState


class PendingShares:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx
        self.records = RecordsService(db, ctx)

    def patient_invitations(self, caller: Account, practice_id: uuid.UUID) -> list[Invitation]:
        """Whom a practitioner may send a document to before they register."""
        invitations = AccountService(self.db, self.ctx).open_patient_invitations(
            caller, practice_id
        )
        current_draft().about_practice(practice_id)
        return invitations

    def create(
        self,
        caller: Account,
        document_id: uuid.UUID,
        number: int,
        invitation_id: uuid.UUID,
        signed: SignedShare,
    ) -> PendingView:
        """Record that ``caller`` will give the invited patient this version once they
        join: only its author, or a practitioner reading it whom the patient's
        directives allow, and only for a document of that patient's file."""
        document, patient_file = self.records._readable_document(caller, document_id, lock=True)
        current_draft().about_patient(patient_file.patient_id, patient_file.practice_id)
        if caller.kind != AccountKind.PRACTITIONER:
            raise Forbidden("only practitioners share documents")
        version = self.records._version(document, number)
        if self.records._active_share(version.id, caller.id) is None:
            raise Forbidden("you cannot read this version, so you cannot share it")
        if caller.id != document.author_id:
            ruling = self.ctx.find(SharingRules, self.db).rulings(patient_file, [caller.id])
            verdict = ruling.get(caller.id)
            if verdict is None or not verdict.allowed:
                raise Forbidden(
                    "only the author, or a practitioner the patient's directives allow, "
                    "shares this document with the patient"
                )
        invitation = self.db.get(Invitation, invitation_id)
        if (
            invitation is None
            or invitation.practice_id != patient_file.practice_id
            or invitation.role != Role.PATIENT
            or invitation.accepted_at is not None
            or invitation.expires_at <= self.ctx.now()
        ):
            raise NotFound("no open patient invitation of this document's practice")
        patient = self.db.get(Account, patient_file.patient_id)
        assert patient is not None
        if patient.status != AccountStatus.INVITED or patient.email != invitation.email:
            raise Forbidden(
                "this document's file is not that invited patient's: a patient with an "
                "account is shared with directly"
            )
        if self._open(caller.id, document.id, patient.id):
            raise Conflict("this document already waits for this patient")
        waiting = self.db.scalar(
            select(func.count()).where(
                PendingShare.sender_id == caller.id,
                PendingShare.completed_at.is_(None),
                PendingShare.cancelled_at.is_(None),
                PendingShare.expires_at > self.ctx.now(),
            )
        )
        if (waiting or 0) >= MAX_OPEN_PENDING_SHARES:
            raise Conflict(
                f"you already have {MAX_OPEN_PENDING_SHARES} documents waiting for patients "
                "to join: cancel some, or wait for them to join"
            )
        if signed.recipient_email != invitation.email:
            raise Forbidden("sign the statement for the invited address")
        statement = ShareStatement(
            document.id,
            version.number,
            caller.id,
            signed.signer_key_index,
            Reader(patient.id, invitation.email),
        )
        KeyDirectory(self.db, self.ctx).check_signature(
            caller, signed.signer_key_index, statement, signed.signature
        )
        pending = PendingShare(
            document_id=document.id,
            version=version.number,
            invitation_id=invitation.id,
            sender_id=caller.id,
            patient_id=patient.id,
            patient_email=invitation.email,
            signer_key_index=signed.signer_key_index,
            signature=signed.signature,
            created_at=self.ctx.now(),
            expires_at=invitation.expires_at,
        )
        self.db.add(pending)
        self.db.flush()
        return self._view(pending, patient_file)

    def of_sender(self, caller: Account) -> list[PendingView]:
        """The caller's pending shares, newest first, with where each one stands."""
        rows = self.db.scalars(
            select(PendingShare)
            .where(PendingShare.sender_id == caller.id)
            .order_by(PendingShare.created_at.desc())
            .limit(LISTED)
        )
        views = []
        for pending in rows:
            _, patient_file = self.records._document(pending.document_id, "no such document")
            views.append(self._view(pending, patient_file))
            current_draft().about_patient(patient_file.patient_id, patient_file.practice_id)
        return views

    def complete(
        self, caller: Account, pending_id: uuid.UUID, wrapped_key: bytes, signed: SignedShare
    ) -> PendingView:
        """The sender's client gives the patient who joined the version's key, wrapped
        for the keys it found in the directory, with its signed share statement; the
        rules of every share apply (records.service.share)."""
        pending, patient_file = self._own(caller, pending_id)
        state = self._state(pending, patient_file)
        if state != PendingState.JOINED:
            raise Conflict(f"this pending share cannot be completed: it is {state.value}")
        self.records.share(
            caller,
            pending.document_id,
            pending.version,
            [ShareGrant(pending.patient_id, wrapped_key, None, signed)],
        )
        pending.completed_at = self.ctx.now()
        self.db.flush()
        return self._view(pending, patient_file)

    def cancel(self, caller: Account, pending_id: uuid.UUID) -> PendingView:
        pending, patient_file = self._own(caller, pending_id)
        state = self._state(pending, patient_file)
        if state in (PendingState.COMPLETED, PendingState.CANCELLED):
            raise Conflict(f"this pending share is already {state.value}")
        pending.cancelled_at = self.ctx.now()
        self.db.flush()
        return self._view(pending, patient_file)

    def _own(self, caller: Account, pending_id: uuid.UUID) -> tuple[PendingShare, PatientFile]:
        pending = self.db.get(
            PendingShare, pending_id, with_for_update=True, populate_existing=True
        )
        if pending is None or pending.sender_id != caller.id:
            raise NotFound("no such pending share")
        _, patient_file = self.records._document(pending.document_id, "no such pending share")
        current_draft().about_patient(patient_file.patient_id, patient_file.practice_id)
        return pending, patient_file

    def _open(self, sender_id: uuid.UUID, document_id: uuid.UUID, patient_id: uuid.UUID) -> bool:
        return (
            self.db.scalar(
                select(PendingShare.id).where(
                    PendingShare.sender_id == sender_id,
                    PendingShare.document_id == document_id,
                    PendingShare.patient_id == patient_id,
                    PendingShare.completed_at.is_(None),
                    PendingShare.cancelled_at.is_(None),
                    PendingShare.expires_at > self.ctx.now(),
                )
            )
            is not None
        )

    def _state(self, pending: PendingShare, patient_file: PatientFile) -> PendingState:
        if pending.completed_at is not None:
            return PendingState.COMPLETED
        if pending.cancelled_at is not None:
            return PendingState.CANCELLED
        patient = self.db.get(Account, pending.patient_id)
        joined = (
            patient is not None
            and patient.status == AccountStatus.ACTIVE
            and patient_file.practice_id
            in AccountService(self.db, self.ctx).patient_practices(patient.id)
        )
        if joined:
            return PendingState.JOINED
        if pending.expires_at <= self.ctx.now():
            return PendingState.EXPIRED
        return PendingState.WAITING

    def _view(self, pending: PendingShare, patient_file: PatientFile) -> PendingView:
        return PendingView(pending, patient_file.practice_id, self._state(pending, patient_file))
