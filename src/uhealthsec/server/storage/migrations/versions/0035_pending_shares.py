"""pending shares: a document waiting for an invited patient who has no account yet

Revision ID: 0035
Revises: 0033
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0035"
down_revision = "0033"
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(
        name, uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "pending_shares",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("invitation_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("patient_email", sa.String(length=320), nullable=False),
        sa.Column("signer_key_index", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        _time("created_at", False),
        _time("expires_at", False),
        _time("completed_at", True),
        _time("cancelled_at", True),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_pending_shares_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["invitations.id"],
            name=op.f("fk_pending_shares_invitation_id_invitations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["accounts.id"],
            name=op.f("fk_pending_shares_sender_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["accounts.id"],
            name=op.f("fk_pending_shares_patient_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_shares")),
    )
    op.create_index(
        op.f("ix_pending_shares_document_id"), "pending_shares", ["document_id"], unique=False
    )
    op.create_index(
        op.f("ix_pending_shares_sender_id"), "pending_shares", ["sender_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pending_shares_sender_id"), table_name="pending_shares")
    op.drop_index(op.f("ix_pending_shares_document_id"), table_name="pending_shares")
    op.drop_table("pending_shares")
