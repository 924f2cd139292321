"""kept answers: a write retried with its idempotency key is answered, not done again

Revision ID: 0030
Revises: 0029
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kept_answers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("request_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("practice_id", sa.Uuid(), nullable=True),
        sa.Column("outbox_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_kept_answers_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kept_answers")),
        sa.UniqueConstraint("account_id", "key", name="uq_kept_answers_account_key"),
    )
    op.create_index(op.f("ix_kept_answers_created_at"), "kept_answers", ["created_at"])
    op.create_index(op.f("ix_kept_answers_patient_id"), "kept_answers", ["patient_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_kept_answers_patient_id"), table_name="kept_answers")
    op.drop_index(op.f("ix_kept_answers_created_at"), table_name="kept_answers")
    op.drop_table("kept_answers")
