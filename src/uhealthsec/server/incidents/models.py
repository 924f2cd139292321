"""Tables of the breach register (GDPR art. 33 and 34): each incident of a practice,
its notifications to the CNIL, the patients it concerns and the notices they were sent.

An incident is never deleted: art. 33(5) wants every breach kept in the register,
notified or not, with what was decided and why.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    practice_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("practices.id", ondelete="RESTRICT"), index=True
    )
    opened_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: When the controller became aware of the breach: the 72 hours run from here.
    aware_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    #: The breach's nature: "confidentiality", "integrity", "availability", comma-separated.
    nature: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    data_categories: Mapped[str] = mapped_column(Text, default="")
    people_categories: Mapped[str] = mapped_column(Text, default="")
    #: The approximate numbers the practice gives, and those counted from the journal
    #: (both kept: the practice may correct the count).
    people_estimate: Mapped[int | None] = mapped_column(Integer)
    records_estimate: Mapped[int | None] = mapped_column(Integer)
    people_counted: Mapped[int | None] = mapped_column(Integer)
    records_counted: Mapped[int | None] = mapped_column(Integer)
    #: What was counted: the period and the accounts (comma-separated ids; empty: the
    #: whole practice).
    counted_from: Mapped[datetime | None] = mapped_column(UtcDateTime)
    counted_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    counted_accounts: Mapped[str] = mapped_column(Text, default="")
    contact: Mapped[str] = mapped_column(String(300), default="")
    consequences: Mapped[str] = mapped_column(Text, default="")
    measures_taken: Mapped[str] = mapped_column(Text, default="")
    measures_planned: Mapped[str] = mapped_column(Text, default="")
    #: Art. 33: "notifiable" (set by the first notification or decided) or
    #: "not_notifiable" (unlikely to result in a risk, with its written reason).
    decision: Mapped[str | None] = mapped_column(String(20))
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: Art. 34: "tell", "unintelligible" (34(3)(a)) or "no_high_risk", and why.
    people_decision: Mapped[str | None] = mapped_column(String(20))
    people_reason: Mapped[str] = mapped_column(Text, default="")
    #: For "unintelligible": the metadata that was in clear (exposure.py), as recorded.
    clear_metadata: Mapped[str] = mapped_column(Text, default="")
    people_decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: The worker's reminders to the practice's admins, each sent once.
    reminded_48h_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reminded_66h_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: The changes made to the incident in the current hour (service.WRITES_PER_HOUR).
    window_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    window_writes: Mapped[int] = mapped_column(Integer, default=0)


class IncidentNotification(Base):
    """One notification to the CNIL (art. 33(4): an initial one, then complements)."""

    __tablename__ = "incident_notifications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    #: "initial" or "complementary".
    kind: Mapped[str] = mapped_column(String(20))
    made_at: Mapped[datetime] = mapped_column(UtcDateTime)
    made_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    #: What was notified: the incident's form as exported then (JSON), and for a
    #: complement, what it adds.
    content: Mapped[str] = mapped_column(Text)
    complement: Mapped[str] = mapped_column(Text, default="")
    #: Required when made after the deadline (art. 33(1)).
    delay_reasons: Mapped[str] = mapped_column(Text, default="")


class IncidentPatient(Base):
    """A patient concerned, as counted from the journal."""

    __tablename__ = "incident_patients"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )


class IncidentNotice(Base):
    """The message a patient concerned was sent (art. 34), readable in their notices."""

    __tablename__ = "incident_notices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime)
    text: Mapped[str] = mapped_column(Text)
