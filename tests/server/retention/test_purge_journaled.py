"""The retention purge (``uhs-server worker``) commits the destruction of a patient file
with its journal entry staged, and sequences it before deleting the objects: a store
down (or a process killed) in between leaves the entry written, once."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError
from sqlalchemy import select

from tests.server.records.conftest import Practice
from tests.server.retention.past_retention import file_past_retention
from uhealthsec.crypto.journal import JournalEntry
from uhealthsec.server.audit.models import JournalRecord
from uhealthsec.server.retention.service import PURGE_ACTION, purge


def _purges(ctx) -> int:
    with ctx.sessions() as db:
        rows = db.scalars(select(JournalRecord.entry)).all()
    return sum(JournalEntry.decode(bytes(r)).action == PURGE_ACTION for r in rows)


def test_a_purge_whose_store_fails_is_still_journaled(
    practice: Practice, ctx, report: Path, monkeypatch
):
    alice = practice.alice
    file_past_retention(practice, ctx, report)

    def store_down(key: str) -> None:
        raise EndpointConnectionError(endpoint_url="http://store.invalid")

    with monkeypatch.context() as patched:
        patched.setattr(ctx.blobs, "delete", store_down)
        with pytest.raises(EndpointConnectionError):
            purge(ctx, ctx.now().date())
    # The store is back; the worker's next round.
    purge(ctx, ctx.now().date())
    assert alice.exchange.documents() == []  # the file was destroyed
    assert _purges(ctx) == 1
