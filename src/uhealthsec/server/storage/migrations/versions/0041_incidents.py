"""the breach register: incidents, their notifications, patients concerned and notices

Revision ID: 0041
Revises: 0040
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(
        name, uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("opened_by", sa.Uuid(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _time("aware_at"),
        sa.Column("nature", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("data_categories", sa.Text(), nullable=False),
        sa.Column("people_categories", sa.Text(), nullable=False),
        sa.Column("people_estimate", sa.Integer(), nullable=True),
        sa.Column("records_estimate", sa.Integer(), nullable=True),
        sa.Column("people_counted", sa.Integer(), nullable=True),
        sa.Column("records_counted", sa.Integer(), nullable=True),
        _time("counted_from", True),
        _time("counted_until", True),
        sa.Column("counted_accounts", sa.Text(), nullable=False),
        sa.Column("contact", sa.String(length=300), nullable=False),
        sa.Column("consequences", sa.Text(), nullable=False),
        sa.Column("measures_taken", sa.Text(), nullable=False),
        sa.Column("measures_planned", sa.Text(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        _time("decided_at", True),
        sa.Column("people_decision", sa.String(length=20), nullable=True),
        sa.Column("people_reason", sa.Text(), nullable=False),
        sa.Column("clear_metadata", sa.Text(), nullable=False),
        _time("people_decided_at", True),
        _time("reminded_48h_at", True),
        _time("reminded_66h_at", True),
        _time("window_started_at", True),
        sa.Column("window_writes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["opened_by"],
            ["accounts.id"],
            name=op.f("fk_incidents_opened_by_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_incidents_practice_id_practices"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index(op.f("ix_incidents_aware_at"), "incidents", ["aware_at"])
    op.create_index(op.f("ix_incidents_created_at"), "incidents", ["created_at"])
    op.create_index(op.f("ix_incidents_practice_id"), "incidents", ["practice_id"])
    op.create_table(
        "incident_notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        _time("made_at"),
        sa.Column("made_by", sa.Uuid(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("complement", sa.Text(), nullable=False),
        sa.Column("delay_reasons", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_notifications_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["made_by"],
            ["accounts.id"],
            name=op.f("fk_incident_notifications_made_by_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_notifications")),
    )
    op.create_index(
        op.f("ix_incident_notifications_incident_id"), "incident_notifications", ["incident_id"]
    )
    op.create_table(
        "incident_patients",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_patients_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["accounts.id"],
            name=op.f("fk_incident_patients_patient_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", "patient_id", name=op.f("pk_incident_patients")),
    )
    op.create_table(
        "incident_notices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        _time("sent_at"),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_notices_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["accounts.id"],
            name=op.f("fk_incident_notices_patient_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_notices")),
    )
    op.create_index(op.f("ix_incident_notices_incident_id"), "incident_notices", ["incident_id"])
    op.create_index(op.f("ix_incident_notices_patient_id"), "incident_notices", ["patient_id"])


def downgrade() -> None:
    op.drop_table("incident_notices")
    op.drop_table("incident_patients")
    op.drop_table("incident_notifications")
    op.drop_table("incidents")
