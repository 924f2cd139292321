"""information notices of practices, and the record that a patient was informed (R11)

No file that exists when this revision runs is recorded as informed: nothing in the
database says its patient was ever given a notice (accepting an invitation showed none
before this revision), and writing such a record would invent a fact the law asks the
practice to be able to show. Care-team sharing of those files therefore waits until a
practitioner records that the patient was informed in person, or until the patient
accepts a new invitation (which shows the notice). Shares already given stay as they
are: the rule is about giving new ones.

Revision ID: 0045
Revises: 0044
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0045"
down_revision = "0044"
branch_labels = None
depends_on = None

UTC = uhealthsec.server.storage.types.UtcDateTime(timezone=True)


def _reference(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete="RESTRICT",
    )


def upgrade() -> None:
    op.create_table(
        "information_notices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text_fr", sa.String(length=8000), nullable=False),
        sa.Column("text_en", sa.String(length=8000), nullable=True),
        sa.Column("published_by", sa.Uuid(), nullable=False),
        sa.Column("published_at", UTC, nullable=False),
        _reference("information_notices", "practice_id", "practices"),
        _reference("information_notices", "published_by", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_information_notices")),
        sa.UniqueConstraint("practice_id", "version", name="uq_information_notices_version"),
    )
    op.create_table(
        "patient_information",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("notice_version", sa.Integer(), nullable=False),
        sa.Column("informed_on", sa.Date(), nullable=False),
        sa.Column("how", sa.String(length=20), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", UTC, nullable=False),
        _reference("patient_information", "patient_id", "accounts"),
        _reference("patient_information", "practice_id", "practices"),
        _reference("patient_information", "recorded_by", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_information")),
    )
    op.create_index(
        "ix_patient_information_file", "patient_information", ["patient_id", "practice_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_patient_information_file", table_name="patient_information")
    op.drop_table("patient_information")
    op.drop_table("information_notices")
