"""reads of personal data counted per account and hour, per network and minute or hour

Revision ID: 0042
Revises: 0041
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "read_budgets",
        sa.Column("budget", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "started_at",
            uhealthsec.server.storage.types.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("budget", "subject", "started_at", name=op.f("pk_read_budgets")),
    )


def downgrade() -> None:
    op.drop_table("read_budgets")
