"""Tables of the anomaly alerts (R22): each alert a rule raised over the journal, each
practice's tuned thresholds, and how far the rules have read the journal.

An alert names the account (or, for denials against one patient, the patient) by
its pseudonymous id, a window and counts: never an address, a document's title or
anything the journal itself does not hold in clear.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime


class AnomalyAlert(Base):
    __tablename__ = "anomaly_alerts"
    __table_args__ = (
        # The practice's open alerts, and the merge of a rule's next detection into the
        # open alert of the same subject (anomalies/service.py).
        Index("ix_anomaly_alerts_practice", "practice_id", "status", "created_at"),
        Index("ix_anomaly_alerts_subject", "practice_id", "rule", "subject_id", "window_end"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    practice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    #: The rule that raised it (anomalies/rules.py, ``Rule``).
    rule: Mapped[str] = mapped_column(String(32))
    #: "account" (who acted) or "patient" (whose data was asked for, denials only).
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    window_end: Mapped[datetime] = mapped_column(UtcDateTime)
    #: What was counted in the window (the largest count while it was extended) and
    #: the threshold it reached.
    count: Mapped[int] = mapped_column(BigInteger)
    threshold: Mapped[int] = mapped_column(BigInteger)
    #: What ``count`` counts (rules.py ``Detection.counted``): a mass download's
    #: patients and documents are two alerts, each with its own threshold.
    counted: Mapped[str] = mapped_column(String(16))
    #: A sentence saying what was counted (numbers and the rule, no personal data).
    detail: Mapped[str] = mapped_column(String(500))
    #: "open", "dismissed" (with ``reason``) or "incident" (``incident_id``).
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    incident_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="RESTRICT")
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AnomalySettings(Base):
    """A practice's thresholds, as its admin tuned them (JSON of ``Thresholds``; a
    threshold not written takes its default)."""

    __tablename__ = "anomaly_settings"

    practice_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("practices.id", ondelete="CASCADE"), primary_key=True
    )
    thresholds: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[uuid.UUID] = mapped_column(Uuid)


class AnomalySettingsChange(Base):
    """Each tuning of a practice's thresholds, kept: the values before and after (JSON
    of ``Thresholds``), who and when; a tune, scrape, re-tune leaves its trace."""

    __tablename__ = "anomaly_settings_changes"
    __table_args__ = (Index("ix_anomaly_settings_changes_practice", "practice_id", "changed_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    practice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    before: Mapped[str] = mapped_column(Text)
    after: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    changed_by: Mapped[uuid.UUID] = mapped_column(Uuid)


class AnomalyPosition(Base):
    """How far the rules have read: ``journal`` the last journal index evaluated."""

    __tablename__ = "anomaly_positions"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    evaluated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Entries evaluated in all, for the record.
    evaluated: Mapped[int] = mapped_column(Integer, default=0)
