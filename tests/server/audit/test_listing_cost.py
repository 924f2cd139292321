"""What pages of the journal cost the database: a patient's history and a practice's
activity, a constant number of SQL statements whatever the page's size or the
journal's, each page read from an index in order (on SQLite, the plan sorts nothing
and reads no list of every entry)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import event, select

from tests.server.statements import statements_run
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.audit.models import JournalPatient, JournalRecord
from uhealthsec.server.audit.service import JournalService
from uhealthsec.server.storage.db import insert_rows

#: Far past the journal the test's own requests write.
FIRST = 10**12


def add_entries(ctx, patient_id: uuid.UUID, practice_id: uuid.UUID, count: int) -> None:
    """``count`` entries about the patient in the practice (rows only, not in the log:
    copies of one the test's requests wrote)."""
    with ctx.sessions() as db:
        start = FIRST + db.query(JournalPatient).filter_by(patient_id=patient_id).count()
        entry = db.scalar(select(JournalRecord.entry).limit(1))
    indexes = range(start, start + count)
    with ctx.sessions.begin() as db:
        insert_rows(
            db,
            JournalRecord.__table__,
            [
                {
                    "log_index": i,
                    "entry": entry,
                    "actor_id": None,
                    "practice_id": practice_id,
                    "action": "document.read",
                    "outcome": 200,
                    "created_at": datetime.now(UTC),
                    "outbox_id": None,
                }
                for i in indexes
            ],
        )
        insert_rows(
            db,
            JournalPatient.__table__,
            [{"patient_id": patient_id, "log_index": i} for i in indexes],
        )


def account(ctx, user) -> Account:
    with ctx.sessions() as db:
        found = db.get(Account, uuid.UUID(user.account_id))
        db.expunge(found)
    return found


def test_pages_of_the_journal_cost_the_same_statements_in_the_order_of_an_index(client, ctx, users):
    admin = users.signed_in("admin@example.org", "practitioner")
    patient = users.signed_in("patient@example.org", "patient")
    answer = client.post(
        "/practices", json={"name": "Cabinet"}, headers=users.sdk.bearer(admin.tokens)
    )
    assert answer.status_code in (200, 201), answer.text
    practice_id = uuid.UUID(answer.json()["id"])
    admin_account, patient_account = account(ctx, admin), account(ctx, patient)

    def page(kind: str, limit: int, before: int | None = None) -> tuple[int, list[str]]:
        with ctx.sessions() as db, statements_run(ctx) as run:
            service = JournalService(db, ctx)
            if kind == "history":
                items = service.history(patient_account, limit, before)
            else:
                items = service.practice_activity(admin_account, practice_id, limit, before)
        assert len(items) == limit  # full pages compare like with like
        return len(run), run

    add_entries(ctx, patient_account.id, practice_id, 3)
    small = {kind: page(kind, 2)[0] for kind in ("history", "activity")}
    add_entries(ctx, patient_account.id, practice_id, 300)
    for kind in ("history", "activity"):
        counts = {
            "2 of 3": small[kind],
            "2 of 303": page(kind, 2)[0],
            "100 of 303": page(kind, 100)[0],
            "100 of 303, before an entry": page(kind, 100, FIRST + 250)[0],
        }
        assert len(set(counts.values())) == 1, (kind, counts)

    if ctx.engine.dialect.name == "sqlite":
        for kind in ("history", "activity"):
            plans = plans_of(ctx, lambda kind=kind: page(kind, 10, FIRST + 200))
            listing = [p for p in plans if "journal_entries" in p]
            assert listing, plans
            for plan in listing:
                assert "TEMP B-TREE" not in plan, (kind, plan)


def plans_of(ctx, action) -> list[str]:
    """SQLite's plan of each statement the action runs, with its parameters."""
    run: list[tuple[str, object]] = []

    def keep(_conn, _cursor, statement, parameters, *_args) -> None:
        run.append((statement, parameters))

    event.listen(ctx.engine, "before_cursor_execute", keep)
    try:
        action()
    finally:
        event.remove(ctx.engine, "before_cursor_execute", keep)
    plans = []
    with ctx.engine.connect() as connection:
        raw = connection.connection.driver_connection
        for statement, parameters in run:
            if statement.lstrip().upper().startswith("SELECT"):
                rows = raw.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
                plans.append(statement + "\n" + "\n".join(row[-1] for row in rows))
    return plans
