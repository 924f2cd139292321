"""What the shield remembers, shared by every API process. Keys are HMACs under a
server subkey: no address, IP address or device trait is stored, only counters
about them, and each row is worth nothing once its counters have decayed."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.server.storage.db import Base


class ShieldAccount(Base):
    """Consecutive failed sign-ins for an address (registered or not, alike)."""

    __tablename__ = "shield_accounts"

    key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    #: Seconds since the epoch of the last failure.
    last_failure_at: Mapped[float] = mapped_column(Float, default=0.0)
    #: Wrong passwords in a row (R7): at ``PASSWORD_BLOCKED_AFTER`` the password is not
    #: checked any more until the owner unblocks it (auth/unblocking.py).
    password_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ShieldNetwork(Base):
    """A token bucket per endpoint and network (IPv4 /24, IPv6 /64)."""

    __tablename__ = "shield_networks"

    key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class ShieldMinute(Base):
    """Password checks and failures per minute, for the failure-ratio breaker."""

    __tablename__ = "shield_minutes"

    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class ShieldSpentChallenge(Base):
    """A solved proof-of-work, kept until it expires so that it is used only once."""

    __tablename__ = "shield_spent_challenges"

    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class ShieldCounter(Base):
    """Totals since the start of the service, for the metrics."""

    __tablename__ = "shield_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
