"""Tables of retention: each practice's policy and what each file's end depends on.

The dates here (birth, death, last care, claims) are the only facts about a patient
the server keeps in clear for this purpose: it must destroy files on time without
reading them.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.server.retention.rules import DEFAULT_YEARS
from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime

#: The CNIL reference for practices: 5 years in the active base, then archived.
DEFAULT_ARCHIVE_AFTER_YEARS = 5


class RetentionPolicy(Base):
    """A practice's choice; practices without a row use the defaults."""

    __tablename__ = "retention_policies"

    practice_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("practices.id", ondelete="CASCADE"), primary_key=True
    )
    years: Mapped[int] = mapped_column(Integer, default=DEFAULT_YEARS)
    #: Files whose last care is older leave the daily views (still kept, still listed
    #: on request).
    archive_after_years: Mapped[int] = mapped_column(Integer, default=DEFAULT_ARCHIVE_AFTER_YEARS)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FileRetention(Base):
    """What the end of one patient file's retention depends on, and its destruction."""

    __tablename__ = "file_retention"

    patient_file_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("patient_files.id", ondelete="CASCADE"), primary_key=True
    )
    #: The last consultation recorded by hand (documents count as care too).
    last_care_on: Mapped[date | None] = mapped_column(Date)
    born_on: Mapped[date | None] = mapped_column(Date)
    died_on: Mapped[date | None] = mapped_column(Date)
    #: A claim about medical liability, open since this day.
    claim_since: Mapped[date | None] = mapped_column(Date)
    #: Days of claims now closed: the end moves back by as many.
    suspended_days: Mapped[int] = mapped_column(Integer, default=0)
    #: When a date the end depends on (birth, death, last care, a claim) was last
    #: recorded: a destruction it decides waits a grace period from then.
    facts_recorded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: When the file's keys were destroyed and its contents deleted.
    shredded_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
