"""Wire models of the encrypted search index (docs/PROTOCOL.md, section 18): opaque
labels and values, a client's sealed state, and the sealed keyword lists of its
documents. Nothing here holds a keyword in clear."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StrictInt

from uhealthsec.crypto.search import LABEL_SIZE, VALUE_SIZE
from uhealthsec.protocol.encoding import Base64Url
from uhealthsec.protocol.strict import Strict

#: Entries written by one update (a document of a few thousand words, or a batch).
MAX_UPDATE_ENTRIES = 20_000
#: Labels asked in one lookup: a keyword's ~40,000 updates in one round trip.
MAX_LOOKUP_LABELS = 50_000
#: The sealed counters of an index (about 14 bytes per keyword: 500,000 keywords).
MAX_STATE_BYTES = 8 * 1024 * 1024
#: The shortest sealed state (a nonce, the counters' version and count, a tag) and the
#: shortest sealed keyword list (a nonce and a tag): anything shorter cannot open, and
#: once stored would leave the index unusable.
MIN_SEALED_STATE = 12 + 5 + 16
MIN_SEALED_KEYWORDS = 12 + 16
#: Keywords one document is indexed under: all of them in one update, so that a
#: document is indexed whole or not at all (its entries and its keyword list together).
MAX_DOCUMENT_KEYWORDS = MAX_UPDATE_ENTRIES
#: The sealed keyword list of one document (at most 20,000 keywords of up to 41 bytes).
MAX_DOCUMENT_KEYWORDS_BYTES = 1024 * 1024
#: Documents whose keyword lists one update writes, removes, or one request reads.
MAX_DOCUMENTS_PER_REQUEST = 500
#: Entries one index holds (labels of 32 bytes and values of 17: about 1 GB).
MAX_INDEX_ENTRIES = 10_000_000
#: Indexes one account owns (its personal index, and room for the practice indexes to come).
MAX_INDEXES_PER_ACCOUNT = 16
#: Requests on one index per minute (a search of several words is one request each).
MAX_REQUESTS_PER_MINUTE = 600
#: Body limits of the two routes whose bodies are larger than the API's default.
UPDATES_PATH = "/search/updates"
LOOKUP_PATH = "/search/lookup"
MAX_UPDATE_BODY_BYTES = 24 * 1024 * 1024
MAX_LOOKUP_BODY_BYTES = 4 * 1024 * 1024


def _exactly(size: int) -> object:
    """A ``bytes`` field of exactly ``size`` bytes, as base64url text."""

    def check(data: bytes) -> bytes:
        if len(data) != size:
            raise ValueError(f"must be exactly {size} bytes")
        return data

    return Annotated[Base64Url(size), AfterValidator(check)]


Label = _exactly(LABEL_SIZE)
Value = _exactly(VALUE_SIZE)


class IndexIn(Strict):
    #: Drawn by the client; opaque to the server.
    id: uuid.UUID


class IndexOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    #: 0 until the first update; each update adds 1.
    state_version: int
    entries: int


class StateOut(BaseModel):
    version: int
    #: The sealed counters of this version (none before the first update).
    state: Base64Url(MAX_STATE_BYTES) | None = None  # type: ignore[valid-type]


class EntryIO(Strict):
    label: Label  # type: ignore[valid-type]
    value: Value  # type: ignore[valid-type]


class DocumentKeywordsIO(Strict):
    label: Label  # type: ignore[valid-type]
    keywords: Base64Url(MAX_DOCUMENT_KEYWORDS_BYTES, MIN_SEALED_KEYWORDS)  # type: ignore[valid-type]


class UpdateIn(Strict):
    index_id: uuid.UUID
    #: The version the client's state was read at: the update is refused (409) if
    #: another device updated the index since.
    previous_version: Annotated[StrictInt, Field(ge=0, le=2**62)]
    #: The counters after this update, sealed for version previous_version + 1.
    state: Base64Url(MAX_STATE_BYTES, MIN_SEALED_STATE)  # type: ignore[valid-type]
    entries: Annotated[list[EntryIO], Field(default_factory=list, max_length=MAX_UPDATE_ENTRIES)]
    put_documents: Annotated[
        list[DocumentKeywordsIO],
        Field(default_factory=list, max_length=MAX_DOCUMENTS_PER_REQUEST),
    ]
    remove_documents: Annotated[
        list[Label],  # type: ignore[valid-type]
        Field(default_factory=list, max_length=MAX_DOCUMENTS_PER_REQUEST),
    ]


class UpdateOut(BaseModel):
    state_version: int
    entries: int


class LookupIn(Strict):
    index_id: uuid.UUID
    labels: Annotated[
        list[Label], Field(min_length=1, max_length=MAX_LOOKUP_LABELS)  # type: ignore[valid-type]
    ]


class LookupOut(BaseModel):
    #: In the order of the labels asked; null where the index holds none.
    values: list[Base64Url(VALUE_SIZE) | None]  # type: ignore[valid-type]


class DocumentsIn(Strict):
    index_id: uuid.UUID
    labels: Annotated[
        list[Label],  # type: ignore[valid-type]
        Field(min_length=1, max_length=MAX_DOCUMENTS_PER_REQUEST),
    ]


class DocumentsOut(BaseModel):
    keywords: list[Base64Url(MAX_DOCUMENT_KEYWORDS_BYTES) | None]  # type: ignore[valid-type]
