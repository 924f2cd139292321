"""Positions in listings read a page at a time (keyset pagination): a page ends at
its last row's time and id, and the next page is read from an index after them,
whatever the pages before it. The token is what the `Link: rel="next"` header's
`after` carries (docs/PROTOCOL.md 11.5)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Uuid, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from uhealthsec.server.errors import InvalidInput
from uhealthsec.server.storage.types import UtcDateTime


@dataclass(frozen=True)
class Position:
    """Where a page ends: the time its last row is ordered by, and that row's id,
    which breaks ties."""

    at: datetime
    id: uuid.UUID

    def token(self) -> str:
        microseconds = (self.at - _EPOCH) // timedelta(microseconds=1)
        return f"{microseconds}_{self.id.hex}"

    @classmethod
    def parse(cls, token: str) -> Position:
        found = _POSITION.fullmatch(token)
        if found is None:
            raise InvalidInput("this is not a position in this list")
        microseconds, row_id = found.groups()
        return cls(_EPOCH + timedelta(microseconds=int(microseconds)), uuid.UUID(row_id))

    def before(
        self, at: InstrumentedAttribute[datetime], row_id: InstrumentedAttribute[uuid.UUID]
    ) -> ColumnElement[bool]:
        """SQL condition: a row after this position in a list ordered by ``at`` then
        ``row_id``, both descending."""
        return tuple_(at, row_id) < tuple_(
            literal(self.at, UtcDateTime()), literal(self.id, Uuid())
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_POSITION = re.compile(r"([0-9]{1,18})_([0-9a-f]{32})")
