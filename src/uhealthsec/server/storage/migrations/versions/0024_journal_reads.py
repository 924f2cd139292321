"""per-account counts of journaled reads, for their rate limit

Revision ID: 0024
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every read of personal data is journaled; this count bounds how many one account
    # makes in a minute (audit/refusals.py). Purged by uhs-server cleanup.
    op.create_table(
        "journal_reads",
        sa.Column(
            "started_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("started_at", "account_id", name=op.f("pk_journal_reads")),
    )


def downgrade() -> None:
    op.drop_table("journal_reads")
