"""log checkpoints: C2SP signed notes, each log's fixed origin, timestamped cosignatures

Revision ID: 0028
Revises: 0027
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

# Checkpoints are never changed nor removed, for any log; a log's origin, once set,
# never changes (clients pin it) and its size only grows.
PROTECTION = {
    "postgresql": [
        """
        CREATE FUNCTION uhs_refuse_checkpoint_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'checkpoints are never changed: % on % refused', TG_OP, TG_TABLE_NAME;
        END $$
        """,
        "CREATE TRIGGER merkle_checkpoints_append_only BEFORE UPDATE OR DELETE "
        "ON merkle_checkpoints FOR EACH ROW EXECUTE FUNCTION uhs_refuse_checkpoint_change()",
        "CREATE TRIGGER merkle_checkpoints_no_truncate BEFORE TRUNCATE ON merkle_checkpoints "
        "FOR EACH STATEMENT EXECUTE FUNCTION uhs_refuse_checkpoint_change()",
        """
        CREATE OR REPLACE FUNCTION uhs_refuse_log_shrink() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.size < OLD.size OR NEW.name <> OLD.name
               OR (OLD.origin IS NOT NULL AND NEW.origin IS DISTINCT FROM OLD.origin) THEN
                RAISE EXCEPTION 'a log only grows and keeps its origin: % refused', TG_OP;
            END IF;
            RETURN NEW;
        END $$
        """,
    ],
    "sqlite": [
        *(
            f"CREATE TRIGGER merkle_checkpoints_no_{verb.lower()} BEFORE {verb} "
            "ON merkle_checkpoints FOR EACH ROW "
            f"BEGIN SELECT RAISE(ABORT, 'checkpoints are never changed: {verb} refused'); END"
            for verb in ("UPDATE", "DELETE")
        ),
        "DROP TRIGGER merkle_logs_only_grow",
        "CREATE TRIGGER merkle_logs_only_grow BEFORE UPDATE ON merkle_logs FOR EACH ROW "
        "WHEN NEW.size < OLD.size OR NEW.name <> OLD.name "
        "OR (OLD.origin IS NOT NULL AND NEW.origin IS NOT OLD.origin) "
        "BEGIN SELECT RAISE(ABORT, 'a log only grows and keeps its origin'); END",
    ],
}
REMOVE_PROTECTION = {
    "postgresql": [
        """
        CREATE OR REPLACE FUNCTION uhs_refuse_log_shrink() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.size < OLD.size OR NEW.name <> OLD.name THEN
                RAISE EXCEPTION 'a log only grows: % refused', TG_OP;
            END IF;
            RETURN NEW;
        END $$
        """,
        "DROP TRIGGER merkle_checkpoints_append_only ON merkle_checkpoints",
        "DROP TRIGGER merkle_checkpoints_no_truncate ON merkle_checkpoints",
        "DROP FUNCTION uhs_refuse_checkpoint_change()",
    ],
    "sqlite": [
        "DROP TRIGGER merkle_checkpoints_no_update",
        "DROP TRIGGER merkle_checkpoints_no_delete",
        "DROP TRIGGER merkle_logs_only_grow",
        "CREATE TRIGGER merkle_logs_only_grow BEFORE UPDATE ON merkle_logs FOR EACH ROW "
        "WHEN NEW.size < OLD.size OR NEW.name <> OLD.name "
        "BEGIN SELECT RAISE(ABORT, 'a log only grows'); END",
    ],
}


def upgrade() -> None:
    op.add_column("merkle_logs", sa.Column("origin", sa.String(length=200), nullable=True))
    # The server signs a checkpoint for every head signed before (bootstrap.py): the
    # heads stay as they were signed, in merkle_tree_heads.
    op.create_table(
        "merkle_checkpoints",
        sa.Column("log", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("signed_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("log", "size", name=op.f("pk_merkle_checkpoints")),
    )
    op.add_column("journal_cosignatures", sa.Column("timestamp", sa.BigInteger(), nullable=True))
    for statement in PROTECTION[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in REMOVE_PROTECTION[op.get_bind().dialect.name]:
        op.execute(statement)
    # Cosignatures in the checkpoint format mean nothing to the code before it.
    op.execute("DELETE FROM journal_cosignatures WHERE timestamp IS NOT NULL")
    op.drop_column("journal_cosignatures", "timestamp")
    op.drop_table("merkle_checkpoints")
    op.drop_column("merkle_logs", "origin")
