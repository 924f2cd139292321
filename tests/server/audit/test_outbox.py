"""A change and its journal entry commit together (audit/outbox.py): staged in the
request's transaction, sequenced once by the request or, if it could not, by the
sweeper; never lost, never twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tests.server.records.conftest import Practice, thread_body
from tests.server.scrape import open_metrics, scrape, value
from uhealthsec.client.api import ApiError
from uhealthsec.crypto.journal import JournalEntry, ObjectKind, Outcome
from uhealthsec.server.audit.middleware import JournalMiddleware
from uhealthsec.server.audit.models import JournalOutbox, JournalRecord
from uhealthsec.server.audit.outbox import sequence_stale
from uhealthsec.server.messaging.models import Thread


def _staged(ctx) -> int:
    with ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(JournalOutbox)) or 0


def _entries_about(ctx, thread_id) -> list[tuple[JournalRecord, JournalEntry]]:
    with ctx.sessions() as db:
        rows = db.scalars(select(JournalRecord).order_by(JournalRecord.log_index)).all()
    found = []
    for row in rows:
        entry = JournalEntry.decode(bytes(row.entry))
        if (ObjectKind.THREAD, thread_id) in entry.objects:
            found.append((row, entry))
    return found


def _threads(ctx) -> list:
    with ctx.sessions() as db:
        return list(db.scalars(select(Thread.id)))


def test_a_change_is_sequenced_by_its_request_with_the_status_answered(practice: Practice, ctx):
    alice = practice.alice.exchange
    answer = alice.call("POST", "/threads", json=thread_body(alice, practice.bob.user))
    assert "uhs-journal-entry" in answer.headers
    assert _staged(ctx) == 0
    [(row, entry)] = _entries_about(ctx, _threads(ctx)[-1])
    assert row.outbox_id is not None
    assert (entry.outcome, entry.status) == (Outcome.DONE, answer.status_code)


def leave_one_staged(practice: Practice, monkeypatch) -> None:
    """A change committed whose process could not sequence its entry (its database
    connection lost, or the process killed before the answer)."""
    alice = practice.alice.exchange

    async def journal_unreachable(self, scope, draft, status):
        raise ConnectionError("the journal's database went away")

    with monkeypatch.context() as patched:
        patched.setattr(JournalMiddleware, "_append", journal_unreachable)
        with pytest.raises((ApiError, ConnectionError, RuntimeError)):
            alice.call("POST", "/threads", json=thread_body(alice, practice.bob.user))


def test_a_change_whose_process_could_not_journal_it_is_journaled_once_later(
    practice: Practice, ctx, monkeypatch
):
    before = set(_threads(ctx))
    leave_one_staged(practice, monkeypatch)
    [created] = set(_threads(ctx)) - before
    assert _entries_about(ctx, created) == [] and _staged(ctx) == 1

    # A live request's entry is not taken from it: only stale ones are swept.
    assert sequence_stale(ctx.journal, ctx.now()) == 0
    later = ctx.now() + timedelta(seconds=31)
    assert sequence_stale(ctx.journal, later) == 1
    [(_row, entry)] = _entries_about(ctx, created)
    assert entry.action == "messaging.create_thread" and entry.outcome == Outcome.DONE
    assert entry.actor.hex == practice.alice.user.account_id.replace("-", "")
    assert _staged(ctx) == 0
    assert sequence_stale(ctx.journal, later) == 0  # nothing twice
    assert len(_entries_about(ctx, created)) == 1


def test_the_journals_lag_is_scraped_until_the_sweep_catches_up(
    practice: Practice, ctx, client, monkeypatch
):
    open_metrics(ctx)
    assert value(scrape(client), "uhs_journal_staged_entries") == 0
    leave_one_staged(practice, monkeypatch)
    with ctx.sessions.begin() as db:
        db.execute(update(JournalOutbox).values(created_at=ctx.now() - timedelta(seconds=45)))
    lagging = scrape(client)
    assert value(lagging, "uhs_journal_staged_entries") == 1
    assert value(lagging, "uhs_journal_staged_oldest_seconds") == 45
    assert sequence_stale(ctx.journal, ctx.now()) == 1
    caught_up = scrape(client)
    assert value(caught_up, "uhs_journal_staged_entries") == 0
    assert value(caught_up, "uhs_journal_staged_oldest_seconds") == 0


def test_a_refused_change_stages_nothing(practice: Practice, ctx):
    alice = practice.alice.exchange
    body = thread_body(alice, practice.bob.user)
    body["membership"]["signature"] = body["membership"]["signature"][::-1]  # not signed
    with pytest.raises(ApiError) as refused:
        alice.call("POST", "/threads", json=body)
    assert 400 <= refused.value.status < 500
    assert _staged(ctx) == 0


def test_a_request_and_a_sweeper_racing_for_one_entry_journal_it_once(practice: Practice, ctx):
    """Both claim the staged row under the log's lock: the second finds it sequenced
    and answers with the first one's place."""
    from uhealthsec.server.audit.outbox import _pending

    alice = practice.alice.exchange
    alice.call("POST", "/threads", json=thread_body(alice, practice.bob.user))
    with ctx.sessions() as db:
        last = db.scalars(select(JournalRecord).order_by(JournalRecord.log_index.desc())).first()
    # Replaying the staged row (as a sweeper holding an old copy would) lands nowhere new.
    stale = JournalOutbox(
        id=last.outbox_id,
        entry=bytes(last.entry),
        patients="",
        practice_id=None,
        ip_address=None,
        created_at=ctx.now(),
    )
    receipt = ctx.journal.append(_pending(stale))
    assert receipt.index == last.log_index and receipt.entry == bytes(last.entry)
    with ctx.sessions() as db:
        assert db.scalar(select(func.count()).select_from(JournalRecord)) == last.log_index + 1
