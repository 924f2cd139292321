"""A change and the journal entry that records it commit together.

A request that changes something stages its entry in its own transaction, just
before it commits (``stage``, called by the request's session, server/deps.py). Once
committed, the journal middleware has the writer sequence it into the Merkle log
with the status actually answered, and hands the receipt to the client. If the
process dies or loses its database in between, the staged entry stays, with the
status the route answers on success; ``sequence_stale`` (``uhs-server worker``, and every
start) sequences it. Sequencing claims the staged row under the log's lock, so an
entry is sequenced exactly once whoever gets there first (audit/writer.py).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.types import Scope

from uhealthsec.crypto.journal import (
    ENTRY_VERSION_UNCHAINED,
    NOBODY,
    JournalEntry,
    ObjectKind,
    Outcome,
)
from uhealthsec.server.audit.middleware import UNJOURNALED_METHODS, pending_entry
from uhealthsec.server.audit.models import JournalOutbox, JournalRecord
from uhealthsec.server.audit.writer import JournalWriter, PendingEntry, Receipt
from uhealthsec.server.journaling.draft import JournalDraft

logger = logging.getLogger(__name__)

#: A staged entry older than this was left by a request that could not sequence it
#: (a live request sequences its own within milliseconds of committing).
STALE_AFTER = timedelta(seconds=30)
SWEEP_BATCH = 500


def stage(db: Session, scope: Scope, draft: JournalDraft, now: datetime) -> None:
    """Stage the entry of a change in the request's transaction, before it commits."""
    if (
        draft.method in UNJOURNALED_METHODS
        or not (draft.listed or draft.patients)
        or scope.get("endpoint") is None
        or draft.outbox_id is not None
    ):
        return
    route = scope.get("route")
    status = getattr(route, "status_code", None) or 200
    staged = stage_entry(db, pending_entry(scope, draft, status, lambda: now), now)
    draft.outbox_id = staged.outbox_id


def stage_entry(db: Session, pending: PendingEntry, now: datetime) -> PendingEntry:
    """Stage ``pending`` in ``db``'s transaction (work outside requests: the retention
    purge); returns it with its staged id, to sequence once committed."""
    outbox_id = uuid.uuid4()
    # Drafted without chain links (given when sequenced): encoded as version 1.
    drafted = replace(pending.entry, version=ENTRY_VERSION_UNCHAINED, chain=())
    db.add(
        JournalOutbox(
            id=outbox_id,
            entry=drafted.encode(),
            patients=",".join(str(p) for p in pending.patient_ids),
            practice_id=pending.practice_id,
            ip_address=(pending.ip_address or "")[:45] or None,
            created_at=now,
        )
    )
    db.flush()
    return replace(pending, outbox_id=outbox_id)


def stage_worker_entry(
    db: Session, action: str, practice_id: uuid.UUID, now: datetime
) -> PendingEntry:
    """Stage what the worker itself did about a practice (a reminder, an alert): no
    actor, no patient, seen in the practice's journal."""
    entry = JournalEntry(
        timestamp_ms=int(now.timestamp() * 1000),
        actor=NOBODY,
        action=action,
        outcome=Outcome.DONE,
        status=200,
        objects=((ObjectKind.PRACTICE, practice_id),),
        client="uhs-worker",
    )
    return stage_entry(db, PendingEntry(entry, (), practice_id), now)


@dataclass(frozen=True)
class StagedLag:
    """How far the journal is behind the changes committed."""

    entries: int
    #: Age of the oldest entry staged and not sequenced; 0 when none waits.
    oldest_seconds: float


def staged_lag(db: Session, now: datetime) -> StagedLag:
    count, oldest = db.execute(
        select(func.count(), func.min(JournalOutbox.created_at)).select_from(JournalOutbox)
    ).one()
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return StagedLag(count, age)


def sequence_stale(
    writer: JournalWriter, now: datetime, stale_after: timedelta = STALE_AFTER
) -> int:
    """Sequence the entries staged before ``now - stale_after`` that nobody sequenced,
    in batches until none is left; returns how many. Safe beside live requests and
    other sweepers. A batch the journal cannot take is logged and ends the round (the
    next round tries again): a sweep never stops its caller."""
    done = 0
    while True:
        with writer.sessions() as db:
            rows = db.scalars(
                select(JournalOutbox)
                .where(JournalOutbox.created_at < now - stale_after)
                .order_by(JournalOutbox.created_at)
                .limit(SWEEP_BATCH)
            ).all()
        futures = [writer.submit(_pending(row)) for row in rows]
        try:
            for future in futures:
                future.result(timeout=120)
        except Exception:
            logger.exception("staged journal entries could not be sequenced yet")
            return done
        done += len(rows)
        if len(rows) < SWEEP_BATCH:
            return done


def receipt_of_staged(writer: JournalWriter, outbox_id: uuid.UUID) -> Receipt | None:
    """The receipt of an entry staged as ``outbox_id`` by a committed change: sequenced
    now if it is still staged (its request's process stopped before it could), else
    where it was placed; None if there is no such entry."""
    with writer.sessions() as db:
        row = db.get(JournalOutbox, outbox_id)
        placed = (
            db.scalar(select(JournalRecord.entry).where(JournalRecord.outbox_id == outbox_id))
            if row is None
            else None
        )
    if row is not None:
        pending = _pending(row)
    elif placed is not None:
        entry = JournalEntry.decode(bytes(placed), check_links=False)
        pending = PendingEntry(entry, outbox_id=outbox_id, swept=True)
    else:
        return None
    return writer.submit(pending).result(timeout=120)


def _pending(row: JournalOutbox) -> PendingEntry:
    entry = JournalEntry.decode(bytes(row.entry), check_links=False)
    return PendingEntry(
        entry,
        patient_ids=tuple(uuid.UUID(p) for p in row.patients.split(",") if p),
        practice_id=row.practice_id,
        ip_address=row.ip_address,
        outbox_id=row.id,
        swept=True,
    )
