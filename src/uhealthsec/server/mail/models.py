"""The outbox table: mail waiting to be sent, and for a few days what was sent."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime


class OutboxMail(Base):
    """One mail, written in the transaction of the request that sends it: it exists
    exactly when that request committed, and is delivered after the commit."""

    __tablename__ = "mail_outbox"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    #: The text, with its one-time codes (confirmation, invitation): kept only while
    #: the mail waits, and set to NULL once it is sent or given up, so that the database
    #: never accumulates codes, working or not.
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Attempts started, counted when one is claimed (so one that died mid-send counts).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: When the mail may next be claimed; pushed forward while a deliverer holds it;
    #: NULL once it is sent or given up. Due mail is ``next_attempt_at <= now``.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: Set when the last allowed attempt failed: the mail is not tried again.
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: What the last failure was: an exception class and an SMTP reply code, never a
    #: message (a server may quote the recipient or the text).
    last_error: Mapped[str | None] = mapped_column(String(100))
