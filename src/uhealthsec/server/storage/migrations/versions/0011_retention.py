"""retention

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retention_policies",
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("years", sa.Integer(), nullable=False),
        sa.Column("archive_after_years", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_retention_policies_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("practice_id", name=op.f("pk_retention_policies")),
    )
    op.create_table(
        "file_retention",
        sa.Column("patient_file_id", sa.Uuid(), nullable=False),
        sa.Column("last_care_on", sa.Date(), nullable=True),
        sa.Column("born_on", sa.Date(), nullable=True),
        sa.Column("died_on", sa.Date(), nullable=True),
        sa.Column("claim_since", sa.Date(), nullable=True),
        sa.Column("suspended_days", sa.Integer(), nullable=False),
        sa.Column(
            "shredded_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "updated_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["patient_file_id"],
            ["patient_files.id"],
            name=op.f("fk_file_retention_patient_file_id_patient_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_file_id", name=op.f("pk_file_retention")),
    )
    with op.batch_alter_table("file_retention", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_file_retention_shredded_at"), ["shredded_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("file_retention", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_file_retention_shredded_at"))

    op.drop_table("file_retention")
    op.drop_table("retention_policies")
