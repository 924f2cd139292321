"""Messages with a patient kept as long as the patient's file (R16).

A thread whose participants include a patient is correspondence about their care: it
belongs to the patient's file in the practice of each other participant who is a
member of a practice holding a file of that patient. It is destroyed, keys first,
when the last of those files is destroyed: a practice whose file is still kept must
still be able to show that correspondence. Threads between practitioners alone name
no patient the server can see (what they are about is encrypted), so no file holds
them; docs/PROTOCOL.md (retention) says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, aliased

from uhealthsec.server.accounts.models import Membership
from uhealthsec.server.messaging.models import (
    Message,
    MessageKey,
    Thread,
    ThreadMembershipRecord,
    ThreadParticipant,
)


def files_holding_threads(
    db: Session, files: Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]
) -> set[uuid.UUID]:
    """Of ``files`` (id, patient, practice), those that hold a thread: one with the
    patient and a member of the file's practice. One query whatever the number."""
    if not files:
        return set()
    patient_side, other_side = aliased(ThreadParticipant), aliased(ThreadParticipant)
    held: set[uuid.UUID] = set()
    by_pair = {(patient, practice): file_id for file_id, patient, practice in files}
    rows = db.execute(
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
    for patient, practice in rows:
        file_id = by_pair.get((patient, practice))
        if file_id is not None:
            held.add(file_id)
    return held


def destroy_threads_of_file(
    db: Session,
    patient_id: uuid.UUID,
    practice_id: uuid.UUID,
    kept_practices: Collection[uuid.UUID],
) -> list[uuid.UUID]:
    """Destroy the threads of the patient's file in ``practice_id`` that no file still
    kept holds (``kept_practices``: the practices whose file of the patient is not
    destroyed, this one left out). The message keys go first: once they are gone no
    one can decrypt a copy of the messages. Returns the threads destroyed."""
    patient_side, other_side = aliased(ThreadParticipant), aliased(ThreadParticipant)
    candidates = set(
        db.scalars(
            select(patient_side.thread_id)
            .join(other_side, other_side.thread_id == patient_side.thread_id)
            .join(Membership, Membership.account_id == other_side.account_id)
            .where(
                patient_side.account_id == patient_id,
                other_side.account_id != patient_id,
                Membership.practice_id == practice_id,
            )
        ).all()
    )
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
    db.execute(delete(ThreadMembershipRecord).where(ThreadMembershipRecord.thread_id.in_(doomed)))
    db.execute(delete(ThreadParticipant).where(ThreadParticipant.thread_id.in_(doomed)))
    db.execute(delete(Thread).where(Thread.id.in_(doomed)))
    return doomed
