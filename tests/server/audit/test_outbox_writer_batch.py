"""The writer's handling of staged entries (audit/writer.py): a row staged twice in a
batch, a staged row whose transaction did not commit, and the writer thread going on."""

from __future__ import annotations

import uuid
from concurrent.futures import Future

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from tests.server.audit.test_outbox import leave_one_staged
from tests.server.records.conftest import Practice, thread_body
from uhealthsec.server import deps
from uhealthsec.server.audit.models import JournalOutbox, JournalRecord
from uhealthsec.server.audit.outbox import _pending
from uhealthsec.server.audit.writer import JournalWriter, PendingEntry, _Request


def _count(ctx, table) -> int:
    with ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(table)) or 0


def _staged_rows(ctx) -> list[JournalOutbox]:
    with ctx.sessions() as db:
        return list(db.scalars(select(JournalOutbox).order_by(JournalOutbox.created_at)))


def test_one_batch_holding_a_staged_row_twice_answers_both(practice: Practice, ctx, monkeypatch):
    """writer._append says "a row staged twice in one batch: appended once", but returns
    one receipt for two requests when no other staged entry of the batch was sequenced
    before (the plain path returns len(batch) receipts, not len(requested))."""
    leave_one_staged(practice, monkeypatch)
    [row] = _staged_rows(ctx)
    pending = _pending(row)
    receipts = ctx.journal._append([pending, pending])
    assert len(receipts) == 2, f"{len(receipts)} receipt(s) for 2 requests"


def test_a_batch_with_a_row_twice_does_not_stop_the_writer(practice: Practice, ctx, monkeypatch):
    """Both requests of one batch holding the same staged row get its one entry, and
    the writer thread goes on writing."""
    leave_one_staged(practice, monkeypatch)
    [row] = _staged_rows(ctx)
    writer = JournalWriter(ctx.sessions, ctx.journal._signer, ctx.now)
    try:
        first: Future = Future()
        second: Future = Future()
        # Queued before the thread starts, so that one batch holds both.
        writer._queue.put(_Request(_pending(row), first))
        writer._queue.put(_Request(_pending(row), second))
        writer.submit(PendingEntry(_pending(row).entry))  # starts the thread
        assert first.result(timeout=30).index == second.result(timeout=30).index
        later = writer.submit(PendingEntry(_pending(row).entry))
        assert later.result(timeout=30) is not None
        assert writer._thread is not None and writer._thread.is_alive()
    finally:
        writer.close()


def _commit_lost_after_staging(monkeypatch) -> list[uuid.UUID]:
    """The request's commit fails after its entry was staged and flushed (the
    connection dropped, the server restarted, a serialization failure)."""
    ghosts: list[uuid.UUID] = []
    real = deps.stage

    def stage_then_lose(db, scope, draft, now):
        real(db, scope, draft, now)
        ghosts.append(draft.outbox_id)

        @event.listens_for(db, "before_commit")
        def lost(session):
            raise OperationalError("COMMIT", {}, ConnectionError("server closed the connection"))

    monkeypatch.setattr(deps, "stage", stage_then_lose)
    return ghosts


def test_a_request_whose_commit_failed_is_journaled_as_failed(practice: Practice, ctx, monkeypatch):
    """draft.outbox_id is set before the commit and never cleared when it fails: the
    middleware then asks the writer to sequence a row that never existed; the writer
    raises LookupError. The request that failed is not journaled at all (before the
    change it was, as failed), and its answer is the writer's error."""
    alice = practice.alice.exchange
    body = thread_body(alice, practice.bob.user)
    entries = _count(ctx, JournalRecord)
    seen: list[BaseException] = []
    real_append = JournalWriter._append

    def spying(self, requested):
        try:
            return real_append(self, requested)
        except BaseException as exc:
            seen.append(exc)
            raise

    monkeypatch.setattr(JournalWriter, "_append", spying)
    ghosts = _commit_lost_after_staging(monkeypatch)
    with pytest.raises(Exception):  # noqa: B017 - the answer is an error whatever it is
        alice.call("POST", "/threads", json=body)
    assert ghosts and _count(ctx, JournalOutbox) == 0  # rolled back with the change
    assert not seen, f"the writer failed: {seen!r}"
    assert _count(ctx, JournalRecord) == entries + 1  # the failure, journaled


def test_one_request_whose_commit_failed_does_not_fail_its_whole_batch(
    practice: Practice, ctx, monkeypatch
):
    """In one batch with a ghost (the staged row of a request whose commit failed):
    every other request of the batch, whose change did commit, is failed with
    LookupError and its entry not written; its row is left for the sweeper, which
    journals it with the provisional status, and its client got an error for a
    change that was made."""
    leave_one_staged(practice, monkeypatch)
    [row] = _staged_rows(ctx)
    innocent = _pending(row)
    ghost = PendingEntry(innocent.entry, outbox_id=uuid.uuid4())
    receipts = ctx.journal._append([innocent, ghost])
    assert receipts[0].entry
