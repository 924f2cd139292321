"""the key directory's map commitments (the newest entry of each address)

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The first commitment is appended when the server starts (bootstrap), since only
    # the server can sign the head that follows it.
    op.create_table(
        "key_map_commitments",
        sa.Column("log_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("log_index", name=op.f("pk_key_map_commitments")),
    )


def downgrade() -> None:
    op.drop_table("key_map_commitments")
