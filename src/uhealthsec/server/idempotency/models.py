"""The answers kept for idempotency keys: what a retried write is answered with."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime


class KeptAnswer(Base):
    """A write sent with an ``Idempotency-Key``, written in the transaction of the
    change: it exists exactly when the change committed. Kept for a day, with the
    answer only for routes whose answers hold no secret (idempotency/service.py)."""

    __tablename__ = "kept_answers"
    __table_args__ = (UniqueConstraint("account_id", "key", name="uq_kept_answers_account_key"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    #: The request digest of the first request (method, target, SHA-256 of the body):
    #: a key sent again with another request is refused, not answered.
    request_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[int] = mapped_column(Integer)
    #: The answer, where the route's answers are kept; else NULL.
    media_type: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: The patient the write was about (the first), and the practice whose file it
    #: concerned: destroying that file removes the answers that may hold its keys.
    patient_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    practice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    #: The journal entry staged with the change (audit/outbox.py): a retry is answered
    #: with that entry's receipt.
    outbox_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
