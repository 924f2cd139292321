"""password recovery: a forgotten password replaced with the mailed code, a second
factor and the keystore's recovery key

Revision ID: 0033
Revises: 0032
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The code and the nonce are stored as SHA-256 only (server/auth/models.py).
    op.create_table(
        "password_recoveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "created_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "expires_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column(
            "proven_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("nonce_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column(
            "used_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_password_recoveries_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_recoveries")),
        sa.UniqueConstraint("nonce_hash", name=op.f("uq_password_recoveries_nonce_hash")),
    )
    op.create_index(
        op.f("ix_password_recoveries_account_id"),
        "password_recoveries",
        ["account_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_password_recoveries_account_id"), table_name="password_recoveries")
    op.drop_table("password_recoveries")
