"""retention grace: when a file's retention facts were last recorded

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("file_retention") as batch:
        batch.add_column(
            sa.Column(
                "facts_recorded_at",
                uhealthsec.server.storage.types.UtcDateTime(timezone=True),
                nullable=True,
            )
        )
    # Facts recorded before the grace period existed were never open to correction:
    # their destruction waits one grace period from their last change.
    op.execute("UPDATE file_retention SET facts_recorded_at = updated_at WHERE shredded_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("file_retention") as batch:
        batch.drop_column("facts_recorded_at")
