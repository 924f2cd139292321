"""consent directives

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_directives",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=True),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column(
            "created_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "superseded_at",
            uhealthsec.server.storage.types.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["accounts.id"],
            name=op.f("fk_consent_directives_patient_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_consent_directives_practice_id_practices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["accounts.id"],
            name=op.f("fk_consent_directives_recipient_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_directives")),
        sa.UniqueConstraint("patient_id", "version", name="uq_consent_directives_patient_version"),
    )
    with op.batch_alter_table("consent_directives", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_directives_current",
            ["patient_id", "practice_id", "superseded_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("consent_directives", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_directives_current")

    op.drop_table("consent_directives")
