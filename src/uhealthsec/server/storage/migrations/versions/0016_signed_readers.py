"""signed readers: reader lists in version manifests, share statements, thread membership

Revision ID: 0016
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing versions keep their version 1 manifests: a null reader list says so.
    # A plain ADD COLUMN: a batch copy of the table would cascade into its shares.
    op.add_column("document_versions", sa.Column("readers", sa.LargeBinary(), nullable=True))
    op.create_table(
        "share_statements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_email", sa.String(length=320), nullable=False),
        sa.Column("granter_id", sa.Uuid(), nullable=False),
        sa.Column("signer_key_index", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column(
            "created_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["document_versions.id"],
            name=op.f("fk_share_statements_version_id_document_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["accounts.id"],
            name=op.f("fk_share_statements_recipient_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["granter_id"],
            ["accounts.id"],
            name=op.f("fk_share_statements_granter_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_statements")),
        sa.UniqueConstraint(
            "version_id", "recipient_id", name="uq_share_statements_version_recipient"
        ),
    )
    op.create_index(
        op.f("ix_share_statements_version_id"), "share_statements", ["version_id"], unique=False
    )
    op.create_table(
        "thread_memberships",
        sa.Column("thread_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("signer_key_index", sa.BigInteger(), nullable=False),
        sa.Column("previous", sa.LargeBinary(length=32), nullable=False),
        sa.Column("members", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column(
            "created_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name=op.f("fk_thread_memberships_thread_id_threads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["accounts.id"],
            name=op.f("fk_thread_memberships_actor_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("thread_id", "seq", name=op.f("pk_thread_memberships")),
    )


def downgrade() -> None:
    op.drop_table("thread_memberships")
    op.drop_index(op.f("ix_share_statements_version_id"), table_name="share_statements")
    op.drop_table("share_statements")
    op.drop_column("document_versions", "readers")
