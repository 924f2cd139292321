"""Append-only Merkle logs kept in the database (RFC 9162 trees, signed checkpoints).

One component serves every log of the server (the key directory, the journal): a log
is a name, an origin (the name its checkpoints carry), a size, the hashes of its
completed perfect subtrees and its signed checkpoints (C2SP signed notes).
Appends lock the log's row (``UPDATE ... RETURNING``), so several API processes append
to one log without gaps or duplicates; the leaves themselves live in the owning
domain's table, under the index this component hands out.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import (
    BigInteger,
    Integer,
    LargeBinary,
    Select,
    String,
    and_,
    bindparam,
    exists,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from uhealthsec.crypto import merkle
from uhealthsec.crypto.checkpoint import Checkpoint, verifier_key
from uhealthsec.protocol.logs import CheckpointOut, LogHeadOut
from uhealthsec.server.errors import InvalidInput
from uhealthsec.server.storage.db import Base, insert_rows

logger = logging.getLogger(__name__)

#: Names of the server's logs.
KEY_DIRECTORY_LOG = "keys"
JOURNAL_LOG = "journal"


class MerkleLogState(Base):
    __tablename__ = "merkle_logs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The hashes of ``subtrees(0, size)`` concatenated, kept with the size so that an
    #: append reads them with its lock; null (older rows) means "read them from nodes".
    frontier: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: The origin line of the log's checkpoints, set once (at the first start after
    #: migration 0028) and never changed: clients pin it with the log's key.
    origin: Mapped[str | None] = mapped_column(String(200), nullable=True)


class MerkleNode(Base):
    """The hash of the perfect subtree (level, index) of a log."""

    __tablename__ = "merkle_nodes"

    log: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class TreeHeadRecord(Base):
    """A tree head signed in the format before checkpoints (docs/PROTOCOL.md, 9.2):
    kept as it was signed, and signed again as a checkpoint at the first start."""

    __tablename__ = "merkle_tree_heads"

    log: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class CheckpointRecord(Base):
    """One signed checkpoint per log size; the first one signed for a size is kept."""

    __tablename__ = "merkle_checkpoints"

    log: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: The whole signed note, as served.
    note: Mapped[str] = mapped_column(String(2000))
    signed_at_ms: Mapped[int] = mapped_column(BigInteger)


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    #: The C2SP signed note that carries it, signed by the log's key.
    note: str
    #: When the server signed it (milliseconds since 1970).
    signed_at_ms: int

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root


#: The server key's subkey that signs the tree heads of every log.
LOG_KEY_PURPOSE = "merkle-log-signing"


def log_signing_key(secret: bytes) -> ed25519.Ed25519PrivateKey:
    """The Ed25519 key that signs tree heads, derived from a server subkey."""
    return ed25519.Ed25519PrivateKey.from_private_bytes(secret)


class MerkleLog:
    def __init__(
        self, db: Session, name: str, signer: ed25519.Ed25519PrivateKey, now_ms: int
    ) -> None:
        self.db = db
        self.name = name
        self.signer = signer
        self.now_ms = now_ms
        #: After an append: the new size and its root, so the head needs no re-read,
        #: and the hashes the batch's own inclusion proofs need (the old frontier and
        #: the new nodes: every sibling on the path of a new leaf is one of them).
        self._appended: tuple[int, bytes] | None = None
        self._batch_nodes: dict[merkle.Node, bytes] = {}
        #: Checkpoint heads signed by the last append, by size.
        self._checkpoints: dict[int, SignedCheckpoint] = {}
        self._origin: str | None = None

    # -- writing ----------------------------------------------------------------------

    def append(self, leaves: list[bytes], leaf_hashes: list[bytes] | None = None) -> int:
        """Add leaves (their data) at the end; returns the index of the first one.

        The caller stores each leaf's data under its index in the same transaction.
        ``leaf_hashes`` may be computed beforehand, so that the log's lock is held for
        as little work as possible.
        """
        if not leaves:
            raise ValueError("nothing to append")
        hashed = leaf_hashes or [merkle.leaf_hash(x) for x in leaves]
        # Locks the log's row until commit: concurrent appenders queue here.
        new_size, packed, self._origin = self.db.execute(
            update(MerkleLogState)
            .where(MerkleLogState.name == self.name)
            .values(size=MerkleLogState.size + len(leaves))
            .returning(MerkleLogState.size, MerkleLogState.frontier, MerkleLogState.origin)
        ).one()
        size = new_size - len(leaves)
        frontier_nodes = merkle.subtrees(0, size)
        if packed is not None and len(packed) == merkle.HASH_SIZE * len(frontier_nodes):
            old_frontier = [
                packed[i : i + merkle.HASH_SIZE] for i in range(0, len(packed), merkle.HASH_SIZE)
            ]
            stored = dict(zip(frontier_nodes, old_frontier, strict=True))
        else:
            stored = self._nodes(set(frontier_nodes))
            old_frontier = [stored[n] for n in frontier_nodes]
        created: list[tuple[int, int, bytes]] = []
        frontier, position, checkpoints = old_frontier, size, []
        # Split at every checkpoint the batch crosses, to sign the root there too.
        every = merkle.CHECKPOINT_INTERVAL
        for boundary in [*range(size - size % every + every, new_size, every), new_size]:
            made, frontier = merkle.append(
                position, frontier, hashed[position - size : boundary - size]
            )
            created += made
            position = boundary
            if boundary % every == 0:
                checkpoints.append((boundary, merkle.root_from_frontier(frontier)))
        self.db.execute(
            update(MerkleLogState)
            .where(MerkleLogState.name == self.name)
            .values(frontier=b"".join(frontier))
        )
        insert_rows(
            self.db,
            MerkleNode.__table__,
            [
                {"log": self.name, "level": level, "index": index, "hash": value}
                for level, index, value in created
            ],
        )
        self._appended = (new_size, merkle.root_from_frontier(frontier))
        self._batch_nodes = {**stored, **{(lv, ix): h for lv, ix, h in created}}
        self._checkpoints = {h.size: h for h in self._sign(checkpoints)}
        return size

    def lock(self) -> int:
        """Take the log's lock until commit; returns its size, the index the next
        append starts at."""
        size: int = self.db.execute(
            update(MerkleLogState)
            .where(MerkleLogState.name == self.name)
            .values(size=MerkleLogState.size)
            .returning(MerkleLogState.size)
        ).scalar_one()
        return size

    def sign_head(self) -> SignedCheckpoint:
        """The signed checkpoint for the current size, signing it if it does not exist."""
        if self._appended is not None:
            # Just appended under the row lock: this size is new and its root known.
            size, root = self._appended
            if size in self._checkpoints:  # the batch ended on a checkpoint
                return self._checkpoints[size]
        else:
            size = self.size()
            existing = self.db.get(CheckpointRecord, (self.name, size))
            if existing is not None:
                return _signed(existing)
            # Rare (a log no append signed for yet): under the log's lock, so that two
            # readers do not both sign the same size.
            size = self.lock()
            existing = self.db.get(CheckpointRecord, (self.name, size))
            if existing is not None:
                return _signed(existing)
            [(_, root)] = next(self._roots([size]))
        return self._sign([(size, root)])[0]

    def set_origin(self, origin: str) -> str:
        """Give the log its checkpoints' origin line if it has none yet; returns the one
        it keeps (a log keeps its first origin: clients pinned it)."""
        self.lock()
        state = self.db.get(MerkleLogState, self.name)
        if state is None:
            raise LookupError(f"no log named {self.name}")
        if state.origin is None:
            Checkpoint(origin, 0, bytes(merkle.HASH_SIZE)).body()  # refuses a bad origin
            state.origin = origin
            self.db.flush()
        return state.origin

    def sign_missing_checkpoints(self) -> int:
        """Sign what a log written before them lacks: a checkpoint at each multiple of
        the interval, and one for each head signed in the format before checkpoints.
        Returns how many; holds the log's lock, so that two starting processes do not
        both sign."""
        size = self.lock()
        every = merkle.CHECKPOINT_INTERVAL
        signed = 0
        # Heads of the format before checkpoints that have none yet (once: at the first
        # start after migration 0028). Each is signed again only if its root is the one
        # the stored tree gives: a row inserted into that table signs nothing.
        legacy = self.db.execute(
            select(TreeHeadRecord.size, TreeHeadRecord.root)
            .where(
                TreeHeadRecord.log == self.name,
                TreeHeadRecord.size <= size,
                ~exists().where(
                    CheckpointRecord.log == TreeHeadRecord.log,
                    CheckpointRecord.size == TreeHeadRecord.size,
                ),
            )
            .order_by(TreeHeadRecord.size)
        ).all()
        stored = {s: bytes(root) for s, root in legacy}
        for part in self._roots(list(stored)):
            for s, computed in part:
                if stored[s] != computed:
                    logger.error("the %s log's old head of size %d is not its tree's", self.name, s)
            signed += len(self._sign([(s, r) for s, r in part if stored[s] == r]))
        have = set(
            self.db.scalars(
                select(CheckpointRecord.size).where(
                    CheckpointRecord.log == self.name, CheckpointRecord.size % every == 0
                )
            )
        )
        missing = [s for s in range(every, size + 1, every) if s not in have]
        for part in self._roots(missing):
            signed += len(self._sign(part))
        return signed

    def _roots(self, sizes: list[int]) -> Iterator[list[tuple[int, bytes]]]:
        """The stored tree's root at each size, 100 sizes at a time: one bounded read of
        stored hashes for each part."""
        for start in range(0, len(sizes), 100):
            part = sizes[start : start + 100]
            nodes = self._nodes(set().union(*(merkle.subtrees(0, s) for s in part)))
            yield [(s, merkle.range_hash(0, s, nodes.__getitem__)) for s in part]

    def origin(self) -> str:
        if self._origin is None:
            state = self.db.get(MerkleLogState, self.name)
            if state is None or state.origin is None:
                raise LookupError(f"the {self.name} log has no origin yet")
            self._origin = state.origin
        return self._origin

    def _sign(self, roots: list[tuple[int, bytes]]) -> list[SignedCheckpoint]:
        """Sign and store checkpoints for (size, root) pairs."""
        origin = self.origin()
        signed = []
        for size, root in roots:
            checkpoint = Checkpoint(origin, size, root)
            signed.append(SignedCheckpoint(checkpoint, checkpoint.sign(self.signer), self.now_ms))
        insert_rows(
            self.db,
            CheckpointRecord.__table__,
            [
                {
                    "log": self.name,
                    "size": c.size,
                    "root": c.root,
                    "note": c.note,
                    "signed_at_ms": c.signed_at_ms,
                }
                for c in signed
            ],
        )
        return signed

    def proven_head(self, since: int | None) -> tuple[SignedCheckpoint, list[bytes]]:
        """The latest signed checkpoint and, for a client that saw the one of size
        ``since``, the proof that the new tree extends it."""
        head = self.sign_head()
        if since is None or since == head.size:
            return head, []
        if since > head.size:
            raise InvalidInput(
                f"this log has {head.size} entries, fewer than the {since} your "
                "client saw: it is not the log you used before"
            )
        return head, self.consistency_proof(since, head.size)

    def heads(
        self, from_size: int, limit: int, checkpoints_only: bool = False
    ) -> list[SignedCheckpoint]:
        """Signed checkpoints of size ``from_size`` and above, smallest first: every one
        (one per batch of appends), or only those at each multiple of the interval."""
        query = select(CheckpointRecord).where(
            CheckpointRecord.log == self.name, CheckpointRecord.size >= from_size
        )
        if checkpoints_only:
            query = query.where(CheckpointRecord.size % merkle.CHECKPOINT_INTERVAL == 0)
        records = self.db.scalars(query.order_by(CheckpointRecord.size).limit(limit)).all()
        return [_signed(r) for r in records]

    # -- reading ----------------------------------------------------------------------

    def size(self) -> int:
        state = self.db.get(MerkleLogState, self.name)
        if state is None:
            raise LookupError(f"no log named {self.name}")
        return state.size

    def head_at(self, size: int) -> SignedCheckpoint:
        record = self.db.get(CheckpointRecord, (self.name, size))
        if record is None:
            raise InvalidInput(f"the {self.name} log has no signed checkpoint of size {size}")
        return _signed(record)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        self._check_size(size)
        if not 0 <= index < size:
            raise InvalidInput(f"entry {index} is not in the first {size} entries of the log")
        ranges = merkle.inclusion_ranges(index, size)
        return merkle.proof_from(ranges, self._nodes(merkle.nodes_for(ranges)))

    def inclusion_proofs(self, indexes: list[int], size: int) -> dict[int, list[bytes]]:
        """Proofs for several entries of one tree, with one read of the stored hashes
        (none for the entries of a batch just appended: they need only its own hashes,
        so they can be computed after the transaction)."""
        plans = {i: merkle.inclusion_ranges(i, size) for i in indexes}
        if self._batch_nodes and self._appended is not None and self._appended[0] == size:
            try:
                return merkle.proofs_from(plans, self._batch_nodes)
            except KeyError:  # an entry from before the batch: read what it needs
                pass
        self._check_size(size)
        needed: set[merkle.Node] = set().union(*(merkle.nodes_for(r) for r in plans.values()))
        nodes = self._nodes(needed)
        return merkle.proofs_from(plans, nodes)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        self._check_size(new_size)
        if not 0 < old_size <= new_size:
            raise InvalidInput("a consistency proof goes from a non-empty size to a larger one")
        ranges = merkle.consistency_ranges(old_size, new_size)
        return merkle.proof_from(ranges, self._nodes(merkle.nodes_for(ranges)))

    def _check_size(self, size: int) -> None:
        if not 0 < size <= self.size():
            raise InvalidInput(f"the {self.name} log has no tree of size {size}")

    def _nodes(self, positions: set[merkle.Node]) -> dict[merkle.Node, bytes]:
        """The stored hashes at ``positions``, read by point lookups of the primary key.

        A ``(level, index) IN (...)`` of pairs is planned by SQLite as a scan of the
        log's every node, and an ``index IN (...)`` per level lets PostgreSQL filter a
        whole level when it has no statistics yet: either way a proof would cost time
        in proportion to the log's size. An OR of whole keys (``log = ? AND level = ?
        AND index = ?``) is one read of the primary key per node in both (SQLite's
        multi-index OR, PostgreSQL's bitmap OR).
        """
        found: dict[merkle.Node, bytes] = {}
        wanted = sorted(positions)
        for start in range(0, len(wanted), _NODES_PER_STATEMENT):
            part = wanted[start : start + _NODES_PER_STATEMENT]
            values: dict[str, object] = {"log": self.name}
            for k, (level, index) in enumerate(part):
                values[f"l{k}"], values[f"i{k}"] = level, index
            rows = self.db.execute(_read_nodes(len(part)), values)
            found.update(((level, index), value) for level, index, value in rows)
        if len(found) != len(positions):
            raise LookupError(f"the {self.name} log is missing stored hashes")
        return found


@functools.cache
def _read_nodes(count: int) -> Select[tuple[int, int, bytes]]:
    """The read of ``count`` nodes of one log: built once per count, as building and
    compiling one again would cost more than the read itself."""
    return select(MerkleNode.level, MerkleNode.index, MerkleNode.hash).where(
        or_(
            *(
                and_(
                    MerkleNode.log == bindparam("log"),
                    MerkleNode.level == bindparam(f"l{k}"),
                    MerkleNode.index == bindparam(f"i{k}"),
                )
                for k in range(count)
            )
        )
    )


#: Nodes read by one statement: SQLite parses a chain of ORs as a tree of that depth,
#: and refuses one deeper than 1,000.
_NODES_PER_STATEMENT = 250


def _signed(record: CheckpointRecord) -> SignedCheckpoint:
    # The note was signed and checked when written; parsing it back gives the values.
    root = bytes(record.root)
    origin = record.note.split("\n", 1)[0]
    return SignedCheckpoint(Checkpoint(origin, record.size, root), record.note, record.signed_at_ms)


def checkpoint_out(signed: SignedCheckpoint) -> CheckpointOut:
    return CheckpointOut(checkpoint=signed.note)


def log_key_out(log: MerkleLog) -> str:
    """The log's verifier key (C2SP vkey: its origin, key ID and Ed25519 key)."""
    return verifier_key(log.origin(), log.signer.public_key().public_bytes_raw())


def log_head_out(log: MerkleLog, since: int | None) -> LogHeadOut:
    """A log's latest signed checkpoint for a client, with its key and, for a client
    that saw the checkpoint of size ``since``, the consistency proof."""
    signed, proof = log.proven_head(since)
    return LogHeadOut(log_key=log_key_out(log), checkpoint=signed.note, consistency=proof)
