"""Tables of the patient's directives about sharing (CSP L1110-4) and research.

A directive is never changed: each change is a new row with the patient's next version
number, and the row it replaces gets ``superseded_at``. The history is therefore the
table itself, in version order.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime


class Purpose(StrEnum):
    #: Sharing among the professionals of the practice that holds the file: allowed
    #: once the patient is informed, unless they object (L1110-4 III, first paragraph).
    CARE_TEAM = "care_team"
    #: Sharing with professionals outside that team: needs the patient's prior consent
    #: (L1110-4 III, second paragraph).
    OUTSIDE_TEAM = "outside_team"
    #: Use for research: explicit, specific, revocable consent (GDPR art. 7, 9(2)(a)).
    RESEARCH = "research"


class Decision(StrEnum):
    PERMIT = "permit"
    DENY = "deny"


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
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    superseded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
