"""The patient's say over who receives their documents (CSP L1110-4). No HTTP here.

Within the care team (the professionals and staff of the practice that holds the file)
sharing is allowed once the patient is informed, unless they objected; outside it,
sharing needs their prior consent. A directive about one professional prevails over
the directive about everyone the purpose covers. Changes take effect at once: a
directive that narrows sharing ends every share it no longer allows, by erasing the
wrapped key the server held for that person.

Research needs consent that is specific (GDPR art. 9(2)(a), R19): a practice declares
each study (title, sponsor, purpose, CNIL framework, dates), and a research directive
names one study of the patient's practice, versioned like every other directive.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from uhealthsec.protocol.consent import (
    Decision,
    ErasureCategory,
    Methodology,
    Purpose,
    RequestStatus,
    Right,
    StudyState,
)
from uhealthsec.server.accounts.models import (
    Account,
    AccountKind,
    AccountStatus,
    Membership,
    Role,
)
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.addresses import normalize_email
from uhealthsec.server.consent.erasure import ErasureService
from uhealthsec.server.consent.information import NOT_INFORMED, InformationService
from uhealthsec.server.consent.models import (
    OPEN_STATUSES,
    ConsentDirective,
    ResearchStudy,
    RightsRequest,
)
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import Conflict, Forbidden, InvalidInput, NotFound
from uhealthsec.server.incidents.anomalies.rules import PARIS
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.records.models import Document, DocumentVersion, PatientFile, Share
from uhealthsec.server.retention.rules import add_months, add_years
from uhealthsec.server.retention.service import RetentionService

#: The members of a practice who form the patient's care team there.
CARE_TEAM_ROLES = frozenset({Role.ADMIN, Role.PRACTITIONER, Role.SECRETARY})

#: Without a directive: the care team may share (the patient can object); nobody
#: outside it may (the patient must consent first). Research always needs consent.
DEFAULTS = {
    Purpose.CARE_TEAM: Decision.PERMIT,
    Purpose.OUTSIDE_TEAM: Decision.DENY,
    Purpose.RESEARCH: Decision.DENY,
}


def file_of(db: Session, patient_id: uuid.UUID, practice_id: uuid.UUID) -> PatientFile:
    """The patient's file in the practice; refused as not found when there is none."""
    patient_file = db.scalar(
        select(PatientFile).where(
            PatientFile.patient_id == patient_id, PatientFile.practice_id == practice_id
        )
    )
    if patient_file is None:
        raise NotFound(NO_FILE)
    return patient_file


NO_FILE = "you have no file in this practice"


@dataclass(frozen=True)
class SharingRuling:
    allowed: bool
    purpose: Purpose
    #: Why, in words for the person sharing (cites the article when refused).
    reason: str
    #: What a share this ruling ends records as its end; empty when it ends none (a
    #: patient not informed yet: only new shares wait for the information, R11).
    ends_as: str = ""
    #: Refused only because the patient was not informed yet (R11).
    awaits_information: bool = False


@dataclass(frozen=True)
class RecordedDirective:
    directive: ConsentDirective
    #: Shares ended at once because the directive no longer allows them.
    shares_ended: int


def _ruling(
    in_team: bool, purpose: Purpose, decision: Decision, specific: bool, informed: bool
) -> SharingRuling:
    if decision == Decision.PERMIT and in_team and not informed:
        # Not an end: shares given before the rule stay; only new ones wait (R11).
        return SharingRuling(False, purpose, NOT_INFORMED, awaits_information=True)
    if decision == Decision.PERMIT:
        reason = (
            "member of the patient's care team, no objection"
            if in_team
            else "outside the care team, with the patient's consent"
        )
        return SharingRuling(True, purpose, reason)
    if in_team:
        whom = "this member of their care team" if specific else "their care team"
        reason = f"the patient objected to sharing their file with {whom} (CSP L1110-4)"
        return SharingRuling(False, purpose, reason, "objection")
    reason = (
        "sharing outside the patient's care team needs the patient's prior consent "
        "(CSP L1110-4); the patient can give it in their consents"
    )
    return SharingRuling(False, purpose, reason, "consent withdrawn")


class ConsentService:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    # -- the patient's directives ---------------------------------------------------------

    def record(
        self,
        patient: Account,
        practice_id: uuid.UUID,
        purpose: Purpose,
        decision: Decision,
        recipient_email: str | None = None,
        study_id: uuid.UUID | None = None,
    ) -> RecordedDirective:
        """A new version of the patient's directive for this practice, purpose and
        recipient (or research study); applied to existing shares before the request
        ends."""
        if patient.kind != AccountKind.PATIENT:
            raise Forbidden("only patients decide who may receive their documents")
        current_draft().about_patient(patient.id, practice_id)
        file_of(self.db, patient.id, practice_id)
        if purpose == Purpose.RESEARCH:
            if study_id is None or recipient_email is not None:
                raise InvalidInput(
                    "a research consent names one study of the practice (study_id), "
                    "and no professional"
                )
            self._joinable(
                StudyService(self.db, self.ctx).of_patient(study_id, practice_id), decision
            )
        elif study_id is not None:
            raise InvalidInput("only a research directive names a study")
        recipient = self._professional(recipient_email) if recipient_email else None
        recipient_id = recipient.id if recipient else None
        # The patient's row is the lock that orders their versions.
        self.db.execute(select(Account.id).where(Account.id == patient.id).with_for_update())
        previous = self._directive(patient.id, practice_id, purpose, recipient_id, study_id)
        if previous is not None and previous.decision == decision:
            return RecordedDirective(previous, 0)
        now = self.ctx.now()
        if previous is not None:
            previous.superseded_at = now
        last = self.db.scalar(
            select(func.max(ConsentDirective.version)).where(
                ConsentDirective.patient_id == patient.id
            )
        )
        directive = ConsentDirective(
            patient_id=patient.id,
            version=(last or 0) + 1,
            practice_id=practice_id,
            purpose=purpose,
            recipient_id=recipient_id,
            decision=decision,
            study_id=study_id,
            created_at=now,
        )
        try:
            with self.db.begin_nested():
                self.db.add(directive)
        except IntegrityError as exc:
            # Another change of the same patient's took this version number first: not
            # expected, the patient's lock orders them (on SQLite too, storage/db.py).
            raise Conflict("your consents changed meanwhile: look at them again") from exc
        return RecordedDirective(directive, self.enforce(patient.id, practice_id))

    def current(
        self, patient_id: uuid.UUID, practice_id: uuid.UUID | None = None
    ) -> list[ConsentDirective]:
        """The directives in force, oldest first."""
        query = select(ConsentDirective).where(
            ConsentDirective.patient_id == patient_id, ConsentDirective.superseded_at.is_(None)
        )
        if practice_id is not None:
            query = query.where(ConsentDirective.practice_id == practice_id)
        return list(self.db.scalars(query.order_by(ConsentDirective.version)).all())

    def history(self, patient_id: uuid.UUID) -> list[ConsentDirective]:
        """Every version of every directive, in the order they were given."""
        return list(
            self.db.scalars(
                select(ConsentDirective)
                .where(ConsentDirective.patient_id == patient_id)
                .order_by(ConsentDirective.version)
            ).all()
        )

    # -- the rule -------------------------------------------------------------------------

    def ruling(self, patient_file: PatientFile, recipient: Account) -> SharingRuling:
        """May documents of ``patient_file`` be shared with ``recipient`` now?"""
        return self.rulings(patient_file, [recipient.id])[recipient.id]

    def rulings(
        self, patient_file: PatientFile, recipient_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, SharingRuling]:
        """The ruling for each recipient, in four queries however many there are."""
        patient_id, practice_id = patient_file.patient_id, patient_file.practice_id
        restricted = RightsService(self.db, self.ctx).restricted(patient_id, practice_id)
        roles = dict(
            self.db.execute(
                select(Membership.account_id, Membership.role).where(
                    Membership.practice_id == practice_id,
                    Membership.account_id.in_(recipient_ids),
                )
            ).all()
        )
        directives = {
            (d.purpose, d.recipient_id): Decision(d.decision)
            for d in self.current(patient_id, practice_id)
        }
        informed = InformationService(self.db, self.ctx).informed(patient_id, practice_id)
        rulings: dict[uuid.UUID, SharingRuling] = {}
        for recipient_id in recipient_ids:
            if recipient_id == patient_id:
                rulings[recipient_id] = SharingRuling(
                    True, Purpose.CARE_TEAM, "the patient's own file"
                )
                continue
            if restricted:
                rulings[recipient_id] = SharingRuling(
                    False,
                    Purpose.CARE_TEAM,
                    "the patient restricted the processing of their file (GDPR art. 18): "
                    "it is kept, not shared",
                    "restriction",
                )
                continue
            role = roles.get(recipient_id)
            in_team = role is not None and Role(role) in CARE_TEAM_ROLES
            purpose = Purpose.CARE_TEAM if in_team else Purpose.OUTSIDE_TEAM
            specific = directives.get((purpose, recipient_id))
            decision = specific or directives.get((purpose, None)) or DEFAULTS[purpose]
            rulings[recipient_id] = _ruling(
                in_team, purpose, decision, specific is not None, informed
            )
        return rulings

    def enforce(self, patient_id: uuid.UUID, practice_id: uuid.UUID) -> int:
        """End every share of the patient's file in this practice that the directives
        in force no longer allow. The author of a document keeps their own copy."""
        patient_file = file_of(self.db, patient_id, practice_id)
        shares = self.db.scalars(
            select(Share)
            .join(Document, Document.id == Share.document_id)
            .where(
                Document.patient_file_id == patient_file.id,
                Share.recipient_id != Document.author_id,
                Share.active(),
            )
        ).all()
        rulings = self.rulings(patient_file, list({share.recipient_id for share in shares}))
        ended = 0
        for share in shares:
            ruling = rulings[share.recipient_id]
            if not ruling.allowed and ruling.ends_as:
                share.end(self.ctx.now(), patient_id, ruling.ends_as)
                ended += 1
        self.db.flush()
        return ended

    # -- helpers --------------------------------------------------------------------------

    def _joinable(self, study: ResearchStudy, decision: Decision) -> None:
        """Consent is refused to a study nobody can be in any more; withdrawing is
        always accepted, as easily as consent was given."""
        if decision == Decision.PERMIT:
            state = study_state(study, paris_today(self.ctx))
            if state in (StudyState.CLOSED, StudyState.ENDED):
                raise Conflict(f"this study is {state}: nobody can take part in it any more")

    def _directive(
        self,
        patient_id: uuid.UUID,
        practice_id: uuid.UUID,
        purpose: Purpose,
        recipient_id: uuid.UUID | None,
        study_id: uuid.UUID | None = None,
    ) -> ConsentDirective | None:
        recipient = (
            ConsentDirective.recipient_id.is_(None)
            if recipient_id is None
            else ConsentDirective.recipient_id == recipient_id
        )
        study = (
            ConsentDirective.study_id.is_(None)
            if study_id is None
            else ConsentDirective.study_id == study_id
        )
        return self.db.scalar(
            select(ConsentDirective).where(
                ConsentDirective.patient_id == patient_id,
                ConsentDirective.practice_id == practice_id,
                ConsentDirective.purpose == purpose,
                recipient,
                study,
                ConsentDirective.superseded_at.is_(None),
            )
        )

    def _professional(self, email: str) -> Account:
        account = self.db.scalar(select(Account).where(Account.email == normalize_email(email)))
        if (
            account is None
            or account.kind != AccountKind.PRACTITIONER
            or account.status != AccountStatus.ACTIVE
        ):
            raise NotFound("no professional uses this address")
        return account


# -- research studies ---------------------------------------------------------------------

#: Bounds of a study's dates: a typo (year 20226) is refused rather than stored.
EARLIEST_START = date(2000, 1, 1)
LATEST_END = date(2100, 12, 31)


def paris_today(ctx: AppContext) -> date:
    """Today in France, where a study's dates are meant: a study ending on the 31st
    ends at midnight in Paris, not up to two hours later at midnight UTC."""
    return ctx.now().astimezone(PARIS).date()


def study_state(study: ResearchStudy, today: date) -> StudyState:
    if study.closed_at is not None:
        return StudyState.CLOSED
    if today > study.ends_on:
        return StudyState.ENDED
    if today < study.starts_on:
        return StudyState.UPCOMING
    return StudyState.OPEN


@dataclass(frozen=True)
class StudyDeclaration:
    title: str
    sponsor: str
    purpose: str
    methodology: Methodology
    authorisation: str | None
    starts_on: date
    ends_on: date | None
    duration_months: int | None


@dataclass(frozen=True)
class ListedStudy:
    study: ResearchStudy
    state: StudyState
    #: Patients who consent now; None for a reader who may not know it.
    consenting: int | None
    #: The reading patient's own decision in force; None for members.
    my_decision: Decision | None


class StudyService:
    """The research studies of a practice, and who consents to each now (R19, and the
    input of research exports, R26)."""

    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    def declare(
        self, caller: Account, practice_id: uuid.UUID, declared: StudyDeclaration
    ) -> ResearchStudy:
        AccountService(self.db, self.ctx).require(caller, practice_id, "studies.manage")
        current_draft().about_practice(practice_id)
        texts = (declared.title, declared.sponsor, declared.purpose, declared.authorisation)
        if any(text is not None and not text.strip() for text in texts):
            raise InvalidInput("a study's title, sponsor, purpose and number are not blank")
        cnil = declared.methodology == Methodology.CNIL_AUTHORISATION
        if cnil != (declared.authorisation is not None):
            raise InvalidInput(
                "give the CNIL authorisation number with cnil-authorisation, and only then"
            )
        if (declared.ends_on is None) == (declared.duration_months is None):
            raise InvalidInput("give the study's end date or its duration in months, not both")
        bounds = (
            f"a study starts from {EARLIEST_START.isoformat()} and ends on or after its "
            f"start, by {LATEST_END.isoformat()}"
        )
        # Checked before adding months to it: a start in year 9999 would overflow.
        if not EARLIEST_START <= declared.starts_on <= LATEST_END:
            raise InvalidInput(bounds)
        # A duration of n months ends on the day before the same day n months later.
        ends_on = declared.ends_on or (
            add_months(declared.starts_on, declared.duration_months or 0) - timedelta(days=1)
        )
        if not declared.starts_on <= ends_on <= LATEST_END:
            raise InvalidInput(bounds)
        if ends_on < paris_today(self.ctx):
            raise InvalidInput("this study has already ended: patients could not join it")
        study = ResearchStudy(
            practice_id=practice_id,
            title=declared.title.strip(),
            sponsor=declared.sponsor.strip(),
            purpose=declared.purpose.strip(),
            methodology=declared.methodology,
            authorisation=declared.authorisation.strip() if declared.authorisation else None,
            starts_on=declared.starts_on,
            ends_on=ends_on,
            declared_by=caller.id,
            declared_at=self.ctx.now(),
        )
        self.db.add(study)
        self.db.flush()
        return study

    def close(self, caller: Account, study_id: uuid.UUID) -> ResearchStudy:
        """End the study before its date: from now it lists nobody."""
        study = self.db.get(ResearchStudy, study_id, with_for_update=True, populate_existing=True)
        accounts = AccountService(self.db, self.ctx)
        if study is None or accounts.membership(caller.id, study.practice_id) is None:
            raise NotFound(NO_STUDY)
        accounts.require(caller, study.practice_id, "studies.manage")
        current_draft().about_practice(study.practice_id)
        if study.closed_at is not None:
            raise Conflict("this study is closed already")
        study.closed_at = self.ctx.now()
        study.closed_by = caller.id
        self.db.flush()
        return study

    def listed(self, caller: Account, practice_id: uuid.UUID) -> list[ListedStudy]:
        """The practice's studies as ``caller`` may see them: every one with the number
        of patients consenting for the members who may read its records (every one
        without it for its other members); for a patient of the practice, those they
        may still join and those they consent to, with their decision."""
        accounts = AccountService(self.db, self.ctx)
        member = accounts.membership(caller.id, practice_id)
        today = paris_today(self.ctx)
        studies = list(
            self.db.scalars(
                select(ResearchStudy)
                .where(ResearchStudy.practice_id == practice_id)
                .order_by(ResearchStudy.starts_on, ResearchStudy.declared_at)
            ).all()
        )
        if caller.kind == AccountKind.PATIENT:
            file_of(self.db, caller.id, practice_id)
            current_draft().about_patient(caller.id, practice_id)  # their decisions are read
            decisions = self._decisions(caller.id, practice_id)
            listed = []
            for study in studies:
                state = study_state(study, today)
                mine = decisions.get(study.id)
                if state in (StudyState.OPEN, StudyState.UPCOMING) or mine == Decision.PERMIT:
                    listed.append(ListedStudy(study, state, None, mine))
            return listed
        if member is None:
            raise NotFound("no such practice")
        accounts.require(caller, practice_id, "members.read")
        current_draft().about_practice(practice_id)
        counts = (
            self._counts(practice_id, today)
            if accounts.allows(caller, practice_id, "records.read")
            else None
        )
        return [
            ListedStudy(
                study,
                study_state(study, today),
                None if counts is None else counts.get(study.id, 0),
                None,
            )
            for study in studies
        ]

    def of_patient(self, study_id: uuid.UUID, practice_id: uuid.UUID) -> ResearchStudy:
        """The study a patient of ``practice_id`` names; another practice's study, or
        none, is not found alike."""
        study = self.db.get(ResearchStudy, study_id)
        if study is None or study.practice_id != practice_id:
            raise NotFound(NO_STUDY)
        return study

    def consenting_patients(self, caller: Account, study_id: uuid.UUID) -> list[uuid.UUID]:
        """The patients of the study's practice who consent to it now (the members who
        may read its records): none once the study is closed or ended, none before it
        starts; a withdrawal counts from the request that recorded it."""
        study = self.db.get(ResearchStudy, study_id)
        accounts = AccountService(self.db, self.ctx)
        if study is None or accounts.membership(caller.id, study.practice_id) is None:
            raise NotFound(NO_STUDY)
        accounts.require(caller, study.practice_id, "records.read")
        if study_state(study, paris_today(self.ctx)) != StudyState.OPEN:
            return []
        patients = list(
            self.db.scalars(
                self._consenting(study.practice_id)
                .where(ConsentDirective.study_id == study.id)
                .order_by(ConsentDirective.patient_id)
            ).all()
        )
        for patient_id in patients:  # each one journaled in their access history
            current_draft().about_patient(patient_id, study.practice_id)
        return patients

    # -- helpers --------------------------------------------------------------------------

    def _consenting(self, practice_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
        """Patients with a research consent in force, a file in the practice and no
        restriction of processing (GDPR art. 18: kept, not used)."""
        restricted = (
            select(RightsRequest.id)
            .where(
                RightsRequest.patient_id == ConsentDirective.patient_id,
                RightsRequest.practice_id == practice_id,
                RightsRequest.right == Right.RESTRICTION,
                RightsRequest.status == RequestStatus.DONE,
                RightsRequest.lifted_at.is_(None),
            )
            .exists()
        )
        return (
            select(ConsentDirective.patient_id)
            .join(
                PatientFile,
                (PatientFile.patient_id == ConsentDirective.patient_id)
                & (PatientFile.practice_id == practice_id),
            )
            .where(
                ConsentDirective.practice_id == practice_id,
                ConsentDirective.purpose == Purpose.RESEARCH,
                ConsentDirective.decision == Decision.PERMIT,
                ConsentDirective.superseded_at.is_(None),
                ~restricted,
            )
        )

    def _counts(self, practice_id: uuid.UUID, today: date) -> dict[uuid.UUID, int]:
        """Patients consenting now, per open study, in one query."""
        consenting = self._consenting(practice_id).add_columns(ConsentDirective.study_id).subquery()
        rows = self.db.execute(
            select(consenting.c.study_id, func.count())
            .join(ResearchStudy, ResearchStudy.id == consenting.c.study_id)
            .where(
                ResearchStudy.closed_at.is_(None),
                ResearchStudy.starts_on <= today,
                ResearchStudy.ends_on >= today,
            )
            .group_by(consenting.c.study_id)
        ).all()
        return {study_id: int(count) for study_id, count in rows}

    def _decisions(
        self, patient_id: uuid.UUID, practice_id: uuid.UUID
    ) -> dict[uuid.UUID, Decision]:
        rows = self.db.execute(
            select(ConsentDirective.study_id, ConsentDirective.decision).where(
                ConsentDirective.patient_id == patient_id,
                ConsentDirective.practice_id == practice_id,
                ConsentDirective.purpose == Purpose.RESEARCH,
                ConsentDirective.study_id.is_not(None),
                ConsentDirective.superseded_at.is_(None),
            )
        ).all()
        return {study_id: Decision(decision) for study_id, decision in rows if study_id}


NO_STUDY = "no such study"


# -- patient rights -----------------------------------------------------------------------

#: GDPR art. 12(3): one month, extendable by two further months with reasons.
GDPR_MONTHS = 1
GDPR_EXTENDED_MONTHS = 3
#: CSP L1111-7: not before 48 hours, within 8 days, or 2 months for information more
#: than 5 years old.
REFLECTION = timedelta(hours=48)
MEDICAL_FILE_DAYS = 8
OLD_INFORMATION_YEARS = 5
OLD_INFORMATION_MONTHS = 2

#: Rights whose request is served by giving the patient every document of the file.
COPY_RIGHTS = frozenset({Right.ACCESS, Right.PORTABILITY, Right.MEDICAL_FILE})

CITATIONS = {
    Right.ACCESS: "GDPR art. 15",
    Right.RECTIFICATION: "GDPR art. 16",
    Right.ERASURE: "GDPR art. 17",
    Right.RESTRICTION: "GDPR art. 18",
    Right.PORTABILITY: "GDPR art. 20",
    Right.OBJECTION: "GDPR art. 21",
    Right.MEDICAL_FILE: "CSP L1111-7",
}


@dataclass(frozen=True)
class Handled:
    request: RightsRequest
    #: Blobs to remove once the transaction that destroyed their keys has committed.
    blob_keys: list[str]


class RightsService:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    # -- the patient ----------------------------------------------------------------------

    def ask(self, patient: Account, practice_id: uuid.UUID, right: Right) -> RightsRequest:
        if patient.kind != AccountKind.PATIENT:
            raise Forbidden("these requests are a patient's, about their own file")
        current_draft().about_patient(patient.id, practice_id)
        patient_file = file_of(self.db, patient.id, practice_id)
        open_already = self.db.scalar(
            select(RightsRequest).where(
                RightsRequest.patient_id == patient.id,
                RightsRequest.practice_id == practice_id,
                RightsRequest.right == right,
                RightsRequest.status.in_(OPEN_STATUSES),
            )
        )
        if open_already is not None:
            raise Conflict(
                f"you already made this request; the practice answers by "
                f"{open_already.due_at.date().isoformat()}"
            )
        now = self.ctx.now()
        earliest = None
        if right == Right.MEDICAL_FILE:
            earliest = now + REFLECTION
            status = RetentionService(self.db, self.ctx).status(patient_file)
            old = add_years(status.facts.last_care_on, OLD_INFORMATION_YEARS) < now.date()
            due = (
                _at(add_months(now.date(), OLD_INFORMATION_MONTHS), now)
                if old
                else now + timedelta(days=MEDICAL_FILE_DAYS)
            )
        else:
            due = _at(add_months(now.date(), GDPR_MONTHS), now)
        request = RightsRequest(
            patient_id=patient.id,
            practice_id=practice_id,
            right=right,
            status=RequestStatus.PENDING,
            received_at=now,
            earliest_at=earliest,
            due_at=due,
        )
        self.db.add(request)
        self.db.flush()
        return request

    def mine(self, patient: Account) -> list[RightsRequest]:
        requests = list(
            self.db.scalars(
                select(RightsRequest)
                .where(RightsRequest.patient_id == patient.id)
                .order_by(RightsRequest.received_at.desc())
            ).all()
        )
        for request in requests:  # journaled in the patient's history, like any read
            current_draft().about_patient(request.patient_id, request.practice_id)
        return requests

    def withdraw(self, patient: Account, request_id: uuid.UUID) -> RightsRequest:
        request = self._own(patient, request_id)
        self._require_open(request)
        request.status = RequestStatus.WITHDRAWN
        request.handled_at = self.ctx.now()
        self.db.flush()
        return request

    def lift(self, patient: Account, request_id: uuid.UUID) -> RightsRequest:
        """End a restriction in force (GDPR art. 18(3))."""
        request = self._own(patient, request_id)
        if request.right != Right.RESTRICTION or request.status != RequestStatus.DONE:
            raise Conflict("only a restriction in force can be lifted")
        if request.lifted_at is not None:
            raise Conflict("this restriction was already lifted")
        request.lifted_at = self.ctx.now()
        self.db.flush()
        return request

    # -- the practice ---------------------------------------------------------------------

    def of_practice(
        self, caller: Account, practice_id: uuid.UUID, *, open_only: bool = True
    ) -> list[RightsRequest]:
        """The practice's requests, the nearest deadline first."""
        AccountService(self.db, self.ctx).require(caller, practice_id, "records.read")
        query = select(RightsRequest).where(RightsRequest.practice_id == practice_id)
        if open_only:
            query = query.where(RightsRequest.status.in_(OPEN_STATUSES))
        requests = list(self.db.scalars(query.order_by(RightsRequest.due_at)).all())
        for request in requests:
            current_draft().about_patient(request.patient_id, practice_id)
        return requests

    def extend(self, caller: Account, request_id: uuid.UUID, reason: str) -> RightsRequest:
        """Two more months, once, told to the patient before the first month ends."""
        request = self._handled_by(caller, request_id)
        self._require_open(request)
        if request.right == Right.MEDICAL_FILE:
            raise Conflict("the medical file's deadline (CSP L1111-7) cannot be extended")
        if request.extended_at is not None:
            raise Conflict("the deadline was already extended once (GDPR art. 12(3))")
        if self.ctx.now() > request.due_at:
            raise Conflict("the deadline has passed: it can no longer be extended")
        request.status = RequestStatus.EXTENDED
        request.extended_at = self.ctx.now()
        request.due_at = _at(
            add_months(request.received_at.date(), GDPR_EXTENDED_MONTHS), request.received_at
        )
        request.reason = reason
        self.db.flush()
        return request

    def complete(self, caller: Account, request_id: uuid.UUID, note: str | None) -> Handled:
        request = self._handled_by(caller, request_id)
        self._require_open(request)
        now = self.ctx.now()
        if request.earliest_at is not None and now < request.earliest_at:
            raise Conflict(
                "the medical file is sent after a 48-hour reflection period (CSP L1111-7): "
                f"not before {request.earliest_at.isoformat(timespec='minutes')}"
            )
        patient_file = file_of(self.db, request.patient_id, request.practice_id)
        if request.right in COPY_RIGHTS:
            missing = self._unshared_versions(patient_file)
            if missing:
                raise Conflict(
                    f"{missing} document version(s) of this file are not shared with the "
                    "patient yet: share them first (uhs rights fulfil does it)"
                )
        if request.right == Right.ERASURE:
            return self._erase(request, patient_file, caller)
        request.status = RequestStatus.DONE
        request.handled_at = now
        request.handled_by = caller.id
        request.reason = note
        self.db.flush()
        if request.right == Right.RESTRICTION:
            ConsentService(self.db, self.ctx).enforce(request.patient_id, request.practice_id)
        return Handled(request, [])

    def refuse(self, caller: Account, request_id: uuid.UUID, reason: str) -> RightsRequest:
        """Refuse with the reasons told to the patient (an erasure is decided by the
        law, not refused by hand)."""
        request = self._handled_by(caller, request_id)
        self._require_open(request)
        if request.right == Right.ERASURE:
            raise Conflict("an erasure is decided by its legal retention: complete it instead")
        request.status = RequestStatus.REFUSED
        request.handled_at = self.ctx.now()
        request.handled_by = caller.id
        request.reason = reason
        self.db.flush()
        return request

    def restricted(self, patient_id: uuid.UUID, practice_id: uuid.UUID) -> bool:
        """A restriction of processing (GDPR art. 18) is in force."""
        return (
            self.db.scalar(
                select(RightsRequest.id).where(
                    RightsRequest.patient_id == patient_id,
                    RightsRequest.practice_id == practice_id,
                    RightsRequest.right == Right.RESTRICTION,
                    RightsRequest.status == RequestStatus.DONE,
                    RightsRequest.lifted_at.is_(None),
                )
            )
            is not None
        )

    # -- helpers --------------------------------------------------------------------------

    def _erase(self, request: RightsRequest, patient_file: PatientFile, caller: Account) -> Handled:
        """Erase now what the file may lose (consent/erasure.py); what its retention
        still requires is refused, citing the legal obligation and the day erasure
        becomes possible. The answer lists each category, erased or kept."""
        retention = RetentionService(self.db, self.ctx)
        status = retention.status(patient_file)
        request.handled_at = self.ctx.now()
        request.handled_by = caller.id
        erasures = ErasureService(self.db, self.ctx)
        if status.holds_data and not status.due(retention.today()):
            keep_until = status.end.keep_until
            request.status = RequestStatus.REFUSED
            request.erasure_from = status.destroyable_from
            when = (
                f"until {keep_until.isoformat()}; it will be erased from "
                f"{request.erasure_from.isoformat()}"
                if request.erasure_from
                else f"for now: its end is {status.end.explanation}"
            )
            request.reason = (
                "Erasure refused under GDPR art. 17(3)(b) (a legal obligation: CSP R1112-7 "
                f"requires the medical file to be kept) and 17(3)(c): kept {when}."
            )
            request.erasure_items = erasures.kept_file(patient_file, status).to_json()
            self.db.flush()
            return Handled(request, [])
        erasure = erasures.erase_file(patient_file, status)
        request.status = RequestStatus.DONE
        erased = {i.category: i.count or 0 for i in erasure.items if i.practice_id is not None}
        request.reason = (
            "Erased: the file's keys were destroyed, its documents "
            f"({erased[ErasureCategory.DOCUMENTS]}) deleted, "
            f"{erased[ErasureCategory.CONVERSATIONS]} conversation(s) with you deleted (a "
            "conversation another practice's file still holds is kept with it) and the "
            "dates its retention depended on erased. Your account, consents and requests "
            "stay: delete your account to erase them."
        )
        request.erasure_items = erasure.to_json()
        self.db.flush()
        return Handled(request, erasure.blob_keys)

    def _unshared_versions(self, patient_file: PatientFile) -> int:
        """Versions of the file's documents the patient holds no key for."""
        shared = (
            select(Share.id)
            .where(
                Share.version_id == DocumentVersion.id,
                Share.recipient_id == patient_file.patient_id,
                Share.usable(self.ctx.now()),
            )
            .exists()
        )
        return int(
            self.db.scalar(
                select(func.count(DocumentVersion.id))
                .join(Document, Document.id == DocumentVersion.document_id)
                .where(Document.patient_file_id == patient_file.id, ~shared)
            )
            or 0
        )

    def _own(self, patient: Account, request_id: uuid.UUID) -> RightsRequest:
        request = self._locked_request(request_id)
        if request is None or request.patient_id != patient.id:
            raise NotFound("no such request")
        current_draft().about_patient(request.patient_id, request.practice_id)
        return request

    def _handled_by(self, caller: Account, request_id: uuid.UUID) -> RightsRequest:
        request = self._locked_request(request_id)
        if request is None:
            raise NotFound("no such request")
        AccountService(self.db, self.ctx).require(caller, request.practice_id, "records.read")
        current_draft().about_patient(request.patient_id, request.practice_id)
        return request

    def _locked_request(self, request_id: uuid.UUID) -> RightsRequest | None:
        """The request, its row held until commit: each change of its state (withdrawn,
        extended, completed, refused, lifted) decides on the state the one before it
        left, so that of a withdrawal and a refusal at once the second is refused
        rather than written over the first."""
        return self.db.get(RightsRequest, request_id, with_for_update=True, populate_existing=True)

    @staticmethod
    def _require_open(request: RightsRequest) -> None:
        if request.status not in OPEN_STATUSES:
            raise Conflict(f"this request is {request.status} already")


def _at(day: date, like: datetime) -> datetime:
    """``day`` at the time of day of ``like`` (a deadline a month after a request)."""
    return datetime.combine(day, like.timetz())
