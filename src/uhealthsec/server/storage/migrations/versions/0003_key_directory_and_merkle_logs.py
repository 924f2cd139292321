"""key directory and merkle logs

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "merkle_logs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_merkle_logs")),
    )
    op.create_table(
        "merkle_nodes",
        sa.Column("log", sa.String(length=64), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("index", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("log", "level", "index", name=op.f("pk_merkle_nodes")),
    )
    op.create_table(
        "merkle_tree_heads",
        sa.Column("log", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.PrimaryKeyConstraint("log", "size", name=op.f("pk_merkle_tree_heads")),
    )
    op.create_table(
        "key_directory",
        sa.Column("log_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_key_directory_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("log_index", name=op.f("pk_key_directory")),
        sa.UniqueConstraint("account_id", "key_version", name="uq_key_directory_account_version"),
    )
    with op.batch_alter_table("key_directory", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_key_directory_email"), ["email"], unique=False)

    logs = sa.table("merkle_logs", sa.column("name", sa.String), sa.column("size", sa.BigInteger))
    op.bulk_insert(logs, [{"name": "keys", "size": 0}])


def downgrade() -> None:
    with op.batch_alter_table("key_directory", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_key_directory_email"))

    op.drop_table("key_directory")
    op.drop_table("merkle_tree_heads")
    op.drop_table("merkle_nodes")
    op.drop_table("merkle_logs")
