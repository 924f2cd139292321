"""Appending to the journal from many requests at once: one writer thread per process
takes whatever entries are waiting, appends them to the Merkle log in one
transaction, signs one tree head for the batch, and answers each request with its
entry's position and inclusion proof. Under load batches grow; at rest a batch is
one entry, written at once. Several processes append safely: each batch locks the
log's row (storage/merkle_log.py)."""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from uhealthsec.crypto import merkle
from uhealthsec.crypto.journal import JournalEntry
from uhealthsec.server.audit.models import JournalNetworkRecord, JournalPatient, JournalRecord
from uhealthsec.server.storage.db import transaction
from uhealthsec.server.storage.merkle_log import JOURNAL_LOG, MerkleLog, SignedTreeHead

log = logging.getLogger(__name__)
MAX_BATCH = 1000


@dataclass(frozen=True)
class Receipt:
    """Where an entry landed: its index, the signed head of the batch, its proof."""

    index: int
    entry: bytes
    head: SignedTreeHead
    proof: list[bytes]


@dataclass
class PendingEntry:
    entry: JournalEntry
    patient_ids: tuple[uuid.UUID, ...] = ()
    practice_id: uuid.UUID | None = None
    ip_address: str | None = None
    future: Future[Receipt] = field(default_factory=Future)


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
        self._queue: queue.Queue[PendingEntry | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, pending: PendingEntry) -> Future[Receipt]:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="uhs-journal", daemon=True)
                self._thread.start()
        self._queue.put(pending)
        return pending.future

    def append(self, pending: PendingEntry, timeout: float = 30.0) -> Receipt:
        """Append and wait (for work outside a request: jobs, tests)."""
        return self.submit(pending).result(timeout=timeout)

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

    def _write(self, batch: list[PendingEntry]) -> None:
        try:
            receipts = self._append(batch)
        except Exception as exc:  # every waiting request learns of it
            log.exception("the journal could not be written")
            for pending in batch:
                pending.future.set_exception(exc)
            return
        for pending, receipt in zip(batch, receipts, strict=True):
            pending.future.set_result(receipt)

    def _append(self, batch: list[PendingEntry]) -> list[Receipt]:
        now = self._clock()
        # Everything that needs no lock is done before the transaction takes the log's.
        encoded = [p.entry.encode() for p in batch]
        hashed = [merkle.leaf_hash(data) for data in encoded]
        with transaction(self._sessions) as db:
            journal = MerkleLog(db, JOURNAL_LOG, self._signer, int(now.timestamp() * 1000))
            first = journal.append(encoded, hashed)
            rows, patients, network = [], [], []
            for offset, (pending, data) in enumerate(zip(batch, encoded, strict=True)):
                index, entry = first + offset, pending.entry
                rows.append(
                    {
                        "log_index": index,
                        "entry": data,
                        "actor_id": None if entry.actor.int == 0 else entry.actor,
                        "practice_id": pending.practice_id,
                        "action": entry.action,
                        "outcome": int(entry.outcome),
                        "created_at": now,
                    }
                )
                patients += [{"patient_id": p, "log_index": index} for p in pending.patient_ids]
                if pending.ip_address:
                    network.append(
                        {
                            "log_index": index,
                            "ip_address": pending.ip_address[:45],
                            "created_at": now,
                        }
                    )
            # Core executemany: the request threads are waiting on this transaction.
            db.execute(insert(JournalRecord), rows)
            if patients:
                db.execute(insert(JournalPatient), patients)
            if network:
                db.execute(insert(JournalNetworkRecord), network)
            head = journal.sign_head()
        indexes = list(range(first, first + len(batch)))
        proofs = journal.inclusion_proofs(indexes, head.head.size)
        return [Receipt(i, d, head, proofs[i]) for i, d in zip(indexes, encoded, strict=True)]
