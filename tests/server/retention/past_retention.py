"""A patient file whose legal retention ended long ago, its grace period over: what the
tests of its destruction and erasure start from."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import update

from tests.server.records.conftest import Practice
from uhealthsec.server.records.models import DocumentVersion, PatientFile
from uhealthsec.server.retention.models import FileRetention


def file_past_retention(practice: Practice, ctx, report: Path) -> None:
    """Alice sent Bob a report in Carol's file in 1999; Carol died in 2000, recorded in
    2020: the file is due for destruction."""
    alice, bob = practice.alice, practice.bob
    alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    with ctx.sessions.begin() as db:
        db.execute(update(PatientFile).values(created_at=datetime(1999, 6, 1, tzinfo=UTC)))
        db.execute(update(DocumentVersion).values(created_at=datetime(1999, 6, 1, tzinfo=UTC)))
    alice.exchange.call(
        "PUT",
        f"/patient-files/{practice.patient_file}/retention",
        json={"born_on": "1931-04-02", "died_on": "2000-01-01"},
    )
    with ctx.sessions.begin() as db:
        db.execute(update(FileRetention).values(facts_recorded_at=datetime(2020, 1, 1, tzinfo=UTC)))
