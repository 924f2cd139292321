"""revocation statements: the signed end of a reader's access to a document

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Revocations made before this one were not signed: they stay server-side only.
    op.create_table(
        "revocation_statements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reader_id", sa.Uuid(), nullable=False),
        sa.Column("reader_email", sa.String(length=320), nullable=False),
        sa.Column("revoker_id", sa.Uuid(), nullable=False),
        sa.Column("signer_key_index", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column(
            "created_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_revocation_statements_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reader_id"],
            ["accounts.id"],
            name=op.f("fk_revocation_statements_reader_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["revoker_id"],
            ["accounts.id"],
            name=op.f("fk_revocation_statements_revoker_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocation_statements")),
        sa.UniqueConstraint(
            "document_id",
            "version",
            "reader_id",
            "revoker_id",
            name="uq_revocation_statements_document_version_reader_revoker",
        ),
    )
    op.create_index(
        op.f("ix_revocation_statements_document_id"),
        "revocation_statements",
        ["document_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_revocation_statements_document_id"), table_name="revocation_statements")
    op.drop_table("revocation_statements")
