"""journal chains, witnesses and the technical log of refusals

Revision ID: 0017
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# A chain head only moves forward: the application never shortens or deletes one. An
# operator who goes around this forks the chain inside the journal, where the patient's
# client and the witnesses see it (docs/PROTOCOL.md, 13).
CHAIN_GUARDS = {
    "postgresql": [
        """
        CREATE FUNCTION uhs_refuse_chain_rewind() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' OR NEW.length < OLD.length
               OR NEW.subject_id <> OLD.subject_id THEN
                RAISE EXCEPTION 'a journal chain only grows: % refused', TG_OP;
            END IF;
            RETURN NEW;
        END $$
        """,
        "CREATE TRIGGER journal_chains_only_grow BEFORE UPDATE OR DELETE ON journal_chains "
        "FOR EACH ROW EXECUTE FUNCTION uhs_refuse_chain_rewind()",
    ],
    "sqlite": [
        "CREATE TRIGGER journal_chains_only_grow BEFORE UPDATE ON journal_chains FOR EACH ROW "
        "WHEN NEW.length < OLD.length OR NEW.subject_id <> OLD.subject_id "
        "BEGIN SELECT RAISE(ABORT, 'a journal chain only grows'); END",
        "CREATE TRIGGER journal_chains_no_delete BEFORE DELETE ON journal_chains FOR EACH ROW "
        "BEGIN SELECT RAISE(ABORT, 'a journal chain only grows'); END",
    ],
}
REMOVE_CHAIN_GUARDS = {
    "postgresql": [
        "DROP TRIGGER journal_chains_only_grow ON journal_chains",
        "DROP FUNCTION uhs_refuse_chain_rewind()",
    ],
    "sqlite": ["DROP TRIGGER journal_chains_only_grow", "DROP TRIGGER journal_chains_no_delete"],
}


def upgrade() -> None:
    # Entries written before carry no link: every chain starts at its first new entry.
    op.create_table(
        "journal_chains",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("last_index", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_journal_chains")),
    )
    for statement in CHAIN_GUARDS[op.get_bind().dialect.name]:
        op.execute(statement)
    # Cosignatures come only from the witnesses an operator lists; none is listed yet.
    op.create_table(
        "journal_witnesses",
        sa.Column("witness_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column(
            "added_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("witness_key", name=op.f("pk_journal_witnesses")),
    )
    with op.batch_alter_table("journal_witnesses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_journal_witnesses_account_id"), ["account_id"], unique=False
        )

    # Refusals are counted here (purged by uhs-server cleanup); only a bounded few per
    # address and per account go to the permanent journal.
    op.create_table(
        "journal_refusals",
        sa.Column(
            "started_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("who", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "started_at", "who", "action", "status", name=op.f("pk_journal_refusals")
        ),
    )


def downgrade() -> None:
    op.drop_table("journal_refusals")
    op.drop_table("journal_witnesses")
    for statement in REMOVE_CHAIN_GUARDS[op.get_bind().dialect.name]:
        op.execute(statement)
    op.drop_table("journal_chains")
