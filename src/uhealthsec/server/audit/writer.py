"""Appending to the journal from many requests at once: one writer thread per process
takes whatever entries are waiting, appends them to the Merkle log in one
transaction, signs one checkpoint for the batch, and answers each request with its
entry's position and inclusion proof. Under load batches grow; at rest a batch is
one entry, written at once. Several processes append safely: each batch locks the
log's row (storage/merkle_log.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from uhealthsec.crypto import merkle
from uhealthsec.crypto.journal import ENTRY_VERSION, ChainLink, JournalEntry, ObjectKind
from uhealthsec.server.audit.models import (
    JournalChain,
    JournalNetworkRecord,
    JournalOutbox,
    JournalPatient,
    JournalRecord,
)
from uhealthsec.server.audit.read_budgets import (
    JOURNAL_ALLOWANCE,
    ReadBudget,
    ReadBudgets,
    ReadBudgetSpent,
    count_throttled,
)
from uhealthsec.server.audit.refusals import count_reads
from uhealthsec.server.storage.db import insert_rows, transaction
from uhealthsec.server.storage.merkle_log import JOURNAL_LOG, MerkleLog, SignedCheckpoint

log = logging.getLogger(__name__)
MAX_BATCH = 1000


@dataclass(frozen=True)
class Receipt:
    """Where an entry landed: its index, the signed head of the batch, its proof."""

    index: int
    entry: bytes
    head: SignedCheckpoint
    proof: list[bytes]


@dataclass(frozen=True)
class PendingEntry:
    entry: JournalEntry
    patient_ids: tuple[uuid.UUID, ...] = ()
    practice_id: uuid.UUID | None = None
    ip_address: str | None = None
    #: The entry staged with the change it records (audit/outbox.py), if any.
    outbox_id: uuid.UUID | None = None
    #: Sequenced by a sweeper from its staged row: nothing to do if the row is gone
    #: (sequenced, or dropped as a refusal the journal does not keep).
    swept: bool = False
    #: A signed-in account's reads of personal data, shown only if journaled (a GET
    #: counts one; a batched key lookup one per patient's entry it shows): counted
    #: against the account's allowance in the batch that appends it
    #: (audit/refusals.py), and not appended past it (``ReadAllowanceSpent``).
    counted_reads: int = 0
    #: Its reads count against the budgets past the allowance (``JournalDraft.budgeted``).
    budgeted: bool = True

    def patients(self) -> list[uuid.UUID]:
        """Every patient the entry is about: those the request read or changed, and
        any it names among its objects."""
        named = [oid for kind, oid in self.entry.objects if kind == ObjectKind.PATIENT]
        return list(dict.fromkeys([*self.patient_ids, *named]))

    def practices(self) -> list[uuid.UUID]:
        """Every practice the entry is about, the one the request concerned first."""
        named = [oid for kind, oid in self.entry.objects if kind == ObjectKind.PRACTICE]
        first = [] if self.practice_id is None else [self.practice_id]
        return list(dict.fromkeys([*first, *named]))

    def subjects(self) -> list[tuple[ObjectKind, uuid.UUID]]:
        """Whose chains the entry extends: its patients, then its practices. Every one
        it names is linked (docs/PROTOCOL.md, 13.2): none can be named outside its
        chain, and so left out of its history unnoticed."""
        return [(ObjectKind.PATIENT, p) for p in self.patients()] + [
            (ObjectKind.PRACTICE, p) for p in self.practices()
        ]


#: A read not journaled, and so not shown: its account read past its allowance this
#: minute, or past a budget of its account or network (audit/read_budgets.py).
ReadAllowanceSpent = ReadBudgetSpent


_Result = Receipt | None | BaseException
_Future = Future[Receipt | None] | asyncio.Future[Receipt | None]


@dataclass(frozen=True)
class _Request:
    pending: PendingEntry
    #: A thread's future, or a future of the event loop ``loop``.
    future: _Future
    loop: asyncio.AbstractEventLoop | None = None


class JournalWriter:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        signer: ed25519.Ed25519PrivateKey,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._signer = signer
        self._clock = clock
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: Told each batch's size and duration (the metrics), when set.
        self.batch_observer: Callable[[int, float], None] | None = None
        #: The budgets on reads past the journal's allowance (R27), when set (the API).
        self.read_budgets: ReadBudgets | None = None

    def queue_depth(self) -> int:
        """Entries waiting for the writer thread."""
        return self._queue.qsize()

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self._sessions

    def submit(self, pending: PendingEntry) -> Future[Receipt | None]:
        """Queue an entry; the future holds its receipt once its batch is committed."""
        future: Future[Receipt | None] = Future()
        self._enqueue(_Request(pending, future))
        return future

    async def record(self, pending: PendingEntry) -> Receipt:
        """Queue an entry from a request and wait for its receipt. The writer wakes
        each event loop once per batch, not once per entry."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Receipt | None] = loop.create_future()
        self._enqueue(_Request(pending, future, loop))
        receipt = await future
        assert receipt is not None  # only a swept entry goes without one
        return receipt

    def append(self, pending: PendingEntry, timeout: float = 30.0) -> Receipt:
        """Append and wait (for work outside a request: jobs, tests)."""
        receipt = self.submit(pending).result(timeout=timeout)
        assert receipt is not None  # only a swept entry goes without one
        return receipt

    def discard(self, outbox_id: uuid.UUID) -> None:
        """Drop an entry staged for a refusal the journal does not keep (13.1)."""
        with transaction(self._sessions) as db:
            _claim(db, [outbox_id])

    def _enqueue(self, request: _Request) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="uhs-journal", daemon=True)
                self._thread.start()
        self._queue.put(request)

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._write(batch)
                    return
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[_Request]) -> None:
        outcomes: list[_Result]
        started = time.perf_counter()
        try:
            outcomes = list(self._append([r.pending for r in batch]))
            if len(outcomes) != len(batch):
                raise RuntimeError("the journal's writer answered a batch incompletely")
        except Exception as exc:  # every waiting request learns of it; the thread goes on
            log.exception("the journal could not be written")
            outcomes = [exc] * len(batch)
        if self.batch_observer is not None:
            self.batch_observer(len(batch), time.perf_counter() - started)
        threads: list[tuple[_Future, _Result]] = []
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Future, _Result]]]
        by_loop = defaultdict(list)
        for request, outcome in zip(batch, outcomes, strict=True):
            waiting = threads if request.loop is None else by_loop[request.loop]
            waiting.append((request.future, outcome))
        _settle(threads)
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle, settled)

    def _append(self, requested: list[PendingEntry]) -> list[_Result]:
        now = self._clock()
        with transaction(self._sessions) as db:
            journal = MerkleLog(db, JOURNAL_LOG, self._signer, int(now.timestamp() * 1000))
            # The links need the entries' indexes: they are known once the log is locked.
            first = journal.lock()
            spent = _reads_past_allowance(db, requested, now, self.read_budgets)
            requested_here = [p for p in requested if id(p) not in spent]
            # A staged entry is sequenced once: by its request, or by a sweeper if the
            # request's process could not (whoever claims its row under the log's lock).
            staged = list(dict.fromkeys(p.outbox_id for p in requested_here if p.outbox_id))
            claimed = _claim(db, staged)
            sequenced = _sequenced(db, [i for i in staged if i not in claimed])
            # What this batch appends, each with the request it answers.
            batch: list[PendingEntry] = []
            answers: list[PendingEntry] = []
            taken: set[uuid.UUID] = set()
            for pending in requested_here:
                staged_id = pending.outbox_id
                if staged_id is not None and (staged_id in taken or staged_id in sequenced):
                    continue  # a row staged twice in one batch, or placed before
                if pending.swept and staged_id not in claimed:
                    continue  # gone since the sweeper read it: dropped as a refusal
                if staged_id is None or staged_id in claimed:
                    batch.append(pending)
                else:  # staged by a transaction that did not commit: nothing was done
                    batch.append(replace(pending, outbox_id=None))
                answers.append(pending)
                if staged_id is not None:
                    taken.add(staged_id)
            placed = _append_entries(db, journal, first, batch, answers, now) if batch else {}
            head = journal.sign_head()
        # After the commit: the batch's proofs need only its own hashes (merkle_log.py).
        receipts = self._receipts(journal, head, requested_here, placed, sequenced)
        answered = dict(zip(map(id, requested_here), receipts, strict=True))
        return [spent[id(p)] if id(p) in spent else answered.get(id(p)) for p in requested]

    @staticmethod
    def _receipts(
        journal: MerkleLog,
        head: SignedCheckpoint,
        requested: list[PendingEntry],
        appended: dict[int | uuid.UUID, tuple[int, bytes]],
        sequenced: dict[uuid.UUID, tuple[int, bytes]],
    ) -> list[Receipt | None]:
        """Receipts in the order requested: for entries this batch appended and for
        staged entries sequenced before; none for a swept entry that was dropped."""
        where = {**sequenced, **appended}
        placed = [where.get(_key(p)) for p in requested]
        indexes = [p[0] for p in placed if p is not None]
        proofs = journal.inclusion_proofs(indexes, head.size) if indexes else {}
        return [None if p is None else Receipt(p[0], p[1], head, proofs[p[0]]) for p in placed]


def _reads_past_allowance(
    db: Session, requested: list[PendingEntry], now: datetime, budgets: ReadBudgets | None
) -> dict[int, ReadBudgetSpent]:
    """The reads of the batch past their account's allowance or a budget of their
    account or network (by ``id``), counted under the log's lock: in the order they
    were queued, the first ones within every budget are journaled and shown, the
    others neither."""
    reads: dict[uuid.UUID, int] = defaultdict(int)
    charged: set[tuple[str, bytes]] = set()
    subjects: dict[int, list[tuple[ReadBudget, bytes]]] = {}
    for pending in requested:
        if pending.counted_reads:
            reads[pending.entry.actor] += pending.counted_reads
            actor = pending.entry.actor
            mine = (
                list(budgets.subjects(actor, pending.ip_address))
                if budgets and pending.budgeted
                else []
            )
            subjects[id(pending)] = mine
            charged.update((budget.name, subject) for budget, subject in mine)
    if not reads:
        return {}
    within_minute = count_reads(db, now, reads)
    within = budgets.remaining(db, now, charged) if budgets else {}
    spent: dict[int, ReadBudgetSpent] = {}
    refused: dict[str, int] = defaultdict(int)
    shown: dict[tuple[str, bytes], int] = defaultdict(int)
    for pending in requested:
        if not pending.counted_reads:
            continue
        actor, n = pending.entry.actor, pending.counted_reads
        # A request's reads are shown all or none: within, they use up every share.
        keys = [(b, (b.name, subject)) for b, subject in subjects[id(pending)]]
        lacking = [b for b, key in keys if within[key] < n]
        if within_minute[actor] < n:
            lacking.insert(0, JOURNAL_ALLOWANCE)
        if not lacking:
            within_minute[actor] -= n
            for _, key in keys:
                within[key] -= n
                shown[key] += n
            continue
        if within_minute[actor] < n:
            within_minute[actor] = 0
        for budget, key in keys:
            if budget in lacking:
                within[key] = 0
        # The one that frees last is told: retrying sooner would be refused again.
        longest = max(lacking, key=lambda b: b.retry_after(now))
        spent[id(pending)] = longest.refusal(now)
        refused[longest.name] += n
    if budgets:
        budgets.add(db, now, shown)
    count_throttled(db, refused)
    return spent


def _key(pending: PendingEntry) -> int | uuid.UUID:
    """What names an entry within a batch: its staged row, else the request itself."""
    return pending.outbox_id if pending.outbox_id is not None else id(pending)


def _claim(db: Session, outbox_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Remove staged entries from the outbox; returns those that were still there."""
    if not outbox_ids:
        return set()
    removed = db.scalars(
        delete(JournalOutbox).where(JournalOutbox.id.in_(outbox_ids)).returning(JournalOutbox.id)
    )
    return set(removed)


def _sequenced(db: Session, outbox_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, bytes]]:
    """Where staged entries sequenced earlier landed (index, entry); an id found in
    neither the outbox nor the journal was staged by a transaction that rolled back."""
    if not outbox_ids:
        return {}
    rows = db.execute(
        select(JournalRecord.outbox_id, JournalRecord.log_index, JournalRecord.entry).where(
            JournalRecord.outbox_id.in_(outbox_ids)
        )
    ).all()
    return {r.outbox_id: (r.log_index, bytes(r.entry)) for r in rows}


def _append_entries(
    db: Session,
    journal: MerkleLog,
    first: int,
    batch: list[PendingEntry],
    answers: list[PendingEntry],
    now: datetime,
) -> dict[int | uuid.UUID, tuple[int, bytes]]:
    """Append ``batch`` (entry ``first + i`` being ``batch[i]``) with its links and side
    rows; returns where each landed (index, entry), keyed by the request it answers."""
    links = _extend_chains(db, first, batch)
    encoded = [  # always the current version: chains hold every entry since
        replace(p.entry, chain=chain, version=ENTRY_VERSION).encode()
        for p, chain in zip(batch, links, strict=True)
    ]
    journal.append(encoded, [merkle.leaf_hash(data) for data in encoded])
    rows, patients, network = [], [], []
    for offset, (pending, data) in enumerate(zip(batch, encoded, strict=True)):
        index, entry = first + offset, pending.entry
        rows.append(
            {
                "log_index": index,
                "entry": data,
                "actor_id": None if entry.actor.int == 0 else entry.actor,
                "practice_id": next(iter(pending.practices()), None),
                "action": entry.action,
                "outcome": int(entry.outcome),
                "created_at": now,
                "outbox_id": pending.outbox_id,
            }
        )
        patients += [{"patient_id": p, "log_index": index} for p in pending.patients()]
        if pending.ip_address:
            network.append(
                {"log_index": index, "ip_address": pending.ip_address[:45], "created_at": now}
            )
    # Core multi-row inserts: every waiting request waits on this transaction.
    insert_rows(db, JournalRecord.__table__, rows)
    insert_rows(db, JournalPatient.__table__, patients)
    insert_rows(db, JournalNetworkRecord.__table__, network)
    return {_key(p): (first + i, d) for i, (p, d) in enumerate(zip(answers, encoded, strict=True))}


def _extend_chains(
    db: Session, first: int, batch: list[PendingEntry]
) -> list[tuple[ChainLink, ...]]:
    """Each entry's links, entry ``first + i`` being ``batch[i]``; advances the chain
    heads. Called under the log's lock, so chains grow in the journal's order."""
    subjects = {s for p in batch for _, s in p.subjects()}
    heads: dict[uuid.UUID, tuple[int, int]] = {}
    for start in range(0, len(subjects), 500):  # bounded IN lists
        part = list(subjects)[start : start + 500]
        rows = db.execute(
            select(JournalChain.subject_id, JournalChain.length, JournalChain.last_index).where(
                JournalChain.subject_id.in_(part)
            )
        ).all()
        heads.update({r.subject_id: (r.length, r.last_index) for r in rows})
    known = set(heads)
    links = []
    for offset, pending in enumerate(batch):
        chain = []
        for kind, subject in pending.subjects():
            length, last = heads.get(subject, (0, 0))
            chain.append(ChainLink(kind, subject, length, last))
            heads[subject] = (length + 1, first + offset)
        links.append(tuple(chain))
    moved = [{"subject": s, "to_length": heads[s][0], "to_index": heads[s][1]} for s in known]
    if moved:
        table = JournalChain.__table__
        db.connection().execute(
            update(table)
            .where(table.c.subject_id == bindparam("subject"))
            .values(length=bindparam("to_length"), last_index=bindparam("to_index")),
            moved,
        )
    insert_rows(
        db,
        JournalChain.__table__,
        [
            {"subject_id": s, "length": heads[s][0], "last_index": heads[s][1]}
            for s in subjects - known
        ],
    )
    return links


def _settle(settled: list[tuple[_Future, _Result]]) -> None:
    """Hand each waiting request its outcome: in the writer thread for threads, in the
    event loop's own thread for requests of that loop."""
    for future, outcome in settled:
        if future.cancelled():  # the request went away (client disconnected)
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
