"""encrypted search indexes: opaque label -> value entries, sealed client state and
sealed keyword lists of documents

Revision ID: 0038
Revises: 0037
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_indexes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("state", sa.LargeBinary(), nullable=True),
        sa.Column("state_version", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column(
            "window_started_at",
            uhealthsec.server.storage.types.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("window_requests", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["accounts.id"],
            name=op.f("fk_search_indexes_owner_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_indexes")),
    )
    op.create_index(op.f("ix_search_indexes_owner_id"), "search_indexes", ["owner_id"])
    op.create_table(
        "search_entries",
        sa.Column("index_id", sa.Uuid(), nullable=False),
        sa.Column("label", sa.LargeBinary(length=32), nullable=False),
        sa.Column("value", sa.LargeBinary(length=17), nullable=False),
        sa.ForeignKeyConstraint(
            ["index_id"],
            ["search_indexes.id"],
            name=op.f("fk_search_entries_index_id_search_indexes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("index_id", "label", name=op.f("pk_search_entries")),
    )
    op.create_table(
        "search_documents",
        sa.Column("index_id", sa.Uuid(), nullable=False),
        sa.Column("label", sa.LargeBinary(length=32), nullable=False),
        sa.Column("keywords", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["index_id"],
            ["search_indexes.id"],
            name=op.f("fk_search_documents_index_id_search_indexes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("index_id", "label", name=op.f("pk_search_documents")),
    )


def downgrade() -> None:
    op.drop_table("search_documents")
    op.drop_table("search_entries")
    op.drop_index(op.f("ix_search_indexes_owner_id"), table_name="search_indexes")
    op.drop_table("search_indexes")
