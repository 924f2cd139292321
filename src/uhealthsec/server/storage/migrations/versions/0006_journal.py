"""journal

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import uhealthsec.server.storage.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The journal is append-only for the application's own connection too: entries, the
# journal's tree hashes and signed heads cannot be changed or deleted, and the log's
# size can only grow. An operator who drops these triggers is caught by the Merkle
# proofs that clients check.
_GUARDED = {
    "journal_entries": "TRUE",
    "journal_patients": "TRUE",
    "merkle_nodes": "OLD.log = 'journal'",
    "merkle_tree_heads": "OLD.log = 'journal'",
}
WRITE_PROTECTION = {
    "postgresql": [
        """
        CREATE FUNCTION uhs_refuse_journal_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the journal is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
        END $$
        """,
        """
        CREATE FUNCTION uhs_refuse_log_shrink() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.size < OLD.size OR NEW.name <> OLD.name THEN
                RAISE EXCEPTION 'a log only grows: % refused', TG_OP;
            END IF;
            RETURN NEW;
        END $$
        """,
        *(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW WHEN ({condition}) EXECUTE FUNCTION uhs_refuse_journal_change()"
            for table, condition in _GUARDED.items()
        ),
        "CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries "
        "FOR EACH STATEMENT EXECUTE FUNCTION uhs_refuse_journal_change()",
        "CREATE TRIGGER merkle_nodes_no_truncate BEFORE TRUNCATE ON merkle_nodes "
        "FOR EACH STATEMENT EXECUTE FUNCTION uhs_refuse_journal_change()",
        "CREATE TRIGGER merkle_logs_only_grow BEFORE UPDATE ON merkle_logs "
        "FOR EACH ROW EXECUTE FUNCTION uhs_refuse_log_shrink()",
        "CREATE TRIGGER merkle_logs_no_delete BEFORE DELETE ON merkle_logs "
        "FOR EACH ROW EXECUTE FUNCTION uhs_refuse_journal_change()",
        # Grants: nobody, the owner included, keeps the right to rewrite the journal.
        "REVOKE UPDATE, DELETE, TRUNCATE ON journal_entries FROM PUBLIC, CURRENT_USER",
    ],
    "sqlite": [
        *(
            f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            f"FOR EACH ROW WHEN {condition.replace('TRUE', '1')} "
            f"BEGIN SELECT RAISE(ABORT, 'the journal is append-only: {verb} on {table} refused');"
            " END"
            for table, condition in _GUARDED.items()
            for verb in ("UPDATE", "DELETE")
        ),
        "CREATE TRIGGER merkle_logs_only_grow BEFORE UPDATE ON merkle_logs FOR EACH ROW "
        "WHEN NEW.size < OLD.size OR NEW.name <> OLD.name "
        "BEGIN SELECT RAISE(ABORT, 'a log only grows'); END",
        "CREATE TRIGGER merkle_logs_no_delete BEFORE DELETE ON merkle_logs FOR EACH ROW "
        "BEGIN SELECT RAISE(ABORT, 'a log only grows'); END",
    ],
}
REMOVE_WRITE_PROTECTION = {
    "postgresql": [
        *(f"DROP TRIGGER {table}_append_only ON {table}" for table in _GUARDED),
        "DROP TRIGGER journal_entries_no_truncate ON journal_entries",
        "DROP TRIGGER merkle_nodes_no_truncate ON merkle_nodes",
        "DROP TRIGGER merkle_logs_only_grow ON merkle_logs",
        "DROP TRIGGER merkle_logs_no_delete ON merkle_logs",
        "DROP FUNCTION uhs_refuse_journal_change()",
        "DROP FUNCTION uhs_refuse_log_shrink()",
    ],
    "sqlite": [
        *(
            f"DROP TRIGGER {table}_no_{verb.lower()}"
            for table in _GUARDED
            for verb in ("UPDATE", "DELETE")
        ),
        "DROP TRIGGER merkle_logs_only_grow",
        "DROP TRIGGER merkle_logs_no_delete",
    ],
}


def upgrade() -> None:
    op.create_table(
        "journal_entries",
        sa.Column("log_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("practice_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("log_index", name=op.f("pk_journal_entries")),
    )
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journal_entries_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_journal_entries_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_journal_entries_practice_id"), ["practice_id"], unique=False
        )

    op.create_table(
        "journal_patients",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("patient_id", "log_index", name=op.f("pk_journal_patients")),
    )
    op.create_table(
        "journal_network",
        sa.Column("log_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=False),
        sa.Column(
            "created_at", uhealthsec.server.storage.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("log_index", name=op.f("pk_journal_network")),
    )
    with op.batch_alter_table("journal_network", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_journal_network_created_at"), ["created_at"], unique=False
        )

    logs = sa.table("merkle_logs", sa.column("name", sa.String), sa.column("size", sa.BigInteger))
    op.bulk_insert(logs, [{"name": "journal", "size": 0}])
    for statement in WRITE_PROTECTION[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in REMOVE_WRITE_PROTECTION[op.get_bind().dialect.name]:
        op.execute(statement)
    op.execute("DELETE FROM merkle_tree_heads WHERE log = 'journal'")
    op.execute("DELETE FROM merkle_nodes WHERE log = 'journal'")
    op.execute("DELETE FROM merkle_logs WHERE name = 'journal'")
    with op.batch_alter_table("journal_network", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_network_created_at"))

    op.drop_table("journal_network")
    op.drop_table("journal_patients")
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_entries_practice_id"))
        batch_op.drop_index(batch_op.f("ix_journal_entries_created_at"))
        batch_op.drop_index(batch_op.f("ix_journal_entries_actor_id"))

    op.drop_table("journal_entries")
