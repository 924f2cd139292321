"""key rotation: the statement, signed by the keys replaced, that carries each entry
of key version 2 and later

Revision ID: 0037
Revises: 0036
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("key_directory") as batch:
        batch.add_column(sa.Column("rotation", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("key_directory") as batch:
        batch.drop_column("rotation")
