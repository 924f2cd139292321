"""research studies a practice declares, and research consents that name one (R19)

The practice-wide research directives recorded before this revision are superseded,
not carried over: they named no study, no sponsor, no purpose and no CNIL framework,
so they are not the specific consent GDPR art. 9(2)(a) and art. 7 ask for, and turning
them into consent to a study the patient never saw would invent a consent. Their rows
stay, with ``superseded_at`` set, so the patient's history (and its FHIR export) still
shows what they once said; each patient is asked again, per study.

Revision ID: 0044
Revises: 0043
"""

from __future__ import annotations

from datetime import UTC as UTC_ZONE
from datetime import datetime

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None

UTC = uhealthsec.server.storage.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "research_studies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("sponsor", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=2000), nullable=False),
        sa.Column("methodology", sa.String(length=20), nullable=False),
        sa.Column("authorisation", sa.String(length=40), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("declared_by", sa.Uuid(), nullable=False),
        sa.Column("declared_at", UTC, nullable=False),
        sa.Column("closed_at", UTC, nullable=True),
        sa.Column("closed_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_research_studies_practice_id_practices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["declared_by"],
            ["accounts.id"],
            name=op.f("fk_research_studies_declared_by_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["closed_by"],
            ["accounts.id"],
            name=op.f("fk_research_studies_closed_by_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_research_studies")),
    )
    op.create_index(
        "ix_research_studies_practice", "research_studies", ["practice_id", "closed_at"]
    )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its reference only inline.
        op.execute(
            "ALTER TABLE consent_directives ADD COLUMN study_id CHAR(32) "
            "CONSTRAINT fk_consent_directives_study_id_research_studies "
            "REFERENCES research_studies (id) ON DELETE RESTRICT"
        )
    else:
        op.add_column("consent_directives", sa.Column("study_id", sa.Uuid(), nullable=True))
        op.create_foreign_key(
            "fk_consent_directives_study_id_research_studies",
            "consent_directives",
            "research_studies",
            ["study_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    # Not carried over (see above): superseded when this revision ran, the instant
    # written through UtcDateTime as the application writes it, on both databases.
    directives = sa.table(
        "consent_directives",
        sa.column("purpose", sa.String()),
        sa.column("study_id", sa.Uuid()),
        sa.column("superseded_at", UTC),
    )
    op.execute(
        directives.update()
        .where(
            directives.c.purpose == "research",
            directives.c.study_id.is_(None),
            directives.c.superseded_at.is_(None),
        )
        .values(superseded_at=datetime.now(UTC_ZONE))
    )


def downgrade() -> None:
    # Research directives naming a study have no meaning without it.
    op.execute("DELETE FROM consent_directives WHERE study_id IS NOT NULL")
    # On SQLite this copies the table, and the reference goes with its column.
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("consent_directives") as batch:
        if not sqlite:
            batch.drop_constraint(
                "fk_consent_directives_study_id_research_studies", type_="foreignkey"
            )
        batch.drop_column("study_id")
    op.drop_index("ix_research_studies_practice", table_name="research_studies")
    op.drop_table("research_studies")
