"""A download the store breaks off in the middle (issue: the journal said 200): the
entry written when the answer started says done, a second one records the failure."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ReadTimeoutError
from sqlalchemy import select

from tests.server.records.conftest import Practice
from uhealthsec.crypto.journal import JournalEntry, Outcome
from uhealthsec.server.audit.models import JournalRecord


def test_a_download_cut_off_by_the_store_is_journaled_as_failed(
    practice: Practice, report: Path, client, ctx, monkeypatch
):
    document_id = practice.alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[practice.bob.email]
    )
    bearer = {"Authorization": f"Bearer {practice.bob.user.tokens.access_token}"}
    stored = ctx.blobs.read

    def breaking_off(key: str):
        chunks = stored(key)
        yield next(iter(chunks))[:1024]
        raise ReadTimeoutError(endpoint_url="http://store.invalid")  # the store stops

    monkeypatch.setattr(ctx.blobs, "read", breaking_off)
    with pytest.raises(Exception) as cut:
        client.get(f"/documents/{document_id}/versions/1/content", headers=bearer)
    assert "ReadTimeoutError" in repr(cut.value) or isinstance(
        cut.value.__cause__, ReadTimeoutError
    )
    with ctx.sessions() as db:
        rows = db.scalars(select(JournalRecord.entry).order_by(JournalRecord.log_index)).all()
    reads = [
        e for e in (JournalEntry.decode(bytes(r)) for r in rows) if e.action == "records.content"
    ]
    assert [(e.outcome, e.status) for e in reads[-2:]] == [
        (Outcome.DONE, 200),
        (Outcome.FAILED, 503),
    ]
    assert reads[-1].request_digest == reads[-2].request_digest  # the same request
