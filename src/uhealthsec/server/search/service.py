"""Encrypted search indexes: store what the owner's client wrote, answer its lookups.

The server holds an opaque label -> value map per index (Mitra, crypto/search.py), the
client's sealed counters, and sealed keyword lists of documents; it checks sizes, that
only the index's owner touches it, and the state's version (compare-and-swap), and
nothing else: it cannot tell a keyword, an addition from a deletion, nor whether two
updates are about the same keyword.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from uhealthsec.protocol.search import MAX_INDEX_ENTRIES, MAX_INDEXES_PER_ACCOUNT
from uhealthsec.protocol.search import MAX_REQUESTS_PER_MINUTE as RATE
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import (
    Conflict,
    ContentTooLarge,
    InvalidInput,
    NotFound,
    TooManyRequests,
)
from uhealthsec.server.search.models import SearchDocument, SearchEntry, SearchIndex

#: Rows read or written per statement (well under SQLite's bound parameters).
_CHUNK = 5_000
_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class Update:
    previous_version: int
    state: bytes
    entries: Sequence[tuple[bytes, bytes]]
    put_documents: Sequence[tuple[bytes, bytes]]
    remove_documents: Sequence[bytes]


class SearchService:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    def create(self, caller: Account, index_id: uuid.UUID) -> SearchIndex:
        if self.db.get(SearchIndex, index_id) is not None:
            raise Conflict("an index with this id exists: draw another id")
        owned = self.db.scalar(
            select(func.count()).select_from(SearchIndex).where(SearchIndex.owner_id == caller.id)
        )
        if (owned or 0) >= MAX_INDEXES_PER_ACCOUNT:
            raise Conflict(f"an account owns at most {MAX_INDEXES_PER_ACCOUNT} search indexes")
        index = SearchIndex(
            id=index_id,
            owner_id=caller.id,
            created_at=self.ctx.now(),
            state=None,
            state_version=0,
            entries=0,
            window_requests=0,
        )
        self.db.add(index)
        self.db.flush()
        return index

    def mine(self, caller: Account) -> list[SearchIndex]:
        return list(
            self.db.scalars(
                select(SearchIndex)
                .where(SearchIndex.owner_id == caller.id)
                .order_by(SearchIndex.created_at, SearchIndex.id)
            )
        )

    def owned(self, caller: Account, index_id: uuid.UUID, *, counted: bool = True) -> SearchIndex:
        """The caller's index, its request counted against the rate limit. Another
        account's index is answered as missing: its existence is not theirs to learn."""
        index = self.db.get(SearchIndex, index_id, with_for_update=True)
        if index is None or index.owner_id != caller.id:
            raise NotFound("no search index of yours has this id")
        if counted:
            self._count_request(index)
        return index

    def _count_request(self, index: SearchIndex) -> None:
        now = self.ctx.now()
        started = index.window_started_at
        if started is None or now - started >= _WINDOW or now < started:
            index.window_started_at, index.window_requests = now, 0
        if index.window_requests >= RATE:
            retry = max(1, int((started + _WINDOW - now).total_seconds()) + 1) if started else 60
            raise TooManyRequests(
                f"at most {RATE} requests a minute on one search index: try again shortly",
                retry,
            )
        index.window_requests += 1

    def update(self, caller: Account, index_id: uuid.UUID, change: Update) -> SearchIndex:
        """Store an update's entries and the client's new state, all or nothing."""
        index = self.owned(caller, index_id)
        if change.previous_version != index.state_version:
            raise Conflict(
                "the search index changed on another device since your copy of its state: "
                "read its state again and redo the update",
                extra={"state_version": index.state_version},
            )
        labels = [label for label, _ in change.entries]
        if len(set(labels)) != len(labels):
            raise InvalidInput("a label appears twice in the update")
        if index.entries + len(labels) > MAX_INDEX_ENTRIES:
            raise ContentTooLarge(f"a search index holds at most {MAX_INDEX_ENTRIES} entries")
        if self._existing(SearchEntry, index.id, labels):
            # Mitra's labels never repeat: a repeated one is a client's bug or replay.
            raise Conflict("a label of the update is already in the index")
        put = [label for label, _ in change.put_documents]
        removed = list(change.remove_documents)
        if len(set(put)) != len(put) or len(set(removed)) != len(removed):
            raise InvalidInput("a document appears twice in the update")
        for start in range(0, len(removed), _CHUNK):
            self.db.execute(
                delete(SearchDocument).where(
                    SearchDocument.index_id == index.id,
                    SearchDocument.label.in_(removed[start : start + _CHUNK]),
                )
            )
        if put:
            self.db.execute(
                delete(SearchDocument).where(
                    SearchDocument.index_id == index.id, SearchDocument.label.in_(put)
                )
            )
            self.db.execute(
                insert(SearchDocument),
                [
                    {"index_id": index.id, "label": label, "keywords": sealed}
                    for label, sealed in change.put_documents
                ],
            )
        for start in range(0, len(change.entries), _CHUNK):
            self.db.execute(
                insert(SearchEntry),
                [
                    {"index_id": index.id, "label": label, "value": value}
                    for label, value in change.entries[start : start + _CHUNK]
                ],
            )
        # Compare-and-swap once more in the statement: two updates that read the same
        # version cannot both land, whatever the isolation level.
        done = self.db.execute(
            update(SearchIndex)
            .where(SearchIndex.id == index.id, SearchIndex.state_version == change.previous_version)
            .values(
                state=change.state,
                state_version=SearchIndex.state_version + 1,
                entries=SearchIndex.entries + len(labels),
            )
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("the search index changed on another device: redo the update")
        self.db.refresh(index)
        return index

    def lookup(
        self, caller: Account, index_id: uuid.UUID, labels: Sequence[bytes]
    ) -> list[bytes | None]:
        index = self.owned(caller, index_id)
        return values_under(self.db, index.id, labels)

    def documents(
        self, caller: Account, index_id: uuid.UUID, labels: Sequence[bytes]
    ) -> list[bytes | None]:
        index = self.owned(caller, index_id)
        return keyword_lists_under(self.db, index.id, labels)

    def _existing(self, table: type[SearchEntry], index_id: uuid.UUID, labels: list[bytes]) -> bool:
        for start in range(0, len(labels), _CHUNK):
            hit = self.db.scalar(
                select(table.label)
                .where(table.index_id == index_id, table.label.in_(labels[start : start + _CHUNK]))
                .limit(1)
            )
            if hit is not None:
                return True
        return False


def keyword_lists_under(
    db: Session, index_id: uuid.UUID, labels: Sequence[bytes]
) -> list[bytes | None]:
    """The sealed keyword lists an index holds under ``labels``, in their order (None
    where none): at most MAX_DOCUMENTS_PER_REQUEST, one statement."""
    rows = db.execute(
        select(SearchDocument.label, SearchDocument.keywords).where(
            SearchDocument.index_id == index_id, SearchDocument.label.in_(list(labels))
        )
    )
    found = {bytes(label): bytes(sealed) for label, sealed in rows}
    return [found.get(label) for label in labels]


def values_under(db: Session, index_id: uuid.UUID, labels: Sequence[bytes]) -> list[bytes | None]:
    """The values an index holds under ``labels``, in their order (None where none).

    The search's hot path, tens of thousands of labels at a time: one statement per
    chunk, written for the driver (PostgreSQL: one array parameter, ``= ANY``), so
    that no per-label bind parameter is rendered or processed."""
    found: dict[bytes, bytes] = {}
    unique = list(dict.fromkeys(labels))
    connection = db.connection()
    postgres = connection.dialect.name == "postgresql"
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        if postgres:
            rows = connection.exec_driver_sql(
                "SELECT label, value FROM search_entries WHERE index_id = %s AND label = ANY(%s)",
                (index_id, chunk),
            )
        else:
            # SQLAlchemy stores a UUID on SQLite as 32 hexadecimal digits.
            # Placeholders only: the labels are parameters.
            query = "SELECT label, value FROM search_entries WHERE index_id = ? AND label IN ("
            rows = connection.exec_driver_sql(
                query + ",".join("?" * len(chunk)) + ")", (index_id.hex, *chunk)
            )
        found.update((bytes(label), bytes(value)) for label, value in rows)
    return [found.get(label) for label in labels]
