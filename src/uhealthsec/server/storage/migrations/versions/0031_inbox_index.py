"""the inbox read a page at a time: each share keeps its version's time, indexed

Revision ID: 0031
Revises: 0030
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

#: Share.active (records/models.py): only the shares that still give access.
ACTIVE = "wrapped_key IS NOT NULL AND revoked_at IS NULL"


def upgrade() -> None:
    # GET /documents lists a reader's documents by the newest version they hold: with
    # that time on the share, a page is read from an index of the reader's shares
    # instead of grouping all of them, for every page.
    op.add_column(
        "shares",
        sa.Column(
            "version_created_at",
            uhealthsec.server.storage.types.UtcDateTime(timezone=True),
            nullable=True,
        ),
    )
    op.execute(
        "UPDATE shares SET version_created_at = (SELECT created_at FROM document_versions "
        "WHERE document_versions.id = shares.version_id)"
    )
    with op.batch_alter_table("shares") as batch_op:
        batch_op.alter_column("version_created_at", nullable=False)
    for name, columns in (
        ("ix_shares_inbox", ["recipient_id", "version_created_at", "document_id"]),
        ("ix_shares_recipient_document", ["recipient_id", "document_id", "version_created_at"]),
    ):
        op.create_index(
            name,
            "shares",
            columns,
            sqlite_where=sa.text(ACTIVE),
            postgresql_where=sa.text(ACTIVE),
        )


def downgrade() -> None:
    op.drop_index("ix_shares_recipient_document", table_name="shares")
    op.drop_index("ix_shares_inbox", table_name="shares")
    with op.batch_alter_table("shares") as batch_op:
        batch_op.drop_column("version_created_at")
