"""merkle log frontier

Revision ID: 0008
Revises: 0007

Each log keeps the hashes of its frontier (the perfect subtrees covering it) in its
row, so that an append reads them with the lock it already takes. Existing logs get
theirs on their next append (read from merkle_nodes while the column is null).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: a batch rebuild would drop SQLite's triggers.
    op.add_column("merkle_logs", sa.Column("frontier", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    # Native on both databases (SQLite 3.35+), keeping SQLite's triggers.
    op.execute("ALTER TABLE merkle_logs DROP COLUMN frontier")
