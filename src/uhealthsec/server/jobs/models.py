"""What each job of ``uhs-server worker`` did: the worker answers no request, so its
runs are kept where every API process can read them for its ``/metrics``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime


class JobRun(Base):
    """The runs of one job with one outcome, counted since the database was made, and
    the last of them. Several workers add to the same rows."""

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: ``ok`` or ``failed``.
    outcome: Mapped[str] = mapped_column(String(10), primary_key=True)
    runs: Mapped[int] = mapped_column(BigInteger, default=0)
    last_ended_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seconds: Mapped[float] = mapped_column(Float)
