"""a document its patient restricts to themselves and its author (R28, EHDS art. 8)

``document_restrictions`` holds one row per restricted document; lifting deletes it.

Revision ID: 0049
Revises: 0048
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0049"
down_revision = "0048"
branch_labels = None
depends_on = None

UTC = uhealthsec.server.storage.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "document_restrictions",
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_restrictions_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_document_restrictions")),
    )


def downgrade() -> None:
    op.drop_table("document_restrictions")
