"""anomaly alerts over the journal (R22), each practice's thresholds and their changes,
the rules' position

Revision ID: 0043
Revises: 0042
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None

UTC = uhealthsec.server.storage.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "anomaly_alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("window_start", UTC, nullable=False),
        sa.Column("window_end", UTC, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("counted", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_anomaly_alerts_incident_id_incidents"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_anomaly_alerts_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anomaly_alerts")),
    )
    op.create_index(
        "ix_anomaly_alerts_practice",
        "anomaly_alerts",
        ["practice_id", "status", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_anomaly_alerts_subject",
        "anomaly_alerts",
        ["practice_id", "rule", "subject_id", "window_end"],
        unique=False,
    )
    op.create_table(
        "anomaly_settings",
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("thresholds", sa.Text(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_anomaly_settings_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("practice_id", name=op.f("pk_anomaly_settings")),
    )
    op.create_table(
        "anomaly_settings_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("changed_at", UTC, nullable=False),
        sa.Column("changed_by", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_anomaly_settings_changes_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anomaly_settings_changes")),
    )
    op.create_index(
        "ix_anomaly_settings_changes_practice",
        "anomaly_settings_changes",
        ["practice_id", "changed_at"],
        unique=False,
    )
    op.create_table(
        "anomaly_positions",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("evaluated_at", UTC, nullable=False),
        sa.Column("evaluated", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_anomaly_positions")),
    )


def downgrade() -> None:
    op.drop_table("anomaly_positions")
    op.drop_index("ix_anomaly_settings_changes_practice", table_name="anomaly_settings_changes")
    op.drop_table("anomaly_settings_changes")
    op.drop_table("anomaly_settings")
    op.drop_index("ix_anomaly_alerts_subject", table_name="anomaly_alerts")
    op.drop_index("ix_anomaly_alerts_practice", table_name="anomaly_alerts")
    op.drop_table("anomaly_alerts")
