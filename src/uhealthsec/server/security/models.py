"""Tables of the security infrastructure. Every secret is stored sealed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime, utcnow


class TokenKey(Base):
    """A PASETO v4.local key. New tokens use the newest active key; retired keys still
    open tokens until those have expired, so rotation signs nobody out."""

    __tablename__ = "token_keys"

    kid: Mapped[str] = mapped_column(String(100), primary_key=True)
    key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
