"""thread ids derived from the first membership link: the creator's nonce

Revision ID: 0020
Revises: 0018

A thread's id is now derived from its first signed membership link (creator, a random
nonce, members), so that a server cannot swap in a chain someone else started. The
first link keeps its nonce. Links signed before (never released) derive no id and
cannot be checked: they are removed, and their threads become what threads started
before signed membership are, readable but closed to new messages.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "thread_memberships", sa.Column("nonce", sa.LargeBinary(length=32), nullable=True)
    )
    op.execute("DELETE FROM thread_memberships")


def downgrade() -> None:
    # The links of derived-id threads would verify under no earlier client: drop them.
    op.execute("DELETE FROM thread_memberships")
    with op.batch_alter_table("thread_memberships") as batch:
        batch.drop_column("nonce")
