"""Two sweepers (two processes' writers) racing over the same staged rows, with a
live writer: every staged entry lands exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from tests.server.audit.test_outbox import leave_one_staged
from tests.server.records.conftest import Practice
from uhealthsec.server.audit.models import JournalOutbox, JournalRecord
from uhealthsec.server.audit.outbox import sequence_stale
from uhealthsec.server.audit.writer import JournalWriter


def test_two_sweepers_sequence_each_staged_entry_once(practice: Practice, ctx, monkeypatch):
    for _ in range(5):
        leave_one_staged(practice, monkeypatch)
    with ctx.sessions() as db:
        staged = set(db.scalars(select(JournalOutbox.id)))
    assert len(staged) == 5
    writers = [JournalWriter(ctx.sessions, ctx.journal._signer, ctx.now) for _ in range(2)]
    later = ctx.now() + timedelta(seconds=31)
    counts: list[int] = []
    errors: list[BaseException] = []

    def sweep(writer):
        try:
            counts.append(sequence_stale(writer, later))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sweep, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for w in writers:
        w.close()
    assert not errors, errors
    with ctx.sessions() as db:
        landed = db.scalars(
            select(JournalRecord.outbox_id).where(JournalRecord.outbox_id.in_(staged))
        ).all()
        left = db.scalar(select(func.count()).select_from(JournalOutbox))
    assert sorted(map(str, landed)) == sorted(map(str, staged)) and left == 0
