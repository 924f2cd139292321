"""the key directory's map commitments (the one entry of each account)

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

from uhealthsec.crypto import merkle
from uhealthsec.crypto.account_map import AccountMap, MapCommitment, MapValue, map_key

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The first commitment is appended when the server starts (bootstrap), since only
    # the server can sign the head that follows it.
    commitments = op.create_table(
        "key_map_commitments",
        sa.Column("log_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("log_index", name=op.f("pk_key_map_commitments")),
    )
    _recover_commitments(commitments)


def _recover_commitments(commitments: sa.Table) -> None:
    """After a downgrade and an upgrade, the log still holds the commitments the table
    forgot: recompute each one's root from the entries before it, and keep it when its
    leaf hash is the stored one (a log written before maps has none: no work)."""
    bind = op.get_bind()
    nodes = sa.table(
        "merkle_nodes", sa.column("log"), sa.column("level"), sa.column("index"), sa.column("hash")
    )
    directory = sa.table("key_directory", sa.column("log_index"), sa.column("account_id", sa.Uuid))
    owners = dict(bind.execute(sa.select(directory.c.log_index, directory.c.account_id)).all())
    leaves = bind.execute(
        sa.select(nodes.c.index, nodes.c.hash)
        .where(nodes.c.log == "keys", nodes.c.level == 0)
        .order_by(nodes.c.index)
    ).all()
    tree, counts, recovered = AccountMap(), dict[uuid.UUID, int](), []
    for index, leaf_hash in leaves:
        owner = owners.get(index)
        if owner is not None:
            counts[owner] = counts.get(owner, 0) + 1
            tree.set(map_key(owner), MapValue(index, leaf_hash, counts[owner]).encode())
            continue
        root = tree.root()
        if merkle.leaf_hash(MapCommitment(index, root).encode()) == leaf_hash:
            recovered.append({"log_index": index, "root": root})
    if recovered:
        op.bulk_insert(commitments, recovered)


def downgrade() -> None:
    op.drop_table("key_map_commitments")
