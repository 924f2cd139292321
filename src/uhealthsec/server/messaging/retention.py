"""Messages with a patient kept as long as the patient's file (R16): what
retention.interfaces.Correspondence asks, provided by server/wiring.py.

A thread whose participants include a patient is correspondence about their care: it
belongs to the patient's file in the practice of each other participant who is a
member of a practice holding a file of that patient. It is destroyed, keys first,
when the last of those files is destroyed: a practice whose file is still kept must
still be able to show that correspondence. A thread with the patient that no file holds
(its practitioners' practices opened none) goes with the patient's last file. New
messages in a thread of a destroyed file start its retention again, as a new document
does. Threads between practitioners alone name no patient the server can see (what
they are about is encrypted), so no file holds them.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, aliased

from uhealthsec.server.accounts.models import Account, AccountKind, Membership
from uhealthsec.server.context import AppContext
from uhealthsec.server.messaging.models import (
    Message,
    MessageKey,
    Thread,
    ThreadMembershipRecord,
    ThreadParticipant,
)
from uhealthsec.server.records.models import PatientFile
from uhealthsec.server.retention.models import FileRetention
from uhealthsec.server.retention.service import RetentionService


class PatientCorrespondence:
    """retention.interfaces.Correspondence, over the messaging tables."""

    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db

    def files_holding_threads(
        self, files: Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]
    ) -> set[uuid.UUID]:
        """Of ``files`` (id, patient, practice), those that hold a thread: one with the
        patient and a member of the file's practice. One query whatever the number."""
        if not files:
            return set()
        patient_side, other_side = aliased(ThreadParticipant), aliased(ThreadParticipant)
        by_pair = {(patient, practice): file_id for file_id, patient, practice in files}
        rows = self.db.execute(
            select(patient_side.account_id, Membership.practice_id)
            .join(other_side, other_side.thread_id == patient_side.thread_id)
            .join(Membership, Membership.account_id == other_side.account_id)
            .where(
                patient_side.account_id.in_({patient for _, patient, _ in files}),
                other_side.account_id != patient_side.account_id,
                Membership.practice_id.in_({practice for _, _, practice in files}),
            )
            .distinct()
        ).all()
        return {by_pair[pair] for pair in map(tuple, rows) if pair in by_pair}

    def destroy_threads_of_file(
        self,
        patient_id: uuid.UUID,
        practice_id: uuid.UUID | None,
        kept_practices: Collection[uuid.UUID],
    ) -> list[uuid.UUID]:
        """Destroy the threads of the patient's file in ``practice_id`` (every thread of
        the patient when None: their account is deleted) that no file still kept holds
        (``kept_practices``: the practices whose file of the patient is not destroyed,
        this one left out), and, when none is kept, every other thread of the patient.
        The message keys go first: once they are gone no one can decrypt a copy of the
        messages. Returns the threads destroyed."""
        db = self.db
        patient_side, other_side = aliased(ThreadParticipant), aliased(ThreadParticipant)
        of_patient = select(patient_side.thread_id).where(patient_side.account_id == patient_id)
        if kept_practices and practice_id is not None:
            of_patient = (
                of_patient.join(other_side, other_side.thread_id == patient_side.thread_id)
                .join(Membership, Membership.account_id == other_side.account_id)
                .where(other_side.account_id != patient_id, Membership.practice_id == practice_id)
            )
        candidates = set(db.scalars(of_patient).all())
        if not candidates:
            return []
        still_held: set[uuid.UUID] = set()
        if kept_practices:
            still_held = set(
                db.scalars(
                    select(ThreadParticipant.thread_id)
                    .join(Membership, Membership.account_id == ThreadParticipant.account_id)
                    .where(
                        ThreadParticipant.thread_id.in_(candidates),
                        ThreadParticipant.account_id != patient_id,
                        Membership.practice_id.in_(list(kept_practices)),
                    )
                ).all()
            )
        doomed = sorted(candidates - still_held)
        if not doomed:
            return []
        messages = select(Message.id).where(Message.thread_id.in_(doomed))
        db.execute(delete(MessageKey).where(MessageKey.message_id.in_(messages)))
        db.execute(delete(Message).where(Message.thread_id.in_(doomed)))
        db.execute(
            delete(ThreadMembershipRecord).where(ThreadMembershipRecord.thread_id.in_(doomed))
        )
        db.execute(delete(ThreadParticipant).where(ThreadParticipant.thread_id.in_(doomed)))
        db.execute(delete(Thread).where(Thread.id.in_(doomed)))
        return doomed

    def forget_reader(self, account_id: uuid.UUID) -> int:
        """Delete every message key wrapped for the account (it was deleted): the
        messages kept with a file stay readable by the others only."""
        return int(
            self.db.execute(  # type: ignore[attr-defined]
                delete(MessageKey).where(MessageKey.recipient_id == account_id)
            ).rowcount
            or 0
        )


def reopen_destroyed_files(db: Session, ctx: AppContext, thread_id: uuid.UUID) -> None:
    """A new message with a patient whose file it belongs to was destroyed: that file's
    retention starts again (as for a new document), so the purge finds the thread."""
    patient_side, other_side = aliased(ThreadParticipant), aliased(ThreadParticipant)
    practices = (
        select(Membership.practice_id)
        .join(other_side, other_side.account_id == Membership.account_id)
        .where(other_side.thread_id == thread_id)
    )
    patients = (
        select(patient_side.account_id)
        .join(Account, Account.id == patient_side.account_id)
        .where(patient_side.thread_id == thread_id, Account.kind == AccountKind.PATIENT)
    )
    destroyed = db.scalars(
        select(PatientFile)
        .join(FileRetention, FileRetention.patient_file_id == PatientFile.id)
        .where(
            FileRetention.shredded_at.is_not(None),
            PatientFile.patient_id.in_(patients),
            PatientFile.practice_id.in_(practices),
        )
    ).all()
    retention = RetentionService(db, ctx)
    for patient_file in destroyed:
        retention.reopen(patient_file)
