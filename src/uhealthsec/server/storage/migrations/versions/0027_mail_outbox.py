"""mail outbox: mail queued in the request's transaction, delivered after it commits

Revision ID: 0027
Revises: 0026
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The body holds one-time codes: set to NULL once the mail is sent or given up, and
    # the row itself deleted by uhs-server cleanup a few days later (mail/models.py).
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column(
            "created_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at",
            uhealthsec.server.storage.types.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "sent_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "failed_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_error", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mail_outbox_next_attempt_at"), ["next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_outbox_next_attempt_at"))
    op.drop_table("mail_outbox")
