"""a patient's share held back until a time the author signed (R28)

Shares and share statements gain ``available_from``: before it the server serves the
patient neither the wrapped key nor the content.

Revision ID: 0047
Revises: 0046
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0047"
down_revision = "0046"
branch_labels = None
depends_on = None

UTC = uhealthsec.server.storage.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("shares") as batch:
        batch.add_column(sa.Column("available_from", UTC, nullable=True))
    with op.batch_alter_table("share_statements") as batch:
        batch.add_column(sa.Column("available_from", UTC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("share_statements") as batch:
        batch.drop_column("available_from")
    with op.batch_alter_table("shares") as batch:
        batch.drop_column("available_from")
