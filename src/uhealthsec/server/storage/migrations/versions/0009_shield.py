"""shield

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shield_accounts",
        sa.Column("key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_shield_accounts")),
    )
    op.create_table(
        "shield_networks",
        sa.Column("key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_shield_networks")),
    )
    op.create_table(
        "shield_minutes",
        sa.Column("minute", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("minute", name=op.f("pk_shield_minutes")),
    )
    op.create_table(
        "shield_spent_challenges",
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("signature", name=op.f("pk_shield_spent_challenges")),
    )
    op.create_index(
        op.f("ix_shield_spent_challenges_expires_at"),
        "shield_spent_challenges",
        ["expires_at"],
        unique=False,
    )
    op.create_table(
        "shield_counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_shield_counters")),
    )


def downgrade() -> None:
    op.drop_table("shield_counters")
    op.drop_index(
        op.f("ix_shield_spent_challenges_expires_at"), table_name="shield_spent_challenges"
    )
    op.drop_table("shield_spent_challenges")
    op.drop_table("shield_minutes")
    op.drop_table("shield_networks")
    op.drop_table("shield_accounts")
