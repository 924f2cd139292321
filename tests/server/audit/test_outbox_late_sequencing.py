"""An entry sequenced late (by the sweeper, after later requests about the same
patient were journaled) is linked in the journal's order: the patient's history
check still holds and lists it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.server.records.conftest import Practice
from uhealthsec.client.api import ApiError
from uhealthsec.client.journal import JournalClient
from uhealthsec.server.audit.middleware import JournalMiddleware
from uhealthsec.server.audit.outbox import sequence_stale


def test_a_late_entry_keeps_the_patients_history_complete(
    practice: Practice, ctx, report: Path, tmp_path: Path, monkeypatch
):
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])

    async def journal_unreachable(self, scope, draft, status):
        raise ConnectionError("the journal's database went away")

    with monkeypatch.context() as patched:
        patched.setattr(JournalMiddleware, "_append", journal_unreachable)
        with pytest.raises((ApiError, ConnectionError, RuntimeError)):
            alice.exchange.call(
                "PUT",
                f"/patient-files/{practice.patient_file}/retention",
                json={"born_on": "1931-04-02"},
            )
    # Later requests about Carol are journaled first.
    bob.exchange.fetch(document_id, tmp_path / "copy.txt")
    me = carol.user.account_id
    journal = JournalClient(carol.exchange.call)
    before = journal.check_history(me)
    assert sequence_stale(ctx.journal, ctx.now() + timedelta(seconds=31)) == 1
    after = journal.check_history(me, known=before.pin)
    assert after.chained == len(after.items) and after.unchained == 0
    actions = [i["action"] for i in after.items]
    assert "retention.record_facts" in actions or any("retention" in a for a in actions), actions
