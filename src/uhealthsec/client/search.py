"""Search over the user's documents without the server reading them: the personal
index (crypto/search.py, Mitra), kept by this SDK at send and at reading time.

The client derives every label, holds the counters (sealed on the server so that the
user's other devices share them), and opens the values; the server stores and answers
opaque bytes (docs/PROTOCOL.md, section 18).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx2

from uhealthsec.client.errors import ApiError, ExchangeRefused
from uhealthsec.client.exchange.models import DocumentSummary
from uhealthsec.client.exchange.receiving import DocumentReceiving
from uhealthsec.client.exchange.session import ExchangeSession
from uhealthsec.client.wire import body, parse
from uhealthsec.crypto import search
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.protocol import search as wire
from uhealthsec.protocol.search_text import document_keywords, fhir_resource_text, query_terms

Call = Callable[..., httpx2.Response]
#: Bytes of a plain-text document read for indexing (the rest is not indexed).
MAX_INDEXED_TEXT_BYTES = 2 * 1024 * 1024
#: Media types whose bytes are indexed as text.
TEXT_MEDIA_TYPES = ("text/plain", "text/markdown", "text/csv")
#: PDF: the text of its pages is indexed (pypdf), from the first ones.
PDF_MEDIA_TYPE = "application/pdf"
#: JSON holding a FHIR resource (one with a ``resourceType``): its text is indexed.
FHIR_MEDIA_TYPES = ("application/fhir+json", "application/json")


@dataclass(frozen=True)
class DocumentFacts:
    """What a document is indexed under: all of it read on this device."""

    document_id: uuid.UUID
    title: str = ""
    filename: str = ""
    media_type: str = ""
    patient: str = ""
    author: str = ""
    day: date | None = None
    text: str = ""

    def keywords(self) -> set[str]:
        """At most MAX_DOCUMENT_KEYWORDS: every keyword of the title, file name, type,
        names and date, then those of the text in the order of their UTF-8 bytes."""
        described = document_keywords(
            texts=[self.title, self.filename, self.media_type],
            names=[n for n in (self.patient, self.author) if n],
            dates=[self.day] if self.day else [],
        )
        room = wire.MAX_DOCUMENT_KEYWORDS - len(described)
        text = sorted(document_keywords(texts=[self.text]) - described, key=str.encode)
        return described | set(text[: max(room, 0)])


class SearchIndex:
    """One index of the caller's (today their personal one), over ``call``, an
    authenticated request to the API."""

    def __init__(self, call: Call, index_id: uuid.UUID, index_key: bytes) -> None:
        self._call = call
        self.id = index_id
        self._keys = search.IndexKeys.derive(index_key)
        #: The highest state version this object has read or written: a server that
        #: later serves an older one (whose counters would be used again, linking new
        #: entries to old searches) is refused.
        self.seen_version = 0

    @classmethod
    def personal(cls, call: Call, x25519_private: bytes) -> SearchIndex:
        index_id, key = search.personal_index(x25519_private)
        return cls(call, index_id, key)

    # -- state --------------------------------------------------------------------------

    def _created(self, refusal: ApiError) -> None:
        """Make the index, refused as missing (404) on the first use of the account."""
        if refusal.status != 404:
            raise refusal
        if self.seen_version > 0:
            # Starting again from no counters would reuse every label.
            raise ExchangeRefused("the server no longer finds a search index it served before")
        self._call("POST", "/search/indexes", json=body(wire.IndexIn(id=self.id)))

    def _state(self) -> tuple[int, search.Counters]:
        try:
            answer = self._call("GET", f"/search/indexes/{self.id}/state")
        except ApiError as exc:
            self._created(exc)
            return 0, search.Counters()
        state = parse(wire.StateOut, answer, ExchangeRefused, "the search state")
        if state.version < self.seen_version:
            raise ExchangeRefused(
                "the server serves an older state of your search index than it did before"
            )
        if state.state is None:
            if state.version != 0:
                raise ExchangeRefused("the server withholds the search index's state")
            return 0, search.Counters()
        counters = search.open_state(self._keys, self.id, state.version, state.state)
        self.seen_version = state.version
        return state.version, counters

    def _update(
        self,
        build: Callable[[search.Counters], list[tuple[bytes, bytes]]],
        put: Sequence[wire.DocumentKeywordsIO] = (),
        remove: Sequence[bytes] = (),
    ) -> None:
        """Entries made from the current counters, stored with the new state: redone
        from a fresh state when another device updated the index meanwhile."""
        for attempt in range(3):
            version, counters = self._state()
            entries = build(counters)
            request = wire.UpdateIn(
                index_id=self.id,
                previous_version=version,
                state=search.seal_state(self._keys, self.id, version + 1, counters),
                entries=[wire.EntryIO(label=lb, value=v) for lb, v in entries],
                put_documents=list(put),
                remove_documents=list(remove),
            )
            try:
                self._call("POST", wire.UPDATES_PATH, json=body(request))
                self.seen_version = version + 1
                return
            except ApiError as exc:
                if exc.status != 409 or attempt == 2:
                    raise

    # -- documents ----------------------------------------------------------------------

    def _keyword_lists(self, document_ids: Sequence[uuid.UUID]) -> list[list[str] | None]:
        """The opened keyword list of each document, in order (None where the index
        holds none), read in as few requests as the wire allows. A list that does not
        open under its document's id (another document's, or altered) is refused."""
        lists: list[list[str] | None] = []
        for start in range(0, len(document_ids), wire.MAX_DOCUMENTS_PER_REQUEST):
            asked = document_ids[start : start + wire.MAX_DOCUMENTS_PER_REQUEST]
            labels = [search.document_label(self._keys, d) for d in asked]
            request = wire.DocumentsIn(index_id=self.id, labels=labels)
            try:
                answered = self._call("POST", "/search/documents", json=body(request))
            except ApiError as exc:
                self._created(exc)
                return [None] * len(document_ids)
            answer = parse(wire.DocumentsOut, answered, ExchangeRefused, "documents' keyword lists")
            if len(answer.keywords) != len(asked):
                raise ExchangeRefused("the server answered another number of keyword lists")
            for document_id, sealed in zip(asked, answer.keywords, strict=True):
                lists.append(None if sealed is None else self._opened(document_id, sealed))
        return lists

    def _opened(self, document_id: uuid.UUID, sealed: bytes) -> list[str]:
        try:
            return search.open_keywords(self._keys, document_id, sealed)
        except search.SearchStateRefused:
            raise ExchangeRefused(
                "the server serves a keyword list that does not open under its document:"
                " another document's, or altered"
            ) from None

    def indexed(self, document_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of ``document_ids`` the index holds."""
        lists = self._keyword_lists(document_ids)
        return {d for d, kept in zip(document_ids, lists, strict=True) if kept is not None}

    def _indexed_keywords(self, document_id: uuid.UUID) -> list[str] | None:
        return self._keyword_lists([document_id])[0]

    def add(self, facts: DocumentFacts) -> int:
        """Index a document under its keywords (once: a document indexed already, at
        send or on another device, is not indexed again). The number of keywords."""
        if self._indexed_keywords(facts.document_id) is not None:
            return 0
        keywords = sorted(facts.keywords())
        if not keywords:
            return 0
        sealed = search.seal_keywords(self._keys, facts.document_id, keywords)
        label = search.document_label(self._keys, facts.document_id)
        # One update: the entries and the keyword list that lets them be deleted later
        # are stored together or not at all.
        self._update(
            lambda counters: [
                counters.update(self._keys, search.Op.ADD, w, facts.document_id) for w in keywords
            ],
            put=[wire.DocumentKeywordsIO(label=label, keywords=sealed)],
        )
        return len(keywords)

    def remove(self, document_id: uuid.UUID) -> int:
        """Unindex a document (deleted, erased, or no longer readable): a deletion entry
        per keyword it was indexed under (Mitra deletes by adding). The number."""
        keywords = self._indexed_keywords(document_id)
        if keywords is None:
            return 0
        label = search.document_label(self._keys, document_id)
        self._update(
            lambda counters: [
                counters.update(self._keys, search.Op.DELETE, w, document_id) for w in keywords
            ],
            remove=[label],
        )
        return len(keywords)

    # -- search -------------------------------------------------------------------------

    def _lookup(self, labels: list[bytes]) -> list[bytes | None]:
        values: list[bytes | None] = []
        for start in range(0, len(labels), wire.MAX_LOOKUP_LABELS):
            asked = labels[start : start + wire.MAX_LOOKUP_LABELS]
            request = wire.LookupIn(index_id=self.id, labels=asked)
            answer = parse(
                wire.LookupOut,
                self._call("POST", wire.LOOKUP_PATH, json=body(request)),
                ExchangeRefused,
                "search results",
            )
            if len(answer.values) != len(asked):
                raise ExchangeRefused("the server answered another number of search values")
            values.extend(answer.values)
        return values

    def search(self, query: str) -> set[uuid.UUID]:
        """The documents matching every word of ``query`` (docs/PROTOCOL.md 18.2)."""
        terms = query_terms(query)
        if not terms:
            return set()
        _, counters = self._state()
        keywords = sorted({w for term in terms for w in term})
        labels = {w: counters.search_labels(self._keys, w) for w in keywords}
        flat = [lb for w in keywords for lb in labels[w]]
        values = iter(self._lookup(flat))
        found = {
            w: search.resolve(self._keys, w, [next(values) for _ in labels[w]]) for w in keywords
        }
        result: set[uuid.UUID] | None = None
        for term in terms:
            matching = set().union(*(found[w] for w in term))
            result = matching if result is None else result & matching
        # The values are not authenticated (a server can XOR one into another document's
        # id): each result is kept only if its own sealed keyword list, bound to its id,
        # holds every term. A list gone (None) is a document removed from the index.
        candidates = sorted(result or set())
        lists = self._keyword_lists(candidates)
        return {
            document_id
            for document_id, keywords in zip(candidates, lists, strict=True)
            if keywords is not None and search.terms_held(terms, keywords) is not None
        }


@dataclass(frozen=True)
class SearchFilter:
    """What a search's results are narrowed to beside its words: a patient (their
    account, proven in the key directory from an address: ``search_filter``), an
    author's address, and the first day of the latest version."""

    patient_id: uuid.UUID | None = None
    author_email: str | None = None
    since: date | None = None

    def admits(self, document: DocumentSummary) -> bool:
        author = self.author_email
        return (
            (self.patient_id is None or document.patient_id == self.patient_id)
            and (author is None or document.author_email.lower() == author.strip().lower())
            and (self.since is None or document.created_at.astimezone().date() >= self.since)
        )


def search_filter(
    session: ExchangeSession,
    *,
    patient: str | None = None,
    author: str | None = None,
    since: date | None = None,
) -> SearchFilter:
    """A filter from addresses; the patient's is looked up in the key directory and
    proven there, so that the account it stands for is the directory's.

    :raises ExchangeRefused: the patient's address is not in the directory, or its
        proof fails.
    """
    return SearchFilter(
        patient_id=session.directory.lookup(patient).account_id if patient else None,
        author_email=author,
        since=since,
    )


def find_documents(
    client: DocumentReceiving, query: str, only: SearchFilter | None = None
) -> list[DocumentSummary]:
    """The documents matching every word of ``query`` and ``only``, newest first, their
    titles decrypted here: each one's view read from the server (a document no longer
    readable, revoked, erased or purged, is removed from the index on the way).

    :raises CryptoError: the server's answer to the search did not verify.
    """
    index = personal_index(client)
    found = []
    for document_id in sorted(index.search(query)):
        try:
            view = client.document(document_id)
        except ApiError as exc:
            if exc.status not in (403, 404, 410):
                raise
            index.remove(document_id)
            continue
        if only is None or only.admits(view):
            found.append(view)
    found.sort(key=lambda v: v.created_at, reverse=True)
    return found


def text_of(path: Any, media_type: str) -> str:
    """The text of a received or sent file to index, for its media type: plain text,
    a PDF's text (pypdf, client/pdf_text.py), a FHIR resource's
    (``fhir_resource_text``). Nothing from a file that
    cannot be read as its type: it is sent or saved all the same, found by its other
    facts (title, file name, names, date)."""
    if media_type in TEXT_MEDIA_TYPES:
        with open(path, "rb") as source:
            return source.read(MAX_INDEXED_TEXT_BYTES).decode("utf-8", errors="replace")
    if media_type == PDF_MEDIA_TYPE:
        from uhealthsec.client.pdf_text import pdf_text  # a child process, under limits

        return pdf_text(path)
    if media_type in FHIR_MEDIA_TYPES:
        with open(path, "rb") as source:
            raw = source.read(MAX_INDEXED_TEXT_BYTES + 1)
        if len(raw) <= MAX_INDEXED_TEXT_BYTES:
            return fhir_resource_text(raw)
    return ""


@dataclass(frozen=True)
class Indexing:
    """What ``index_received`` did."""

    #: Documents added to the index now.
    added: int
    #: Readable documents the index held already.
    held: int
    #: Documents that could not be read or indexed (each one's reason, in order).
    failures: tuple[str, ...]
    #: Why it stopped before the end (the server's read allowance), or None.
    stopped: str | None = None


def index_received(
    client: DocumentReceiving,
    spool: Path,
    progress: Callable[[int, int], None] | None = None,
) -> Indexing:
    """Add to the personal index every document the user can read and the index does
    not hold yet (received and never opened on a device of theirs): its title, file
    name and type, and the text of those whose type has text (``text_of``), decrypted
    into ``spool`` (a private directory of this device's) and deleted once read. No read receipt
    is sent: indexing is not reading. Each download is a read the journal records and
    the server's allowances count: past one (429), it stops and says so.
    """
    index = personal_index(client)
    documents = list(client.all_documents())
    held = index.indexed([d.id for d in documents])
    missing = [d for d in documents if d.id not in held]
    added, failures = 0, []
    for done, document in enumerate(missing):
        if progress:
            progress(done, len(missing))
        try:
            text = ""
            if has_text(document.media_type):
                copy = spool / f"{document.id}.part"
                try:
                    client.fetch(document.id, copy, version=document.version, receipt=False)
                    text = text_of(copy, document.media_type)
                finally:
                    copy.unlink(missing_ok=True)
            # Only what its author sealed: not the author's name nor the date, which are
            # the server's word, here about documents nobody looks at (PROTOCOL 18.5).
            index.add(
                DocumentFacts(
                    document_id=document.id,
                    title=document.title,
                    filename=document.filename,
                    media_type=document.media_type,
                    text=text,
                )
            )
            added += 1
        except ApiError as exc:
            if exc.status == 429:
                return Indexing(added, len(held), tuple(failures), stopped=str(exc))
            failures.append(f"{document.id}: {exc}")
        except (ExchangeRefused, CryptoError) as exc:
            failures.append(f"{document.id}: {exc}")
        except ValueError:  # as in index_quietly: its message may quote the bytes
            failures.append(f"{document.id}: past the search index's limits")
    if progress:
        progress(len(missing), len(missing))
    return Indexing(added, len(held), tuple(failures))


def has_text(media_type: str) -> bool:
    """Whether ``text_of`` reads text from documents of this type."""
    return media_type in (*TEXT_MEDIA_TYPES, PDF_MEDIA_TYPE, *FHIR_MEDIA_TYPES)


def personal_index(session: ExchangeSession) -> SearchIndex:
    """The signed-in user's personal index (their keys must be unlocked)."""
    return SearchIndex.personal(session.call, session.keys.x25519.private_bytes_raw())


def index_quietly(session: ExchangeSession, facts: DocumentFacts) -> str | None:
    """Index a document the user just sent or read; a failure is told, never fatal
    (the document was sent or saved): the reason, or None when it was indexed."""
    try:
        personal_index(session).add(facts)
    except (ApiError, ExchangeRefused, CryptoError) as exc:
        return str(exc)
    except ValueError:
        # The request the index would need is refused before it is sent (a state or
        # keyword list past the protocol's limits); its message may quote the bytes.
        return "the search index cannot take this document: it is past the index's limits"
    return None
