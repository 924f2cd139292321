"""listings a page at a time: each thread participant keeps the thread's time, indexed;
a practice's journal indexed in order

Revision ID: 0032
Revises: 0031
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # GET /threads lists a participant's threads by their last message (or their
    # creation): with that time on the participant's row, a page is read from an
    # index of their rows instead of reading and sorting all their threads.
    op.add_column(
        "thread_participants",
        sa.Column(
            "thread_changed_at",
            uhealthsec.server.storage.types.UtcDateTime(timezone=True),
            nullable=True,
        ),
    )
    op.execute(
        "UPDATE thread_participants SET thread_changed_at = (SELECT "
        "COALESCE(threads.last_message_at, threads.created_at) FROM threads "
        "WHERE threads.id = thread_participants.thread_id)"
    )
    with op.batch_alter_table("thread_participants") as batch_op:
        batch_op.alter_column("thread_changed_at", nullable=False)
    op.create_index(
        "ix_thread_participants_listing",
        "thread_participants",
        ["account_id", "thread_changed_at", "thread_id"],
    )
    # A practice's activity (GET /practices/{id}/journal) newest first: a page is read
    # from this index instead of sorting all the practice's entries.
    op.drop_index("ix_journal_entries_practice_id", table_name="journal_entries")
    op.create_index("ix_journal_entries_practice", "journal_entries", ["practice_id", "log_index"])


def downgrade() -> None:
    op.drop_index("ix_journal_entries_practice", table_name="journal_entries")
    op.create_index("ix_journal_entries_practice_id", "journal_entries", ["practice_id"])
    op.drop_index("ix_thread_participants_listing", table_name="thread_participants")
    with op.batch_alter_table("thread_participants") as batch_op:
        batch_op.drop_column("thread_changed_at")
