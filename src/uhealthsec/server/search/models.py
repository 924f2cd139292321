"""Tables of the encrypted search indexes.

An index is a map of opaque 32-byte labels to 17-byte values, the sealed counters of
its owner's client, and the sealed keyword lists of its documents: nothing here is a
keyword, a document id in clear, or a count of either beyond the sizes.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime


class SearchIndex(Base):
    __tablename__ = "search_indexes"

    #: Drawn by the owner's client.
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: The client's sealed counters; its version goes up by one at each update
    #: (compare-and-swap: a device that read an older version is refused).
    state: Mapped[bytes | None] = mapped_column(LargeBinary)
    state_version: Mapped[int] = mapped_column(BigInteger, default=0)
    entries: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The rate limit: requests counted since the minute that began then.
    window_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    window_requests: Mapped[int] = mapped_column(Integer, default=0)


class SearchEntry(Base):
    __tablename__ = "search_entries"

    index_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("search_indexes.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary(17))


class SearchDocument(Base):
    """The sealed list of the keywords one document was indexed under, so that any of
    the owner's devices can delete them later."""

    __tablename__ = "search_documents"

    index_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("search_indexes.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    keywords: Mapped[bytes] = mapped_column(LargeBinary)
