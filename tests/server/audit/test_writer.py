"""The journal's writer: batches from requests of an event loop and from threads."""

from __future__ import annotations

import asyncio
import uuid

from uhealthsec.crypto import merkle
from uhealthsec.crypto.journal import JournalEntry, Outcome
from uhealthsec.server.audit.writer import PendingEntry


def pending(i: int) -> PendingEntry:
    return PendingEntry(JournalEntry(i, uuid.UUID(int=i + 1), "tests.write", Outcome.DONE, 200))


def test_requests_and_threads_get_their_own_receipts(ctx):
    async def requests() -> list:
        return await asyncio.gather(*(ctx.journal.record(pending(i)) for i in range(40)))

    from_thread = ctx.journal.submit(pending(1000))
    receipts = [*asyncio.run(requests()), from_thread.result(timeout=30)]
    assert sorted(r.index for r in receipts) == list(range(len(receipts)))
    for i, receipt in enumerate(receipts):
        assert JournalEntry.decode(receipt.entry).timestamp_ms == (1000 if i == 40 else i)
        merkle.verify_inclusion(
            merkle.leaf_hash(receipt.entry),
            receipt.index,
            receipt.head.size,
            receipt.proof,
            receipt.head.root,
        )


def test_a_request_that_went_away_does_not_stop_the_others(ctx):
    async def one_gives_up() -> list:
        leaving = asyncio.ensure_future(ctx.journal.record(pending(0)))
        await asyncio.sleep(0)  # queued, now waiting for its receipt
        staying = [ctx.journal.record(pending(i)) for i in range(1, 10)]
        leaving.cancel()
        return await asyncio.gather(*staying)

    receipts = asyncio.run(one_gives_up())
    assert len(receipts) == 9
    # The entry was still journaled: what a request did is recorded even if its
    # client stopped waiting.
    later = ctx.journal.append(pending(99))
    assert later.index == 10


def test_reads_are_counted_against_the_allowance_in_the_batches_that_journal_them(ctx, monkeypatch):
    """Reads of one account queued together, however the writer batches them: the first
    ones within the allowance are journaled, each later one is refused and appends
    nothing; another account's reads are not affected."""
    from dataclasses import replace

    import pytest
    from sqlalchemy import func, select

    from uhealthsec.server.audit import refusals
    from uhealthsec.server.audit.models import JournalRecord
    from uhealthsec.server.audit.writer import ReadAllowanceSpent

    monkeypatch.setattr(refusals, "JOURNALED_READS_PER_MINUTE", 20)
    reader, other = uuid.UUID(int=7001), uuid.UUID(int=7002)

    def read(i: int, actor: uuid.UUID) -> PendingEntry:
        entry = JournalEntry(i, actor, "records.inbox", Outcome.DONE, 200)
        return replace(PendingEntry(entry), counted_reads=1)

    with ctx.sessions() as db:
        before = db.scalar(select(func.count()).select_from(JournalRecord))
    futures = [ctx.journal.submit(read(i, reader)) for i in range(25)]
    futures.append(ctx.journal.submit(read(25, other)))
    shown = [f.result(timeout=30) for f in futures[:20]]
    assert [JournalEntry.decode(r.entry).timestamp_ms for r in shown] == list(range(20))
    for future in futures[20:25]:
        with pytest.raises(ReadAllowanceSpent):
            future.result(timeout=30)
    assert futures[25].result(timeout=30) is not None
    with pytest.raises(ReadAllowanceSpent):
        ctx.journal.append(read(26, reader))
    with ctx.sessions() as db:
        assert db.scalar(select(func.count()).select_from(JournalRecord)) == before + 21
