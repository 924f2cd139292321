"""The Merkle log component on both databases: appends in batches, the frontier kept
in the log's row, logs written before that column existed, the migration adding it,
proofs read from the stored hashes by point lookups."""

from __future__ import annotations

import secrets

from sqlalchemy import create_engine, delete, event, text, update

from uhealthsec.crypto import merkle
from uhealthsec.crypto.checkpoint import open_checkpoint
from uhealthsec.server.storage import migrate
from uhealthsec.server.storage.merkle_log import (
    _NODES_PER_STATEMENT,
    KEY_DIRECTORY_LOG,
    CheckpointRecord,
    MerkleLog,
    MerkleLogState,
    MerkleNode,
    TreeHeadRecord,
    _read_nodes,
)


def append_batches(ctx, sizes: list[int], forget_frontier_after: int | None = None) -> list[bytes]:
    leaves: list[bytes] = []
    for number, count in enumerate(sizes):
        batch = [secrets.token_bytes(20) for _ in range(count)]
        with ctx.sessions.begin() as db:
            log = MerkleLog(db, KEY_DIRECTORY_LOG, ctx.log_key, 1)
            assert log.append(batch) == len(leaves)
            head = log.sign_head()
        leaves += batch
        assert head.size == len(leaves)
        assert head.root == merkle.root_of([merkle.leaf_hash(x) for x in leaves])
        if number == forget_frontier_after:
            with ctx.sessions.begin() as db:  # as a log appended to before the column
                db.execute(
                    update(MerkleLogState)
                    .where(MerkleLogState.name == KEY_DIRECTORY_LOG)
                    .values(frontier=None)
                )
    return leaves


def check_every_proof(ctx, leaves: list[bytes]) -> None:
    size = len(leaves)
    with ctx.sessions() as db:
        log = MerkleLog(db, KEY_DIRECTORY_LOG, ctx.log_key, 1)
        root = log.head_at(size).root
        proofs = log.inclusion_proofs(list(range(size)), size)
        for signed in log.heads(1, 100):  # one per batch
            old = signed.size
            merkle.verify_consistency(
                old, size, signed.root, root, log.consistency_proof(old, size)
            )
    for index, leaf in enumerate(leaves):
        merkle.verify_inclusion(merkle.leaf_hash(leaf), index, size, proofs[index], root)


def test_batches_of_every_shape_build_the_rfc_tree(ctx):
    leaves = append_batches(ctx, [1, 1, 2, 5, 8, 13, 1, 31, 64, 3])
    check_every_proof(ctx, leaves)


def test_a_log_without_a_stored_frontier_reads_it_from_its_nodes(ctx):
    leaves = append_batches(ctx, [3, 4, 6, 11, 7], forget_frontier_after=2)
    check_every_proof(ctx, leaves)
    with ctx.sessions() as db:
        stored = db.get(MerkleLogState, KEY_DIRECTORY_LOG).frontier
    assert stored is not None and len(stored) == merkle.HASH_SIZE * len(leaves).bit_count()


def test_the_frontier_migration_goes_down_and_up_again_keeping_the_log(ctx):
    leaves = append_batches(ctx, [5, 9])
    migrate.downgrade(ctx.engine, "0007")
    with ctx.engine.connect() as connection:
        columns = connection.execute(text("SELECT * FROM merkle_logs")).keys()
    assert "frontier" not in columns
    migrate.upgrade(ctx.engine)
    with ctx.sessions.begin() as db:
        log = MerkleLog(db, KEY_DIRECTORY_LOG, ctx.log_key, 1)
        log.set_origin("test.example/keys")  # as the server's start does
        batch = [secrets.token_bytes(20) for _ in range(6)]
        assert log.append(batch) == len(leaves)
        log.sign_head()
    check_every_proof(ctx, leaves + batch)


def test_a_head_is_signed_at_every_checkpoint_a_batch_crosses(ctx):
    every = merkle.CHECKPOINT_INTERVAL
    # Crosses one checkpoint, ends exactly on the next, then crosses one mid-batch.
    leaves = append_batches(ctx, [every - 3, 5, every - 2, 700, every + 1])
    with ctx.sessions() as db:
        log = MerkleLog(db, KEY_DIRECTORY_LOG, ctx.log_key, 1)
        public = ctx.log_key.public_key().public_bytes_raw()
        checkpoints = log.heads(1, 100, checkpoints_only=True)
        assert [h.size for h in checkpoints] == list(range(every, len(leaves) + 1, every))
        for signed in checkpoints:
            assert open_checkpoint(signed.note, log.origin(), public) == signed.checkpoint
            hashed = [merkle.leaf_hash(x) for x in leaves[: signed.size]]
            assert signed.root == merkle.root_of(hashed)
        # One head per batch besides the checkpoints (the batch ending on one shares it).
        assert len(log.heads(1, 100)) == 5 + len(checkpoints) - 1


def test_checkpoints_missing_from_an_older_log_are_signed_once(ctx):
    leaves = append_batches(ctx, [3000])
    # As a log written before checkpoints at each interval and before their format: its
    # one head, of 3000 entries, signed in the format before (merkle_tree_heads).
    dialect = ctx.engine.dialect.name
    with ctx.sessions.begin() as db:
        root = db.get(CheckpointRecord, (KEY_DIRECTORY_LOG, 3000)).root
        db.execute(
            text(
                "DROP TRIGGER merkle_checkpoints_no_delete"
                if dialect == "sqlite"
                else "DROP TRIGGER merkle_checkpoints_append_only ON merkle_checkpoints"
            )
        )
        db.execute(delete(CheckpointRecord).where(CheckpointRecord.log == KEY_DIRECTORY_LOG))
        for size, stored in ((3000, root), (2000, bytes(32))):  # the second made up
            db.add(
                TreeHeadRecord(
                    log=KEY_DIRECTORY_LOG,
                    size=size,
                    root=stored,
                    timestamp_ms=1,
                    signature=bytes(64),
                )
            )
    for expected in (3, 0):
        with ctx.sessions.begin() as db:
            log = MerkleLog(db, KEY_DIRECTORY_LOG, ctx.log_key, 1)
            assert log.sign_missing_checkpoints() == expected
    check_every_proof(ctx, leaves)
    with ctx.sessions() as db:
        heads = MerkleLog(db, KEY_DIRECTORY_LOG, ctx.log_key, 1).heads(1, 10)
    # The made-up head's root is not the tree's: nothing signs it.
    assert [h.size for h in heads] == [1024, 2048, 3000]
    for signed in heads[:2]:
        hashed = [merkle.leaf_hash(x) for x in leaves[: signed.size]]
        assert signed.root == merkle.root_of(hashed)


def test_proofs_read_from_the_stored_hashes_are_those_of_the_tree(ctx):
    leaves = append_batches(ctx, [300, 77, 1])
    hashed = [merkle.leaf_hash(x) for x in leaves]
    tree, _ = merkle.append(0, [], hashed)  # every node, computed in memory
    reference = {(level, index): value for level, index, value in tree}
    statements: list[str] = []
    event.listen(ctx.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with ctx.sessions() as db:
        log = MerkleLog(db, KEY_DIRECTORY_LOG, ctx.log_key, 1)
        for size in (300, 377, 378):
            for index in range(size):
                ranges = merkle.inclusion_ranges(index, size)
                expected = merkle.proof_from(ranges, reference)
                assert log.inclusion_proof(index, size) == expected
            for old in range(1, size + 1):
                ranges = merkle.consistency_ranges(old, size)
                expected = merkle.proof_from(ranges, reference)
                assert log.consistency_proof(old, size) == expected
        # Every leaf's proof at once: the nodes of the whole tree, in several statements.
        plans = {i: merkle.inclusion_ranges(i, 378) for i in range(378)}
        needed = set().union(*(merkle.nodes_for(r) for r in plans.values()))
        assert len(needed) > 2 * _NODES_PER_STATEMENT
        statements.clear()
        assert log.inclusion_proofs(list(plans), 378) == merkle.proofs_from(plans, reference)
    reads = [s for s in statements if "merkle_nodes" in s]
    assert len(reads) == -(-len(needed) // _NODES_PER_STATEMENT)


def test_sqlite_reads_each_node_by_its_primary_key():
    # Without statistics, as a log that just grew: the plan must not scan the log.
    engine = create_engine("sqlite://")
    MerkleNode.__table__.create(engine)
    statement = _read_nodes(3).compile(engine)
    with engine.connect() as connection:
        plan = [
            row[3]
            for row in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}",
                ("keys", 0, 5, "keys", 1, 2, "keys", 4, 0),
            )
        ]
    searches = [step for step in plan if step.startswith(("SEARCH", "SCAN"))]
    assert len(searches) == 3
    assert all(s.endswith("(log=? AND level=? AND index=?)") for s in searches), plan
