"""Tables of the patient's directives about sharing (CSP L1110-4) and research, of the
research studies a practice declares (each research consent names one, GDPR art. 7 and
9(2)(a)), and of the patients' requests to exercise their rights (GDPR art. 15-21,
CSP L1111-7).

A directive is never changed: each change is a new row with the patient's next version
number, and the row it replaces gets ``superseded_at``. The history is therefore the
table itself, in version order.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.protocol.consent import RequestStatus
from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime


class ConsentDirective(Base):
    __tablename__ = "consent_directives"
    __table_args__ = (
        UniqueConstraint("patient_id", "version", name="uq_consent_directives_patient_version"),
        Index("ix_consent_directives_current", "patient_id", "practice_id", "superseded_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    #: The patient's version counter: 1, 2, 3… over all their directives.
    version: Mapped[int] = mapped_column(Integer)
    #: The practice holding the file whose sharing this directive governs.
    practice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practices.id", ondelete="RESTRICT"))
    purpose: Mapped[str] = mapped_column(String(20))
    #: One professional, or everyone the purpose covers when null.
    recipient_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT")
    )
    decision: Mapped[str] = mapped_column(String(10))
    #: The study a research directive is about; null for the other purposes (and for
    #: the practice-wide research directives of before studies, all superseded).
    study_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("research_studies.id", ondelete="RESTRICT")
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    superseded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ResearchStudy(Base):
    """A study a practice takes part in, declared so that a patient's consent names
    what they agree to: who runs it, why, under which CNIL framework, and until when."""

    __tablename__ = "research_studies"
    __table_args__ = (Index("ix_research_studies_practice", "practice_id", "closed_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    practice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practices.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(200))
    sponsor: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(2000))
    #: MR-001 to MR-006, or ``cnil-authorisation`` with its number.
    methodology: Mapped[str] = mapped_column(String(20))
    authorisation: Mapped[str | None] = mapped_column(String(40))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    declared_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    declared_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Closed before its end: nobody is in it any more, and nobody may join it.
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT")
    )


OPEN_STATUSES = frozenset({RequestStatus.PENDING, RequestStatus.EXTENDED})


class RightsRequest(Base):
    __tablename__ = "rights_requests"
    __table_args__ = (Index("ix_rights_requests_practice_status", "practice_id", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT"), index=True
    )
    practice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practices.id", ondelete="RESTRICT"))
    right: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Not served before (the 48-hour reflection period of the medical file).
    earliest_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    extended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: What the practice told the patient: why it needs longer, why it refused, or
    #: what it did. Never health data: the documents travel encrypted.
    reason: Mapped[str | None] = mapped_column(String(1000))
    handled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    handled_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT")
    )
    #: A refused erasure: the day from which the file will be erased.
    erasure_from: Mapped[date | None] = mapped_column(Date)
    #: A restriction in force until the patient lifts it (art. 18(3)).
    lifted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: An erasure's answer per category (JSON list of protocol.consent.ErasureItem).
    erasure_items: Mapped[str | None] = mapped_column(Text)


class InformationNotice(Base):
    """A version of a practice's information notice (how the file is shared within the
    care team, CSP L1110-4 III). Versions are never edited: publishing adds the next
    one. Version 0, the notice the software ships, lives in code (consent/notice.py)."""

    __tablename__ = "information_notices"
    __table_args__ = (
        UniqueConstraint("practice_id", "version", name="uq_information_notices_version"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    practice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practices.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)
    text_fr: Mapped[str] = mapped_column(String(8000))
    text_en: Mapped[str | None] = mapped_column(String(8000))
    published_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    published_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PatientInformation(Base):
    """That the patient was informed of a version of the practice's notice: when, and
    how (shown by their client at the invitation's acceptance, or given in person at
    first care). Care-team sharing needs one (R11). Rows are only added."""

    __tablename__ = "patient_information"
    __table_args__ = (Index("ix_patient_information_file", "patient_id", "practice_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    practice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practices.id", ondelete="RESTRICT"))
    notice_version: Mapped[int] = mapped_column(Integer)
    #: The day in France the patient was informed.
    informed_on: Mapped[date] = mapped_column(Date)
    how: Mapped[str] = mapped_column(String(20))
    recorded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
