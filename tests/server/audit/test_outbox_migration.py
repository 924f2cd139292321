"""Migration 0029 down and up again on a journal with entries: the append-only
triggers of journal_entries survive both ways, and a downgrade refuses to drop staged
entries of committed changes."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError

from tests.server.audit.test_outbox import leave_one_staged
from tests.server.records.conftest import Practice
from uhealthsec.server.storage import migrate


def _triggers(engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(
                text(
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'journal_entries'::regclass "
                    "AND NOT tgisinternal"
                )
            )
        else:
            rows = conn.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                    "AND tbl_name = 'journal_entries'"
                )
            )
        return {r[0] for r in rows}


def _refused(engine, statement: str) -> bool:
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    except DatabaseError:
        return True
    return False


def test_0029_down_and_up_keeps_the_journal_append_only(practice: Practice, ctx):
    engine = ctx.engine
    ctx.journal.close()
    triggers = _triggers(engine)
    assert triggers
    migrate.downgrade(engine, "0028")
    assert "outbox_id" not in {c["name"] for c in inspect(engine).get_columns("journal_entries")}
    assert _triggers(engine) == triggers
    assert _refused(engine, "UPDATE journal_entries SET action = 'x'")
    assert _refused(engine, "DELETE FROM journal_entries")
    migrate.upgrade(engine)
    assert _triggers(engine) == triggers
    assert _refused(engine, "UPDATE journal_entries SET action = 'x'")
    assert _refused(engine, "DELETE FROM journal_entries")


def test_0029_downgrade_refuses_to_drop_staged_entries(practice: Practice, ctx, monkeypatch):
    """A staged entry is the only record of a committed change: the downgrade drops
    the table holding it without a word (its docstring asks the operator to run the
    worker first; nothing checks)."""
    leave_one_staged(practice, monkeypatch)
    ctx.journal.close()
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do
        migrate.downgrade(ctx.engine, "0028")
