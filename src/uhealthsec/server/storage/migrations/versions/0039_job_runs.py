"""the runs of the worker's jobs, for the metrics

Revision ID: 0039
Revises: 0038
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("job", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("runs", sa.BigInteger(), nullable=False),
        sa.Column(
            "last_ended_at",
            uhealthsec.server.storage.types.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("last_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("job", "outcome", name=op.f("pk_job_runs")),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
