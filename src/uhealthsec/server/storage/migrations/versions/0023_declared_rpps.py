"""declared RPPS numbers: kept apart from the proven one, and not unique

Revision ID: 0023
Revises: 0018

An RPPS number is public: anyone could register declaring a practitioner's number,
and the unique ``accounts.rpps`` then kept its owner from registering with it and
from proving it with e-CPS. ``accounts.rpps`` now holds only a number proven with
e-CPS (still unique); a number declared at registration goes to the new, non-unique
``accounts.declared_rpps``. Existing numbers not proven by e-CPS move there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added in place, never by batch's copy of ``accounts`` (see 0018: on SQLite the
    # copy would cascade-delete every row that refers to an account).
    op.add_column("accounts", sa.Column("declared_rpps", sa.String(length=11), nullable=True))
    op.execute(
        """
        UPDATE accounts SET declared_rpps = rpps, rpps = NULL
        WHERE rpps IS NOT NULL AND (identity_proof IS NULL OR identity_proof <> 'e-cps')
        """
    )


def downgrade() -> None:
    # A declared number goes back only where no other account holds it (unique there).
    op.execute(
        """
        UPDATE accounts SET rpps = declared_rpps
        WHERE rpps IS NULL AND declared_rpps IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM accounts other
            WHERE other.rpps = accounts.declared_rpps OR (
                other.declared_rpps = accounts.declared_rpps AND other.id <> accounts.id
            )
        )
        """
    )
    # In place too (SQLite 3.35+ drops a column without copying the table).
    op.drop_column("accounts", "declared_rpps")
