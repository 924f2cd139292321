"""Reading the journal: heads, leaves and proofs for verifiers; a patient's access
history; a practice's activity for its admins."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from uhealthsec.crypto import merkle, signing
from uhealthsec.crypto.checkpoint import (
    COSIGNATURE_ED25519,
    MAX_SIGNATURES,
    cosignature_line,
    verifier_key,
)
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.journal import JournalEntry, ObjectKind
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.protocol.journal import MAX_ENTRIES, MAX_LEAVES
from uhealthsec.server.accounts.models import Account, AccountKind
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.audit.models import (
    Cosignature,
    JournalNetworkRecord,
    JournalPatient,
    JournalRecord,
    JournalWitness,
    ReadBudgetCount,
    ReadCount,
    RefusalCount,
)
from uhealthsec.server.audit.refusals import READ_WINDOW, REFUSAL_LOG_DAYS
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import Forbidden, InvalidInput, NotFound
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.storage.merkle_log import JOURNAL_LOG, MerkleLog, SignedCheckpoint

logger = logging.getLogger(__name__)

#: A witness's clock may run this far ahead of (or behind) the server's.
COSIGNATURE_CLOCK_SKEW_SECONDS = 600
#: CNIL deliberation 2021-122: connection logs are kept six months to a year.
NETWORK_RETENTION_DAYS = 183


@dataclass(frozen=True)
class HistoryItem:
    index: int
    #: The entry's exact bytes, as hashed into the journal.
    data: bytes
    entry: JournalEntry
    actor: Account | None
    #: Its inclusion proof in the tree the listing was asked against, if one was.
    proof: list[bytes] | None = None


@dataclass(frozen=True)
class Touched:
    patients: frozenset[uuid.UUID]
    documents: frozenset[uuid.UUID]


class JournalService:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx
        self.log = MerkleLog(db, JOURNAL_LOG, ctx.log_key, int(ctx.now().timestamp() * 1000))

    def head(
        self, since: int | None, size: int | None = None
    ) -> tuple[SignedCheckpoint, list[bytes]]:
        """The latest signed head, or the one of ``size`` entries (a client checking that
        a receipt's head extends what it pinned); with ``since``, the consistency proof
        from the head of that size."""
        if size is None:
            return self.log.proven_head(since)
        signed = self.log.head_at(size)
        if since is None or since == size:
            return signed, []
        if since > size:
            raise InvalidInput(f"a head of {size} entries cannot extend one of {since}")
        return signed, self.log.consistency_proof(since, size)

    def heads(
        self, from_size: int, limit: int, checkpoints_only: bool = False
    ) -> list[SignedCheckpoint]:
        return self.log.heads(from_size, limit, checkpoints_only)

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes of entries [start, end), computed from the stored entries: a
        changed byte in the database changes what verifiers receive."""
        if not 0 <= start < end or end - start > MAX_LEAVES:
            raise InvalidInput(f"ask for 1 to {MAX_LEAVES} leaves from a valid start")
        rows = self.db.execute(
            select(JournalRecord.log_index, JournalRecord.entry)
            .where(JournalRecord.log_index >= start, JournalRecord.log_index < end)
            .order_by(JournalRecord.log_index)
        ).all()
        return [merkle.leaf_hash(entry) for _, entry in rows]

    def entry(
        self, caller: Account, index: int, tree_size: int
    ) -> tuple[JournalRecord, list[bytes]]:
        """One entry with its proof, for someone it concerns: its actor, the patient it
        is about, or an admin of the practice it is about who may act on health data."""
        record = self.db.get(JournalRecord, index)
        if record is None or not self._may_see(caller, record):
            raise NotFound("no such journal entry, or it does not concern you")
        if index >= tree_size:
            raise InvalidInput("the entry is not in a tree of that size")
        return record, self.log.inclusion_proof(index, tree_size)

    def _may_see(self, caller: Account, record: JournalRecord) -> bool:
        if caller.id == record.actor_id or self.db.get(
            JournalPatient, (caller.id, record.log_index)
        ):
            return True
        if record.practice_id is None:
            return False
        return AccountService(self.db, self.ctx).allows(caller, record.practice_id, "journal.read")

    def history(
        self, caller: Account, limit: int, before: int | None, tree_size: int | None = None
    ) -> list[HistoryItem]:
        """What was done about a patient's data, by whom, newest first. Reading it is
        journaled as about the patient: that entry's link, in the response's receipt,
        is where the patient's client starts walking the chain (docs/PROTOCOL.md, 13)."""
        if caller.kind != AccountKind.PATIENT:
            raise NotFound("the access history is a patient's own")
        current_draft().about_patient(caller.id, None)
        # The page's entries read from journal_patients' key, newest first: only the
        # page, not every entry about the patient.
        about_caller = select(JournalPatient.log_index).where(
            JournalPatient.patient_id == caller.id
        )
        before = _before(before, tree_size)
        if before is not None:
            about_caller = about_caller.where(JournalPatient.log_index < before)
        page = about_caller.order_by(JournalPatient.log_index.desc()).limit(limit)
        return self._items(JournalRecord.log_index.in_(page), limit, before, tree_size)

    def practice_activity(
        self,
        caller: Account,
        practice_id: uuid.UUID,
        limit: int,
        before: int | None,
        tree_size: int | None = None,
    ) -> list[HistoryItem]:
        """What was done in the practice, newest first (admins who may act on health
        data: the entries name its patients)."""
        AccountService(self.db, self.ctx).require(caller, practice_id, "journal.read")
        current_draft().about_practice(practice_id)
        return self._items(JournalRecord.practice_id == practice_id, limit, before, tree_size)

    def touched(
        self,
        practice_id: uuid.UUID,
        since: datetime,
        until: datetime,
        actors: list[uuid.UUID] | None = None,
    ) -> Touched:
        """The patients and documents that the practice's journaled actions in
        [since, until) touched (done or not), by ``actors`` only if given: what a breach
        through those accounts, or through the practice, may have reached. The caller
        checked that the journal is theirs to read."""
        condition = (
            (JournalRecord.practice_id == practice_id)
            & (JournalRecord.created_at >= since)
            & (JournalRecord.created_at < until)
        )
        if actors is not None:
            condition = condition & JournalRecord.actor_id.in_(actors)
        indexes = select(JournalRecord.log_index).where(condition)
        patients = set(
            self.db.scalars(
                select(JournalPatient.patient_id)
                .where(JournalPatient.log_index.in_(indexes))
                .distinct()
            )
        )
        documents: set[uuid.UUID] = set()
        for data in self.db.scalars(
            select(JournalRecord.entry).where(condition).execution_options(yield_per=1000)
        ):
            entry = JournalEntry.decode(data, check_links=False)
            documents.update(oid for kind, oid in entry.objects if kind == ObjectKind.DOCUMENT)
        return Touched(frozenset(patients), frozenset(documents))

    def _items(
        self,
        condition: ColumnElement[bool],
        limit: int,
        before: int | None,
        tree_size: int | None,
    ) -> list[HistoryItem]:
        query = (
            select(JournalRecord, Account)
            .outerjoin(Account, Account.id == JournalRecord.actor_id)
            .where(condition)
        )
        before = _before(before, tree_size)
        if before is not None:
            query = query.where(JournalRecord.log_index < before)
        rows = self.db.execute(query.order_by(JournalRecord.log_index.desc()).limit(limit)).all()
        proofs: dict[int, list[bytes]] = {}
        if tree_size is not None:
            self.log.head_at(tree_size)  # a signed head the client can check them against
            proofs = self.log.inclusion_proofs([r.log_index for r, _ in rows], tree_size)
        return [
            HistoryItem(
                r.log_index,
                r.entry,
                JournalEntry.decode(r.entry, check_links=False),
                a,
                proofs.get(r.log_index),
            )
            for r, a in rows
        ]

    def add_cosignature(
        self, caller: Account, size: int, witness_key: bytes, timestamp: int, signature: bytes
    ) -> tuple[Cosignature, str]:
        """Keep a witness's cosignature (C2SP tlog-cosignature v1, made at ``timestamp``)
        of the checkpoint of ``size`` entries; it must come from a witness the operator
        listed, posted by its account, over the checkpoint this server signed for that
        size. Anyone else's would let one account pass for many witnesses. Returns the
        cosignature kept and the witness's name."""
        witness = self.db.get(JournalWitness, witness_key)
        if witness is None or witness.account_id != caller.id:
            raise Forbidden(
                f"the key {b64u_encode(witness_key)} is not one of this journal's witnesses "
                "for your account: the operator lists witnesses (uhs-server witnesses add)"
            )
        if timestamp > self.ctx.now().timestamp() + COSIGNATURE_CLOCK_SKEW_SECONDS:
            raise InvalidInput("the cosignature is dated in the future: check the witness's clock")
        head = self.log.head_at(size)
        try:
            head.checkpoint.verify_cosignature(witness_key, timestamp, signature)
        except CryptoError as exc:
            raise InvalidInput(
                f"the cosignature is not over this journal's checkpoint of size {size} at that time"
            ) from exc
        if timestamp < head.signed_at_ms // 1000 - COSIGNATURE_CLOCK_SKEW_SECONDS:
            raise InvalidInput(
                "the cosignature is dated before this checkpoint was signed: check the "
                "witness's clock"
            )
        existing = self.db.get(Cosignature, (size, witness_key))
        if existing is not None and existing.timestamp is not None:
            if existing.timestamp >= timestamp:
                return existing, witness.name
            # A later statement of the same witness: that it still saw nothing larger.
            existing.timestamp, existing.signature = timestamp, signature
            existing.received_at = self.ctx.now()
            self.db.flush()
            return existing, witness.name
        if existing is not None:  # one in the format before checkpoints: superseded
            self.db.delete(existing)
            self.db.flush()
        cosignature = Cosignature(
            size=size,
            witness_key=witness_key,
            timestamp=timestamp,
            signature=signature,
            received_at=self.ctx.now(),
        )
        self.db.add(cosignature)
        self.db.flush()
        return cosignature, witness.name

    # -- witnesses (the operator's list) ---------------------------------------------------

    def list_witness(self, witness_key: bytes, name: str, email: str) -> JournalWitness:
        """List the witness ``name`` of key ``witness_key``, acting through the account
        of ``email``."""
        name = name.strip()
        try:  # its name is the key name of its cosignature lines
            verifier_key(name, witness_key, COSIGNATURE_ED25519)
        except CryptoError as exc:
            raise InvalidInput(
                "a witness is an Ed25519 public key (32 bytes) and a name of 1 to 200 "
                "printable ASCII characters without spaces or '+' (such as "
                "witness.example.org/w1)"
            ) from exc
        try:  # a small-order key would "countersign" without any private key
            signing.public_key(witness_key)
        except CryptoError as exc:
            raise InvalidInput(f"a witness is an Ed25519 public key: {exc}") from exc
        account = self.db.scalar(select(Account).where(Account.email == email.strip().lower()))
        if account is None:
            raise NotFound("no account uses this address: the witness registers first")
        witness = self.db.get(JournalWitness, witness_key)
        if witness is None:
            witness = JournalWitness(witness_key=witness_key, added_at=self.ctx.now())
            self.db.add(witness)
        witness.name, witness.account_id = name, account.id
        self.db.flush()
        return witness

    def entries(self, caller: Account, start: int, end: int) -> list[bytes]:
        """Entries [start, end), exactly as hashed, for a listed witness: it checks
        every subject's chain (docs/PROTOCOL.md, 13.2), which the leaf hashes alone
        do not show. Nobody else reads the journal in bulk."""
        witness = self.db.scalar(
            select(JournalWitness.witness_key).where(JournalWitness.account_id == caller.id)
        )
        if witness is None:
            raise Forbidden("only the journal's witnesses read its entries in bulk")
        if not 0 <= start < end or end - start > MAX_ENTRIES:
            raise InvalidInput(f"ask for 1 to {MAX_ENTRIES} entries from a valid start")
        return list(
            self.db.scalars(
                select(JournalRecord.entry)
                .where(JournalRecord.log_index >= start, JournalRecord.log_index < end)
                .order_by(JournalRecord.log_index)
            )
        )

    def unlist_witness(self, witness_key: bytes) -> None:
        """No more countersignatures from this key (those it made stay)."""
        witness = self.db.get(JournalWitness, witness_key)
        if witness is None:
            raise NotFound("no witness has this key")
        self.db.delete(witness)
        self.db.flush()

    def witnesses(self) -> list[JournalWitness]:
        return list(self.db.scalars(select(JournalWitness).order_by(JournalWitness.added_at)))

    def cosignatures(self, size: int) -> list[tuple[Cosignature, str | None]]:
        """The witnesses' cosignatures of the checkpoint of ``size`` entries, each with
        the witness's current name (None once the operator unlisted it)."""
        rows = self.db.execute(
            select(Cosignature, JournalWitness.name)
            .join(
                JournalWitness,
                JournalWitness.witness_key == Cosignature.witness_key,
                isouter=True,
            )
            .where(Cosignature.size == size, Cosignature.timestamp.is_not(None))
            .order_by(Cosignature.received_at)
        ).all()
        return [(c, name) for c, name in rows]

    def cosigned_checkpoint(self, size: int) -> str:
        """The signed checkpoint of ``size`` entries with a cosignature line for each
        listed witness that cosigned it (C2SP tlog-cosignature)."""
        note = self.log.head_at(size).note
        lines = []
        for c, name in self.cosignatures(size):
            if name is None or c.timestamp is None:
                continue
            try:
                lines.append(
                    cosignature_line(name, bytes(c.witness_key), c.timestamp, bytes(c.signature))
                )
            except CryptoError:  # a name listed before names became key names
                logger.warning("witness %r has no valid key name: its line is left out", name)
        # The log's own line and the newest cosignatures: a note readers accept.
        return note + "".join(lines[-(MAX_SIGNATURES - 1) :])

    def purge_network_data(self, now: datetime) -> int:
        """Drop connection data older than the CNIL retention, the technical log's
        counts of refusals older than its own, and past minutes' counts of reads (the
        journal stays)."""
        removed = 0
        for statement in (
            delete(JournalNetworkRecord).where(
                JournalNetworkRecord.created_at < now - timedelta(days=NETWORK_RETENTION_DAYS)
            ),
            delete(RefusalCount).where(
                RefusalCount.started_at < now - timedelta(days=REFUSAL_LOG_DAYS)
            ),
            delete(ReadCount).where(ReadCount.started_at < now - READ_WINDOW),
            # Every budget's window is an hour at most (audit/read_budgets.py).
            delete(ReadBudgetCount).where(ReadBudgetCount.started_at < now - timedelta(hours=1)),
        ):
            removed += int(self.db.execute(statement).rowcount or 0)  # type: ignore[attr-defined]
        return removed


def _before(before: int | None, tree_size: int | None) -> int | None:
    """Where a page of the journal ends: before ``before``, and as of a tree of
    ``tree_size`` entries when asked for (each entry then comes with its proof)."""
    if tree_size is None:
        return before
    return tree_size if before is None else min(before, tree_size)
