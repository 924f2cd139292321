"""The patient is informed before their care team shares their file (CSP L1110-4 III,
R11). No HTTP here.

A practice's notice says what is shared, with whom, and how to object; the software
ships one (version 0, consent/notice.py) and an admin may publish the practice's own
versions, never edited once published. That a patient was informed is recorded per
file (patient and practice): by the patient's own acceptance of the invitation, whose
client showed the notice, or by a practitioner of the practice who gave it in person
at first care. The sharing rule (consent/service.py) asks ``informed``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from uhealthsec.protocol.consent import DEFAULT_NOTICE_VERSION, MAX_NOTICE_CHARS, InformedHow
from uhealthsec.server.accounts.models import Account, AccountKind, Practice, Role
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.consent.models import InformationNotice, PatientInformation
from uhealthsec.server.consent.notice import DEFAULT_NOTICE_EN, DEFAULT_NOTICE_FR
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import Conflict, Forbidden, InvalidInput, NotFound
from uhealthsec.server.incidents.anomalies.rules import PARIS
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.records.service import RecordsService

#: What the practitioner is told when care-team sharing waits for the information.
NOT_INFORMED = (
    "the patient has not been informed yet of how their file is shared within the care "
    "team (CSP L1110-4): record that you informed them in person at first care (their "
    "file, \u00abrecord the information\u00bb), or ask them to accept the practice's "
    "invitation, which shows them the practice's notice"
)
NO_NOTICE = "this practice has no notice of this version"


@dataclass(frozen=True)
class Notice:
    practice: Practice
    version: int
    text_fr: str
    text_en: str | None
    published_at: datetime | None


@dataclass(frozen=True)
class Information:
    record: PatientInformation
    notice: Notice
    recorded_by_name: str


class InformationService:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    # -- the notice -----------------------------------------------------------------------

    def notice(self, practice_id: uuid.UUID, version: int | None = None) -> Notice:
        """A version of the practice's notice; its current one when ``version`` is None.
        A version the practice never published is refused as not found."""
        practice = self.db.get(Practice, practice_id)
        if practice is None:
            raise NotFound("no such practice")
        query = select(InformationNotice).where(InformationNotice.practice_id == practice_id)
        if version is None:
            query = query.order_by(InformationNotice.version.desc()).limit(1)
        elif version == DEFAULT_NOTICE_VERSION:
            return self._default(practice)
        else:
            query = query.where(InformationNotice.version == version)
        row = self.db.scalar(query)
        if row is None:
            if version is None:
                return self._default(practice)
            raise NotFound(NO_NOTICE)
        return Notice(practice, row.version, row.text_fr, row.text_en, row.published_at)

    def read(self, caller: Account, practice_id: uuid.UUID, version: int | None) -> Notice:
        """A version of the notice for anyone of the practice (members and patients)."""
        if AccountService(self.db, self.ctx).membership(caller.id, practice_id) is None:
            raise NotFound("no such practice")
        return self.notice(practice_id, version)

    def versions(self, caller: Account, practice_id: uuid.UUID) -> list[Notice]:
        """Every version, newest first, the shipped one last (members)."""
        AccountService(self.db, self.ctx).require(caller, practice_id, "members.read")
        practice = self.db.get(Practice, practice_id)
        assert practice is not None
        rows = self.db.scalars(
            select(InformationNotice)
            .where(InformationNotice.practice_id == practice_id)
            .order_by(InformationNotice.version.desc())
        ).all()
        published = [
            Notice(practice, r.version, r.text_fr, r.text_en, r.published_at) for r in rows
        ]
        return [*published, self._default(practice)]

    def publish(
        self, caller: Account, practice_id: uuid.UUID, text_fr: str, text_en: str | None
    ) -> Notice:
        """The practice's next version (admins): versions are added, never edited."""
        AccountService(self.db, self.ctx).require(caller, practice_id, "notice.publish")
        current_draft().about_practice(practice_id)
        texts = [text_fr] if text_en is None else [text_fr, text_en]
        if any(not text.strip() or len(text) > MAX_NOTICE_CHARS for text in texts):
            raise InvalidInput(f"a notice is 1 to {MAX_NOTICE_CHARS} characters, not blank")
        # The practice's row orders its versions.
        self.db.execute(select(Practice.id).where(Practice.id == practice_id).with_for_update())
        last = self.db.scalar(
            select(func.max(InformationNotice.version)).where(
                InformationNotice.practice_id == practice_id
            )
        )
        row = InformationNotice(
            practice_id=practice_id,
            version=(last or DEFAULT_NOTICE_VERSION) + 1,
            text_fr=text_fr.strip(),
            text_en=text_en.strip() if text_en is not None else None,
            published_by=caller.id,
            published_at=self.ctx.now(),
        )
        try:
            with self.db.begin_nested():
                self.db.add(row)
        except IntegrityError as exc:
            raise Conflict("another version was published meanwhile: look again") from exc
        return self.notice(practice_id, row.version)

    def of_invitation(self, code: str) -> tuple[Notice, bool]:
        """The current notice of the practice whose invitation ``code`` is: what the
        invited person's client shows before they accept; and whether the invitation is
        a patient's (whose acceptance names the notice's version)."""
        invitation = AccountService(self.db, self.ctx).open_invitation(code)
        return self.notice(invitation.practice_id), Role(invitation.role) == Role.PATIENT

    # -- that the patient was informed ----------------------------------------------------

    def informed(self, patient_id: uuid.UUID, practice_id: uuid.UUID) -> bool:
        return bool(
            self.db.scalar(
                select(
                    exists().where(
                        PatientInformation.patient_id == patient_id,
                        PatientInformation.practice_id == practice_id,
                    )
                )
            )
        )

    def informed_at_joining(
        self, patient: Account, practice_id: uuid.UUID, notice_version: int
    ) -> None:
        """The patient accepted the practice's invitation after their client showed them
        this version of its notice (accounts/service.py, through accounts/interfaces.py)."""
        self.notice(practice_id, notice_version)  # a version the practice has
        current_draft().about_patient(patient.id, practice_id)
        today = self._today()
        self._add(patient.id, practice_id, notice_version, today, InformedHow.INVITATION, patient)

    def record_in_person(
        self,
        caller: Account,
        patient_file_id: uuid.UUID,
        informed_on: date,
        notice_version: int | None,
    ) -> Information:
        """A practitioner of the file's practice gave the notice in person at first care,
        on ``informed_on``: not after today, not before the file was opened."""
        patient_file = RecordsService(self.db, self.ctx).patient_file(caller, patient_file_id)
        member = AccountService(self.db, self.ctx).membership(caller.id, patient_file.practice_id)
        if (
            caller.kind != AccountKind.PRACTITIONER
            or member is None
            or Role(member.role) not in (Role.ADMIN, Role.PRACTITIONER)
        ):
            raise Forbidden("only a practitioner of the practice records that they informed")
        opened = patient_file.created_at.astimezone(PARIS).date()
        today = self._today()
        if informed_on > today:
            raise InvalidInput("the patient cannot have been informed after today")
        if informed_on < opened:
            raise InvalidInput(
                f"the patient's file was opened on {opened.isoformat()}: they were informed "
                "at their first care here, on or after that day"
            )
        notice = self.notice(patient_file.practice_id, notice_version)
        record = self._add(
            patient_file.patient_id,
            patient_file.practice_id,
            notice.version,
            informed_on,
            InformedHow.IN_PERSON,
            caller,
        )
        return Information(record, notice, caller.display_name)

    def of_file(self, caller: Account, patient_file_id: uuid.UUID) -> list[Information]:
        """What the file's patient was given, oldest first (members who read records)."""
        patient_file = RecordsService(self.db, self.ctx).patient_file(caller, patient_file_id)
        return self._listed(patient_file.patient_id, patient_file.practice_id)

    def mine(self, patient: Account) -> list[Information]:
        """The notices the patient was given, in every practice, oldest first."""
        listed = self._listed(patient.id, None)
        for practice_id in {i.record.practice_id for i in listed}:
            current_draft().about_patient(patient.id, practice_id)
        return listed

    # -- helpers --------------------------------------------------------------------------

    def _listed(self, patient_id: uuid.UUID, practice_id: uuid.UUID | None) -> list[Information]:
        query = select(PatientInformation, Account.display_name).join(
            Account, Account.id == PatientInformation.recorded_by
        )
        query = query.where(PatientInformation.patient_id == patient_id)
        if practice_id is not None:
            query = query.where(PatientInformation.practice_id == practice_id)
        rows = self.db.execute(
            query.order_by(PatientInformation.recorded_at, PatientInformation.informed_on)
        ).all()
        return [
            Information(record, self.notice(record.practice_id, record.notice_version), name)
            for record, name in rows
        ]

    def _add(
        self,
        patient_id: uuid.UUID,
        practice_id: uuid.UUID,
        version: int,
        informed_on: date,
        how: InformedHow,
        by: Account,
    ) -> PatientInformation:
        record = PatientInformation(
            patient_id=patient_id,
            practice_id=practice_id,
            notice_version=version,
            informed_on=informed_on,
            how=how,
            recorded_by=by.id,
            recorded_at=self.ctx.now(),
        )
        self.db.add(record)
        self.db.flush()
        return record

    def _today(self) -> date:
        return self.ctx.now().astimezone(PARIS).date()

    @staticmethod
    def _default(practice: Practice) -> Notice:
        return Notice(practice, DEFAULT_NOTICE_VERSION, DEFAULT_NOTICE_FR, DEFAULT_NOTICE_EN, None)
