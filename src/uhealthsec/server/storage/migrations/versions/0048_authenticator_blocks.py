"""an authenticator blocked after 100 failures in a row, and its unblocking links (R7)

``shield_accounts`` gains ``password_failures`` (wrong passwords in a row on an
address); ``authenticator_unblocks`` keeps the hashed token of each mailed link.

Revision ID: 0048
Revises: 0047
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0048"
down_revision = "0047"
branch_labels = None
depends_on = None

UTC = uhealthsec.server.storage.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("shield_accounts") as batch:
        batch.add_column(
            sa.Column("password_failures", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "authenticator_unblocks",
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("authenticator", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_authenticator_unblocks_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_authenticator_unblocks")),
    )
    op.create_index(
        op.f("ix_authenticator_unblocks_account_id"),
        "authenticator_unblocks",
        ["account_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_authenticator_unblocks_account_id"), table_name="authenticator_unblocks")
    op.drop_table("authenticator_unblocks")
    with op.batch_alter_table("shield_accounts") as batch:
        batch.drop_column("password_failures")
