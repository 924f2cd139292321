"""account deletion (R17): the itemised erasure answer, and revoked keys

A rights request keeps its erasure's answer per category; the key directory records
the accounts whose keys are revoked next to its entries, which stay (append-only).

Revision ID: 0046
Revises: 0045
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0046"
down_revision = "0045"
branch_labels = None
depends_on = None

UTC = uhealthsec.server.storage.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("rights_requests") as batch:
        batch.add_column(sa.Column("erasure_items", sa.Text(), nullable=True))
    op.create_table(
        "key_revocations",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("revoked_at", UTC, nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_key_revocations_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_key_revocations")),
    )


def downgrade() -> None:
    op.drop_table("key_revocations")
    with op.batch_alter_table("rights_requests") as batch:
        batch.drop_column("erasure_items")
