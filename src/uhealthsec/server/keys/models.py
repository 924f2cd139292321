"""Tables of the key directory."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime


class DirectoryRecord(Base):
    """The leaf ``log_index`` of the key directory log: one version of an account's keys."""

    __tablename__ = "key_directory"
    __table_args__ = (
        UniqueConstraint("account_id", "key_version", name="uq_key_directory_account_version"),
    )

    log_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    key_version: Mapped[int] = mapped_column(Integer)
    email: Mapped[str] = mapped_column(String(320), index=True)
    #: The exact leaf bytes (crypto/directory.py), as hashed into the log.
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: For key version 2 and later, the rotation statement its owner signed with the
    #: keys it replaces (crypto/key_rotation.py); readers refuse the entry without it.
    rotation: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, default=None)


class MapCommitmentRecord(Base):
    """The leaf ``log_index`` of the key directory log when it is a map commitment
    (crypto/account_map.py): the root of the map of every entry before it."""

    __tablename__ = "key_map_commitments"

    log_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))


class DirectoryMisses(Base):
    """How many addresses an account looked up in an hour and was answered no keys for
    (no account there, or not one it may see): the bound on testing addresses
    (``MISSES_PER_HOUR``). Rows of past hours are purged by ``uhs-server cleanup``."""

    __tablename__ = "directory_misses"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class KeyRevocation(Base):
    """An account whose keys are revoked (its owner deleted it): its entries stay in
    the log, which is append-only, and lookups answer that the keys are revoked."""

    __tablename__ = "key_revocations"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT"), primary_key=True
    )
    revoked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Why: ``account-deleted``.
    reason: Mapped[str] = mapped_column(String(40))
