"""reader-set expiries: only the author ends the author's or the patient's access

Revision ID: 0022
Revises: 0018
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # An older server let any reader give the author's or the patient's share of a new
    # version an expiry. Only the author may end their access: an expiry on their
    # share granted by someone else is void, so it is cleared (expired ones included).
    op.execute(
        """
        UPDATE shares SET expires_at = NULL
        WHERE expires_at IS NOT NULL
          AND EXISTS (
            SELECT 1 FROM documents d JOIN patient_files f ON f.id = d.patient_file_id
            WHERE d.id = shares.document_id
              AND shares.granted_by <> d.author_id
              AND shares.recipient_id IN (d.author_id, f.patient_id)
          )
        """
    )


def downgrade() -> None:
    pass  # the cleared expiries were never valid
