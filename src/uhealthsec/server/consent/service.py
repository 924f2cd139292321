"""The patient's say over who receives their documents (CSP L1110-4). No HTTP here.

Within the care team (the professionals and staff of the practice that holds the file)
sharing is allowed once the patient is informed, unless they objected; outside it,
sharing needs their prior consent. A directive about one professional prevails over
the directive about everyone the purpose covers. Changes take effect at once: a
directive that narrows sharing ends every share it no longer allows, by erasing the
wrapped key the server held for that person.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from uhealthsec.server.accounts.models import (
    Account,
    AccountKind,
    AccountStatus,
    Membership,
    Role,
)
from uhealthsec.server.accounts.service import normalize_email
from uhealthsec.server.audit.middleware import current_draft
from uhealthsec.server.consent.models import ConsentDirective, Decision, Purpose
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import Conflict, Forbidden, NotFound
from uhealthsec.server.records.models import Document, PatientFile, Share

#: The members of a practice who form the patient's care team there.
CARE_TEAM_ROLES = frozenset({Role.ADMIN, Role.PRACTITIONER, Role.SECRETARY})

#: Without a directive: the care team may share (the patient can object); nobody
#: outside it may (the patient must consent first). Research always needs consent.
DEFAULTS = {
    Purpose.CARE_TEAM: Decision.PERMIT,
    Purpose.OUTSIDE_TEAM: Decision.DENY,
    Purpose.RESEARCH: Decision.DENY,
}


@dataclass(frozen=True)
class SharingRuling:
    allowed: bool
    purpose: Purpose
    #: Why, in words for the person sharing (cites the article when refused).
    reason: str


@dataclass(frozen=True)
class RecordedDirective:
    directive: ConsentDirective
    #: Shares ended at once because the directive no longer allows them.
    shares_ended: int


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
    ) -> RecordedDirective:
        """A new version of the patient's directive for this practice, purpose and
        recipient; applied to existing shares before the request ends."""
        if patient.kind != AccountKind.PATIENT:
            raise Forbidden("only patients decide who may receive their documents")
        current_draft().about_patient(patient.id, practice_id)
        if self._patient_file(patient.id, practice_id) is None:
            raise NotFound("you have no file in this practice")
        recipient = self._professional(recipient_email) if recipient_email else None
        recipient_id = recipient.id if recipient else None
        # The patient's row is the lock that orders their versions.
        self.db.execute(select(Account.id).where(Account.id == patient.id).with_for_update())
        previous = self._directive(patient.id, practice_id, purpose, recipient_id)
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
            created_at=now,
        )
        try:
            with self.db.begin_nested():
                self.db.add(directive)
        except IntegrityError as exc:
            # Another change of the same patient's took this version number first
            # (SQLite has no row lock to make it wait).
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
        if recipient.id == patient_file.patient_id:
            return SharingRuling(True, Purpose.CARE_TEAM, "the patient's own file")
        in_team = self._in_care_team(recipient.id, patient_file.practice_id)
        purpose = Purpose.CARE_TEAM if in_team else Purpose.OUTSIDE_TEAM
        specific = self._directive(
            patient_file.patient_id, patient_file.practice_id, purpose, recipient.id
        )
        general = self._directive(patient_file.patient_id, patient_file.practice_id, purpose, None)
        chosen = specific or general
        decision = Decision(chosen.decision) if chosen else DEFAULTS[purpose]
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
        else:
            reason = (
                "sharing outside the patient's care team needs the patient's prior consent "
                "(CSP L1110-4); the patient can give it in their consents"
            )
        return SharingRuling(False, purpose, reason)

    def enforce(self, patient_id: uuid.UUID, practice_id: uuid.UUID) -> int:
        """End every share of the patient's file in this practice that the directives
        in force no longer allow. The author of a document keeps their own copy."""
        patient_file = self._patient_file(patient_id, practice_id)
        if patient_file is None:
            return 0
        rows = self.db.execute(
            select(Share, Account)
            .join(Document, Document.id == Share.document_id)
            .join(Account, Account.id == Share.recipient_id)
            .where(
                Document.patient_file_id == patient_file.id,
                Share.recipient_id != Document.author_id,
                Share.active(),
            )
        ).all()
        rulings: dict[uuid.UUID, SharingRuling] = {}
        ended = 0
        for share, recipient in rows:
            if recipient.id not in rulings:
                rulings[recipient.id] = self.ruling(patient_file, recipient)
            ruling = rulings[recipient.id]
            if not ruling.allowed:
                reason = "objection" if ruling.purpose == Purpose.CARE_TEAM else "consent withdrawn"
                share.end(self.ctx.now(), patient_id, reason)
                ended += 1
        self.db.flush()
        return ended

    # -- helpers --------------------------------------------------------------------------

    def _directive(
        self,
        patient_id: uuid.UUID,
        practice_id: uuid.UUID,
        purpose: Purpose,
        recipient_id: uuid.UUID | None,
    ) -> ConsentDirective | None:
        recipient = (
            ConsentDirective.recipient_id.is_(None)
            if recipient_id is None
            else ConsentDirective.recipient_id == recipient_id
        )
        return self.db.scalar(
            select(ConsentDirective).where(
                ConsentDirective.patient_id == patient_id,
                ConsentDirective.practice_id == practice_id,
                ConsentDirective.purpose == purpose,
                recipient,
                ConsentDirective.superseded_at.is_(None),
            )
        )

    def _in_care_team(self, account_id: uuid.UUID, practice_id: uuid.UUID) -> bool:
        role = self.db.scalar(
            select(Membership.role).where(
                Membership.account_id == account_id, Membership.practice_id == practice_id
            )
        )
        return role is not None and Role(role) in CARE_TEAM_ROLES

    def _patient_file(self, patient_id: uuid.UUID, practice_id: uuid.UUID) -> PatientFile | None:
        return self.db.scalar(
            select(PatientFile).where(
                PatientFile.patient_id == patient_id, PatientFile.practice_id == practice_id
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
