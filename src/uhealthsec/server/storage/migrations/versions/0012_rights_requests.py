"""rights requests

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rights_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("right", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "received_at",
            uhealthsec.server.storage.types.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "earliest_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "due_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "extended_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column(
            "handled_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("handled_by", sa.Uuid(), nullable=True),
        sa.Column("erasure_from", sa.Date(), nullable=True),
        sa.Column(
            "lifted_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["handled_by"],
            ["accounts.id"],
            name=op.f("fk_rights_requests_handled_by_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["accounts.id"],
            name=op.f("fk_rights_requests_patient_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_rights_requests_practice_id_practices"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_requests")),
    )
    with op.batch_alter_table("rights_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rights_requests_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            "ix_rights_requests_practice_status", ["practice_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("rights_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_rights_requests_practice_status")
        batch_op.drop_index(batch_op.f("ix_rights_requests_patient_id"))

    op.drop_table("rights_requests")
