"""federated professional login

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "federated_identities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("rpps", sa.String(length=11), nullable=True),
        sa.Column(
            "linked_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_login_at",
            uhealthsec.server.storage.types.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_federated_identities_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federated_identities")),
        sa.UniqueConstraint("issuer", "account_id", name="uq_federated_identities_account"),
        sa.UniqueConstraint("issuer", "subject", name="uq_federated_identities_subject"),
    )
    op.create_table(
        "federated_requests",
        sa.Column("state_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("secrets_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("client_request", sa.Text(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "expires_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "returned_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("subject", sa.String(length=255), nullable=True),
        sa.Column("rpps", sa.String(length=11), nullable=True),
        sa.Column("link_code_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column(
            "redeemed_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_federated_requests_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_federated_requests")),
        sa.UniqueConstraint("link_code_hash", name=op.f("uq_federated_requests_link_code_hash")),
    )


def downgrade() -> None:
    op.drop_table("federated_requests")
    op.drop_table("federated_identities")
