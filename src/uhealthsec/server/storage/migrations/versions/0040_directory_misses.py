"""addresses looked up in the key directory and not found, per account and hour

Revision ID: 0040
Revises: 0039
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_misses",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column(
            "started_at",
            uhealthsec.server.storage.types.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_directory_misses_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "started_at", name=op.f("pk_directory_misses")),
    )


def downgrade() -> None:
    op.drop_table("directory_misses")
