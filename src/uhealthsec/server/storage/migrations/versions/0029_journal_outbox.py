"""journal outbox: an entry staged in the transaction of the change it records

Revision ID: 0029
Revises: 0028
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("patients", sa.Text(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column(
            "created_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_outbox")),
    )
    op.create_index(op.f("ix_journal_outbox_created_at"), "journal_outbox", ["created_at"])
    # A column added to the guarded table: the triggers refuse UPDATE and DELETE of rows,
    # not a new column (null in every entry written before).
    op.add_column("journal_entries", sa.Column("outbox_id", sa.Uuid(), nullable=True))
    op.create_index(
        op.f("ix_journal_entries_outbox_id"), "journal_entries", ["outbox_id"], unique=True
    )


def downgrade() -> None:
    # Entries staged and not yet sequenced record committed changes, and only this
    # version's code journals them: run `uhs-server worker --once` first.
    staged = op.get_bind().execute(sa.text("SELECT count(*) FROM journal_outbox")).scalar()
    if staged:
        raise RuntimeError(
            f"{staged} staged journal entries are not sequenced yet: run "
            "`uhs-server worker --once` before downgrading, or their changes stay unjournaled"
        )
    op.drop_index(op.f("ix_journal_entries_outbox_id"), table_name="journal_entries")
    # Not a batch operation: on SQLite that would copy the table and lose its triggers.
    op.drop_column("journal_entries", "outbox_id")
    op.drop_index(op.f("ix_journal_outbox_created_at"), table_name="journal_outbox")
    op.drop_table("journal_outbox")
