"""verified practitioners: an account-level professional identity proof

Revision ID: 0018
Revises: 0012

A practitioner acts on health data only once their professional identity is verified
(e-CPS, a verified practice admin, or the operator). Existing accounts keep what was
really proven: an RPPS number proven by e-CPS, or an admin's vouching. An RPPS number
only declared at registration proved nothing: such accounts must be verified again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Columns are added in place, never by batch's copy of the table: on SQLite, with
    # foreign keys on, dropping the old ``accounts`` would delete every row that
    # cascades from an account (memberships, linked identities...).
    op.add_column(
        "accounts",
        sa.Column(
            "identity_verified_at",
            uhealthsec.server.storage.types.UtcDateTime(timezone=True),
            nullable=True,
        ),
    )
    op.add_column("accounts", sa.Column("identity_proof", sa.String(length=20), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its reference only inline.
        op.execute(
            "ALTER TABLE accounts ADD COLUMN identity_verified_by CHAR(32) "
            "CONSTRAINT fk_accounts_identity_verified_by_accounts "
            "REFERENCES accounts (id) ON DELETE SET NULL"
        )
    else:
        op.add_column("accounts", sa.Column("identity_verified_by", sa.Uuid(), nullable=True))
        op.create_foreign_key(
            "fk_accounts_identity_verified_by_accounts",
            "accounts",
            "accounts",
            ["identity_verified_by"],
            ["id"],
            ondelete="SET NULL",
        )
    # RPPS proven by e-CPS.
    op.execute(
        """
        UPDATE accounts SET identity_proof = 'e-cps', identity_verified_at = (
            SELECT MIN(f.linked_at) FROM federated_identities f
            WHERE f.account_id = accounts.id AND f.rpps IS NOT NULL
        )
        WHERE kind = 'practitioner' AND EXISTS (
            SELECT 1 FROM federated_identities f
            WHERE f.account_id = accounts.id AND f.rpps IS NOT NULL
        )
        """
    )
    # Vouched for by an admin (identity_verified_by is set only by an admin's vouching).
    op.execute(
        """
        UPDATE accounts SET identity_proof = 'practice-admin',
            identity_verified_at = (
                SELECT MIN(m.identity_verified_at) FROM memberships m
                WHERE m.account_id = accounts.id AND m.identity_verified_by IS NOT NULL
            ),
            identity_verified_by = (
                SELECT m.identity_verified_by FROM memberships m
                WHERE m.account_id = accounts.id AND m.identity_verified_by IS NOT NULL
                ORDER BY m.identity_verified_at LIMIT 1
            )
        WHERE kind = 'practitioner' AND identity_verified_at IS NULL AND EXISTS (
            SELECT 1 FROM memberships m
            WHERE m.account_id = accounts.id AND m.identity_verified_by IS NOT NULL
        )
        """
    )


def downgrade() -> None:
    # On SQLite this copies the table: run it with foreign keys off on a database
    # that holds data (see upgrade). There the reference goes with its column.
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("accounts") as batch:
        if not sqlite:
            batch.drop_constraint("fk_accounts_identity_verified_by_accounts", type_="foreignkey")
        batch.drop_column("identity_verified_by")
        batch.drop_column("identity_proof")
        batch.drop_column("identity_verified_at")
