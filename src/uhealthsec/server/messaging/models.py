"""Tables of secure messaging: threads, participants, messages, their keys, receipts.

Message bodies are envelopes under a per-message key, wrapped for each participant;
the server sees who writes to whom and when, never what.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime, utcnow


class Thread(Base):
    __tablename__ = "threads"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Number of messages so far; the next message gets this number + 1.
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_message_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ThreadParticipant(Base):
    __tablename__ = "thread_participants"
    __table_args__ = (
        # A participant's threads, most recently changed first, a page at a time
        # (migration 0032).
        Index("ix_thread_participants_listing", "account_id", "thread_changed_at", "thread_id"),
    )

    thread_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    #: The last message this participant has read (read receipts).
    read_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: The thread's last message's time, or its creation's before any: the order of
    #: the participant's list of threads, read from an index of their rows. (A row
    #: written without it, as a hostile server's tests do, is listed as changed then.)
    thread_changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("thread_id", "seq", name="uq_messages_thread_seq"),)

    #: Chosen by the sender's client: it is part of what the sender signs.
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    thread_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    sender_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    #: Text and attachment references, as an envelope under the message key.
    body_envelope: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    signer_key_index: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MessageKey(Base):
    """The message key wrapped for one participant."""

    __tablename__ = "message_keys"

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT"), primary_key=True
    )
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary(2048))


class ThreadMembershipRecord(Base):
    """One signed link of a thread's membership chain (manifest.ThreadMembership)."""

    __tablename__ = "thread_memberships"

    thread_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    actor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    signer_key_index: Mapped[int] = mapped_column(BigInteger)
    #: The creator's random nonce, in the first link only: with the creator and the
    #: members it derives the thread's id (manifest.thread_id_of).
    nonce: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    #: SHA-256 of the previous link (zeros for the first).
    previous: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: The member list after this change (manifest.encode_readers).
    members: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
