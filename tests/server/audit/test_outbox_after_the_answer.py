"""Work after a complete answer (a Starlette background task) that fails is not a
download cut off: the request stays journaled as done, once."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError
from sqlalchemy import select

from tests.server.records.conftest import Practice
from tests.server.retention.past_retention import file_past_retention
from uhealthsec.client.rights import RightsClient
from uhealthsec.crypto.journal import JournalEntry, Outcome
from uhealthsec.server.audit.models import JournalRecord


def test_an_erasure_whose_blob_deletion_fails_afterwards_is_not_journaled_as_failed(
    practice: Practice, ctx, report: Path, monkeypatch
):
    file_past_retention(practice, ctx, report)
    request = RightsClient(practice.carol.exchange).ask(practice.id, "erasure")

    def store_down(key: str) -> None:  # the store is unreachable after the commit
        raise EndpointConnectionError(endpoint_url="http://store.invalid")

    monkeypatch.setattr(ctx.blobs, "delete", store_down)
    with pytest.raises(Exception):  # noqa: B017 - the test client re-raises it
        RightsClient(practice.alice.exchange).complete(request["id"])

    with ctx.sessions() as db:
        rows = db.scalars(select(JournalRecord.entry).order_by(JournalRecord.log_index)).all()
    done = [
        (e.outcome, e.status)
        for e in (JournalEntry.decode(bytes(r)) for r in rows)
        if e.action == "consent.complete"
    ]
    # The erasure committed (keys destroyed) and was answered 200 in full.
    assert done == [(Outcome.DONE, 200)], done
