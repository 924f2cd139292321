"""Tables of the journal. Entries are append-only: the database refuses to change or
delete them (triggers, see the migration), and the Merkle log over them lets anyone
detect what the database owner could still do by going around it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime


class JournalRecord(Base):
    """Leaf ``log_index`` of the journal log: the exact entry bytes, and copies of the
    fields the server searches by (who, in which practice)."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        # A practice's activity, newest first, a page at a time (migration 0032).
        Index("ix_journal_entries_practice", "practice_id", "log_index"),
    )

    log_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    practice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    #: The staged entry this one sequenced (journal_outbox), so that a request whose
    #: entry a sweeper sequenced first still finds its receipt.
    outbox_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, nullable=True, index=True, unique=True
    )


class JournalOutbox(Base):
    """An entry staged in the transaction of the change it records: the change and its
    entry commit together. The request sequences it into the journal once committed;
    one its process did not sequence (a crash, a lost database connection) is
    sequenced by ``uhs-server worker`` or the next start (audit/outbox.py). Rows live seconds."""

    __tablename__ = "journal_outbox"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    #: The entry as drafted (version 1 encoding, no chain: links are given when it is
    #: sequenced), with the status the route answers when it succeeds.
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    #: Comma-separated patient ids the request was about.
    patients: Mapped[str] = mapped_column(Text, default="")
    practice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    ip_address: Mapped[str | None] = mapped_column(String(45), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class JournalPatient(Base):
    """Which patients an entry concerns (a listing may concern several)."""

    __tablename__ = "journal_patients"

    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    log_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class JournalNetworkRecord(Base):
    """Technical data kept apart from the journal, and purged after the CNIL's
    retention for connection logs (R14): the address a request came from."""

    __tablename__ = "journal_network"

    log_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ip_address: Mapped[str] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class Cosignature(Base):
    """A witness's countersignature of one signed head of the journal."""

    __tablename__ = "journal_cosignatures"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    witness_key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    #: When the witness signed (seconds since 1970), part of what it signed (C2SP
    #: tlog-cosignature v1); null for a countersignature in the format before
    #: checkpoints, kept but no longer served.
    timestamp: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class JournalChain(Base):
    """The head of one subject's chain (a patient or a practice): how many chained
    entries are about it and the index of the newest. The writer reads and advances it
    under the log's lock; the entries themselves carry the links (docs/PROTOCOL.md, 13),
    so a row changed here forks the chain inside the journal, where clients see it."""

    __tablename__ = "journal_chains"

    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    length: Mapped[int] = mapped_column(BigInteger)
    last_index: Mapped[int] = mapped_column(BigInteger)


class JournalWitness(Base):
    """A witness the operator listed (``uhs-server witnesses add``): only these keys, posted
    by the account listed with them, may countersign the journal's heads; that
    account may read the entries, to check the subjects' chains."""

    __tablename__ = "journal_witnesses"

    witness_key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RefusalCount(Base):
    """The rolling technical log of refused requests (audit/refusals.py): how many, by
    whom (``address:<ip>`` or ``account:<id>``), per hour, action and status."""

    __tablename__ = "journal_refusals"

    started_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    who: Mapped[str] = mapped_column(String(64), primary_key=True)
    action: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class ReadCount(Base):
    """Reads of personal data an account made in each minute (audit/refusals.py), to
    bound how fast one account grows the journal."""

    __tablename__ = "journal_reads"

    started_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class ReadBudgetCount(Base):
    """Reads of personal data counted against the budgets past the journal's minute
    allowance (audit/read_budgets.py): per account and hour, per network and minute
    or hour. ``subject`` is the account's id, or an HMAC of the network under a server
    subkey: no address is stored. Rows of past windows are purged by cleanup."""

    __tablename__ = "read_budgets"

    budget: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
