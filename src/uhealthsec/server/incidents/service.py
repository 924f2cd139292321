"""The breach register (GDPR art. 33 and 34, R20, R21). No HTTP here.

An independent practitioner has no DPO: the register is kept for them. Each incident
of a practice records what art. 33(3) asks, counts from the journal the patients and
documents reached, runs the 72-hour clock from the awareness time, records the
notifications to the CNIL (an initial one, then complements, art. 33(4)) and the
decisions: to notify or not (33(5)), to tell the people concerned or not (34), with
their reasons.

Who: the practice's admins (those who read its journal), and the operators the
server's settings list (``UHS_INCIDENT_OPERATORS``), across practices. Anyone else is
answered as if the incident did not exist.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from uhealthsec.crypto.journal import JournalEntry, ObjectKind, Outcome
from uhealthsec.server.accounts.models import (
    Account,
    AccountKind,
    AccountStatus,
    Membership,
    Practice,
    Role,
)
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.audit.outbox import stage_entry, stage_worker_entry
from uhealthsec.server.audit.service import JournalService
from uhealthsec.server.audit.writer import PendingEntry
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests
from uhealthsec.server.incidents.anomalies.models import AnomalyAlert
from uhealthsec.server.incidents.exposure import clear_metadata_text
from uhealthsec.server.incidents.models import (
    Incident,
    IncidentNotice,
    IncidentNotification,
    IncidentPatient,
)
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.mail.outbox import MailOutbox

#: Art. 33(1): the CNIL is notified within 72 hours of awareness.
DEADLINE = timedelta(hours=72)
#: Less than this left: the clock says "due soon".
DUE_SOON = timedelta(hours=24)
#: The worker's reminders, after awareness, while neither notified nor decided.
REMINDERS = (timedelta(hours=48), timedelta(hours=66))
#: Bounds: a practice opens at most this many incidents a day; an incident takes at
#: most this many notifications, and a count spans at most this long.
OPENED_PER_DAY = 20
#: Changes to one incident in an hour; a count from the journal (which reads up to a
#: year of entries) costs as much as COUNT_COST changes.
WRITES_PER_HOUR = 60
COUNT_COST = 6
MAX_NOTIFICATIONS = 20
MAX_COUNT_PERIOD = timedelta(days=366)
MAX_COUNT_ACCOUNTS = 50
#: Incident.contact's length.
CONTACT_LENGTH = 300
#: A written reason is a sentence, not a word.
MIN_REASON = 10
NOTIFY_PATIENT_ACTION = "incidents.notice_sent"
REMIND_ACTION = "incidents.reminder"


class Nature(StrEnum):
    CONFIDENTIALITY = "confidentiality"
    INTEGRITY = "integrity"
    AVAILABILITY = "availability"


class Clock(StrEnum):
    ON_TIME = "on_time"
    DUE_SOON = "due_soon"
    LATE = "late"
    NOTIFIED = "notified"
    NOTIFIED_LATE = "notified_late"
    NOT_NOTIFIABLE = "not_notifiable"


class Decision(StrEnum):
    NOTIFIABLE = "notifiable"
    NOT_NOTIFIABLE = "not_notifiable"


class PeopleDecision(StrEnum):
    #: Art. 34(1): a high risk; each patient concerned is told.
    TELL = "tell"
    #: Art. 34(3)(a): only end-to-end encrypted content was exposed.
    UNINTELLIGIBLE = "unintelligible"
    #: No high risk to the people's rights and freedoms (the reason says why).
    NO_HIGH_RISK = "no_high_risk"


@dataclass
class IncidentFields:
    """What an admin writes; None leaves a field as it is (an update)."""

    nature: Sequence[Nature] | None = None
    description: str | None = None
    data_categories: str | None = None
    people_categories: str | None = None
    people_estimate: int | None = None
    records_estimate: int | None = None
    contact: str | None = None
    consequences: str | None = None
    measures_taken: str | None = None
    measures_planned: str | None = None
    aware_at: datetime | None = None


def clock_state(incident: Incident, first_notification: datetime | None, now: datetime) -> Clock:
    """Where the 72 hours stand: a notification at the deadline itself is on time."""
    deadline = incident.aware_at + DEADLINE
    if first_notification is not None:
        return Clock.NOTIFIED if first_notification <= deadline else Clock.NOTIFIED_LATE
    if incident.decision == Decision.NOT_NOTIFIABLE:
        return Clock.NOT_NOTIFIABLE
    if now > deadline:
        return Clock.LATE
    return Clock.DUE_SOON if deadline - now < DUE_SOON else Clock.ON_TIME


class IncidentService:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    # -- who --------------------------------------------------------------------------

    def is_operator(self, account: Account) -> bool:
        listed = {m.strip().lower() for m in self.ctx.settings.incident_operators}
        return account.email in listed

    def _require_keeper(self, caller: Account, practice_id: uuid.UUID) -> None:
        """An admin of the practice (who reads its journal) or an operator; a member
        without the right is refused, anyone else learns nothing of the practice."""
        if not self.is_operator(caller):
            AccountService(self.db, self.ctx).require(caller, practice_id, "journal.read")
        current_draft().about_practice(practice_id)

    def refuse_subject(
        self, caller: Account, practice_id: uuid.UUID, subject_id: uuid.UUID
    ) -> None:
        """Whom an anomaly alert is about does not decide it, nor the incident opened from
        it, while someone else can; neither does a member whose identity the subject
        vouched for (an admin the subject made to decide for them). Someone else is a
        verified, active admin of the practice not vouched for by the subject, or another
        operator (an operator who is the subject is not exempt). A practice with nobody
        else keeps who decided."""
        if caller.id != subject_id:
            vouched_by = self.db.scalar(
                select(Membership.identity_verified_by).where(
                    Membership.practice_id == practice_id, Membership.account_id == caller.id
                )
            )
            if vouched_by != subject_id:
                return
        other_admins = self.db.scalar(
            select(func.count())
            .select_from(Membership)
            .join(Account, Account.id == Membership.account_id)
            .where(
                Membership.practice_id == practice_id,
                Membership.role == Role.ADMIN,
                Membership.account_id.not_in([caller.id, subject_id]),
                (Membership.identity_verified_by.is_(None))
                | (Membership.identity_verified_by != subject_id),
                Account.status == AccountStatus.ACTIVE,
                Account.identity_verified_at.is_not(None),
            )
        )
        subject = self.db.get(Account, subject_id)
        other_operators = {m.strip().lower() for m in self.ctx.settings.incident_operators} - {
            caller.email.lower(),
            subject.email.lower() if subject is not None else "",
        }
        if (other_admins or 0) > 0 or other_operators:
            raise Forbidden(
                "this alert is about your own account, or the account that vouched for you: "
                "another admin of the practice, or an operator, decides it and the incident "
                "opened from it"
            )

    def incident(self, caller: Account, incident_id: uuid.UUID, *, writes: int = 0) -> Incident:
        """The incident, if the caller keeps its practice's register; with ``writes``,
        locked and that many changes counted against its hourly bound, and refused to
        the account an anomaly alert it was opened from is about."""
        incident = self.db.get(Incident, incident_id, with_for_update=writes > 0)
        if incident is None or not (
            self.is_operator(caller)
            or AccountService(self.db, self.ctx).allows(
                caller, incident.practice_id, "journal.read"
            )
        ):
            raise NotFound("no such incident, or it is not yours to see")
        current_draft().about_practice(incident.practice_id)
        if writes:
            for subject in self.db.scalars(
                select(AnomalyAlert.subject_id).where(
                    AnomalyAlert.incident_id == incident.id, AnomalyAlert.subject_kind == "account"
                )
            ):
                self.refuse_subject(caller, incident.practice_id, subject)
            self._count_writes(incident, writes)
        return incident

    def _count_writes(self, incident: Incident, writes: int) -> None:
        now = self.ctx.now()
        started = incident.window_started_at
        if started is None or not started <= now < started + timedelta(hours=1):
            incident.window_started_at, incident.window_writes = now, 0
            started = now
        if incident.window_writes + writes > WRITES_PER_HOUR:
            retry = max(1, int((started + timedelta(hours=1) - now).total_seconds()))
            raise TooManyRequests(
                f"at most {WRITES_PER_HOUR} changes an hour to one incident (a count from "
                f"the journal is {COUNT_COST}): try again in {retry // 60 + 1} minutes",
                retry,
            )
        incident.window_writes += writes

    # -- the register -----------------------------------------------------------------

    def open(self, caller: Account, practice_id: uuid.UUID, fields: IncidentFields) -> Incident:
        if self.db.get(Practice, practice_id) is None:
            raise NotFound("no such practice, or you are not one of its members")
        self._require_keeper(caller, practice_id)
        now = self.ctx.now()
        opened = self.db.scalar(
            select(func.count())
            .select_from(Incident)
            .where(
                Incident.practice_id == practice_id, Incident.created_at > now - timedelta(days=1)
            )
        )
        if (opened or 0) >= OPENED_PER_DAY:
            raise TooManyRequests(
                f"at most {OPENED_PER_DAY} incidents a day for one practice: add to an open one",
                3600,
            )
        if not fields.nature:
            raise InvalidInput("say the breach's nature: confidentiality, integrity, availability")
        if not (fields.description or "").strip():
            raise InvalidInput("describe the breach")
        incident = Incident(
            id=uuid.uuid4(),
            practice_id=practice_id,
            opened_by=caller.id,
            created_at=now,
            updated_at=now,
            aware_at=now,
            nature="",
            description="",
            window_writes=0,
            contact=self._default_contact(caller, practice_id),
        )
        self._apply(incident, fields)
        self.db.add(incident)
        self.db.flush()
        current_draft().note(ObjectKind.PRACTICE, practice_id)
        return incident

    def update(self, caller: Account, incident_id: uuid.UUID, fields: IncidentFields) -> Incident:
        incident = self.incident(caller, incident_id, writes=1)
        if (
            fields.aware_at is not None
            and fields.aware_at != incident.aware_at
            and self.first_notification(incident) is not None
        ):
            raise Conflict(
                "the awareness time cannot change once the CNIL was notified: say it in a "
                "complementary notification"
            )
        if fields.nature is not None and not fields.nature:
            raise InvalidInput("say the breach's nature: confidentiality, integrity, availability")
        if fields.description is not None and not fields.description.strip():
            raise InvalidInput("the description cannot be empty")
        self._apply(incident, fields)
        self.db.flush()
        return incident

    def _apply(self, incident: Incident, fields: IncidentFields) -> None:
        now = self.ctx.now()
        if fields.aware_at is not None:
            if fields.aware_at > now:
                raise InvalidInput("the awareness time cannot be in the future")
            incident.aware_at = fields.aware_at
        if fields.nature is not None:
            incident.nature = ",".join(n.value for n in Nature if n in set(fields.nature))
        for name in (
            "description",
            "data_categories",
            "people_categories",
            "people_estimate",
            "records_estimate",
            "contact",
            "consequences",
            "measures_taken",
            "measures_planned",
        ):
            value = getattr(fields, name)
            if value is not None:
                setattr(incident, name, value.strip() if isinstance(value, str) else value)
        incident.updated_at = now

    def _default_contact(self, caller: Account, practice_id: uuid.UUID) -> str:
        """The DPO's, if the server has one (UHS_DPO_CONTACT), else the practice's: its
        name and the address of the admin who opened it (or its first admin)."""
        if self.ctx.settings.dpo_contact:
            return self.ctx.settings.dpo_contact
        practice = self.db.get(Practice, practice_id)
        address = caller.email
        if self.is_operator(caller) and not AccountService(self.db, self.ctx).is_admin(
            caller.id, practice_id
        ):
            admins = self._admin_addresses(practice_id)
            address = admins[0] if admins else caller.email
        contact = f"{practice.name if practice else ''} <{address}>".strip()
        # The column's length: a long practice name gives way, the address stays whole.
        return contact if len(contact) <= CONTACT_LENGTH else f"<{address}>"[:CONTACT_LENGTH]

    def register(self, caller: Account, practice_id: uuid.UUID) -> list[Incident]:
        """Every incident of the practice, notified or not (art. 33(5)), newest first."""
        if self.db.get(Practice, practice_id) is None:
            raise NotFound("no such practice, or you are not one of its members")
        self._require_keeper(caller, practice_id)
        return list(
            self.db.scalars(
                select(Incident)
                .where(Incident.practice_id == practice_id)
                .order_by(Incident.created_at.desc(), Incident.id)
            )
        )

    # -- numbers from the journal -----------------------------------------------------

    def count(
        self,
        caller: Account,
        incident_id: uuid.UUID,
        since: datetime,
        until: datetime | None,
        accounts: Sequence[uuid.UUID] | None = None,
    ) -> Incident:
        """Count the patients and documents that journaled actions of the practice (by
        ``accounts`` only, if given) touched in [since, until) (until now if None), and prefill the
        approximate numbers the practice has not given; the patients counted are those
        told if the practice decides to tell them."""
        incident = self.incident(caller, incident_id, writes=COUNT_COST)
        if until is None:
            # Now, this instant included: the server's clock, not the client's.
            until = self.ctx.now() + timedelta(microseconds=1)
        if not since < until:
            raise InvalidInput("the period's start must be before its end")
        if until - since > MAX_COUNT_PERIOD:
            raise InvalidInput("count over a year at most")
        if until > self.ctx.now() + timedelta(days=1):
            raise InvalidInput("the period cannot end in the future")
        actors = list(dict.fromkeys(accounts)) if accounts else None
        if actors is not None and len(actors) > MAX_COUNT_ACCOUNTS:
            raise InvalidInput(f"name {MAX_COUNT_ACCOUNTS} accounts at most")
        touched = JournalService(self.db, self.ctx).touched(
            incident.practice_id, since, until, actors
        )
        # Only the practice's patients are told: a listing may name others.
        patients = (
            set(
                self.db.scalars(
                    select(Membership.account_id).where(
                        Membership.practice_id == incident.practice_id,
                        Membership.role == Role.PATIENT,
                        Membership.account_id.in_(touched.patients),
                    )
                )
            )
            if touched.patients
            else set()
        )
        # The latest count says who is concerned: a narrower one after a broad one
        # must not leave the broad one's patients to be told.
        self.db.execute(delete(IncidentPatient).where(IncidentPatient.incident_id == incident.id))
        for patient_id in sorted(patients):
            self.db.add(IncidentPatient(incident_id=incident.id, patient_id=patient_id))
        incident.people_counted = len(touched.patients)
        incident.records_counted = len(touched.documents)
        if incident.people_estimate is None:
            incident.people_estimate = incident.people_counted
        if incident.records_estimate is None:
            incident.records_estimate = incident.records_counted
        incident.counted_from, incident.counted_until = since, until
        incident.counted_accounts = ",".join(str(a) for a in actors or [])
        incident.updated_at = self.ctx.now()
        self.db.flush()
        return incident

    def patients(self, incident: Incident) -> list[uuid.UUID]:
        return list(
            self.db.scalars(
                select(IncidentPatient.patient_id)
                .where(IncidentPatient.incident_id == incident.id)
                .order_by(IncidentPatient.patient_id)
            )
        )

    # -- notification to the CNIL (art. 33) -------------------------------------------

    def notifications(self, incident: Incident) -> list[IncidentNotification]:
        return list(
            self.db.scalars(
                select(IncidentNotification)
                .where(IncidentNotification.incident_id == incident.id)
                # The initial one first, even made in the same instant as a complement.
                .order_by(
                    IncidentNotification.made_at,
                    case((IncidentNotification.kind == "initial", 0), else_=1),
                    IncidentNotification.id,
                )
            )
        )

    def first_notification(self, incident: Incident) -> datetime | None:
        return self.db.scalar(
            select(func.min(IncidentNotification.made_at)).where(
                IncidentNotification.incident_id == incident.id
            )
        )

    def clock(self, incident: Incident) -> Clock:
        return clock_state(incident, self.first_notification(incident), self.ctx.now())

    def notify(
        self,
        caller: Account,
        incident_id: uuid.UUID,
        *,
        complementary: bool = False,
        complement: str = "",
        delay_reasons: str = "",
    ) -> IncidentNotification:
        """Record that the CNIL was notified now, with what the form says now. The
        initial notification made after the deadline must give the reasons for the
        delay (art. 33(1)); a complement (33(4)) follows an initial one and says what
        it adds."""
        incident = self.incident(caller, incident_id, writes=1)
        made = self.notifications(incident)
        now = self.ctx.now()
        if len(made) >= MAX_NOTIFICATIONS:
            raise TooManyRequests(
                f"at most {MAX_NOTIFICATIONS} notifications for one incident", 3600
            )
        if incident.decision == Decision.NOT_NOTIFIABLE:
            raise Conflict(
                "this incident was decided not notifiable: decide again that it is before "
                "notifying it"
            )
        if complementary:
            if not made:
                raise Conflict("make the initial notification first")
            if len(complement.strip()) < MIN_REASON:
                raise InvalidInput("say what the complementary notification adds")
            kind = "complementary"
        else:
            if made:
                raise Conflict("the CNIL was already notified: send a complementary notification")
            if now > incident.aware_at + DEADLINE and len(delay_reasons.strip()) < MIN_REASON:
                raise InvalidInput(
                    "the 72 hours since awareness are over: a late notification must give "
                    "the reasons for the delay (GDPR art. 33(1))"
                )
            kind = "initial"
            incident.decision = Decision.NOTIFIABLE
            incident.decided_at = incident.decided_at or now
        notification = IncidentNotification(
            id=uuid.uuid4(),
            incident_id=incident.id,
            kind=kind,
            made_at=now,
            made_by=caller.id,
            content="",
            complement=complement.strip(),
            delay_reasons=delay_reasons.strip(),
        )
        notification.content = json.dumps(
            self.form(incident, extra=notification), ensure_ascii=False, sort_keys=False
        )
        self.db.add(notification)
        incident.updated_at = now
        self.db.flush()
        return notification

    def decide(
        self, caller: Account, incident_id: uuid.UUID, decision: Decision, reason: str
    ) -> Incident:
        """Art. 33: notifiable or not; "not notifiable" (unlikely to result in a risk)
        needs a written reason, and cannot follow a notification."""
        incident = self.incident(caller, incident_id, writes=1)
        if decision == Decision.NOT_NOTIFIABLE:
            if self.first_notification(incident) is not None:
                raise Conflict("the CNIL was already notified of this incident")
            if len(reason.strip()) < MIN_REASON:
                raise InvalidInput(
                    "say in writing why the breach is unlikely to result in a risk to the "
                    "people's rights and freedoms"
                )
        incident.decision = decision
        incident.decision_reason = reason.strip()
        incident.decided_at = self.ctx.now()
        incident.updated_at = incident.decided_at
        self.db.flush()
        return incident

    # -- the people concerned (art. 34) -----------------------------------------------

    def decide_people(
        self,
        caller: Account,
        incident_id: uuid.UUID,
        decision: PeopleDecision,
        reason: str = "",
        message: str = "",
    ) -> Incident:
        """Art. 34: tell the people concerned or not. "unintelligible" (34(3)(a)) records
        the metadata the server holds in clear (exposure.py); "tell" sends each patient
        counted a clear-language notice, once, by mail and in their notices."""
        incident = self.incident(caller, incident_id, writes=1)
        if incident.people_decision == PeopleDecision.TELL:
            raise Conflict("the people concerned were already told")
        now = self.ctx.now()
        if decision == PeopleDecision.NO_HIGH_RISK and len(reason.strip()) < MIN_REASON:
            raise InvalidInput("say in writing why the breach is unlikely to be a high risk")
        if decision == PeopleDecision.UNINTELLIGIBLE:
            if Nature.CONFIDENTIALITY not in incident.nature.split(","):
                raise InvalidInput(
                    "art. 34(3)(a) is about data exposed to someone: the breach's nature "
                    "must include confidentiality"
                )
            incident.clear_metadata = clear_metadata_text()
        else:
            incident.clear_metadata = ""
        if decision == PeopleDecision.TELL:
            patients = self.patients(incident)
            if not patients:
                raise Conflict(
                    "no patient is counted for this incident: count them from the journal first"
                )
            text = notice_text(incident, message.strip())
            mail = MailOutbox(self.db, self.ctx)
            for patient in self.db.scalars(
                select(Account).where(Account.id.in_(patients)).order_by(Account.id)
            ):
                self.db.add(
                    IncidentNotice(
                        id=uuid.uuid4(),
                        incident_id=incident.id,
                        patient_id=patient.id,
                        sent_at=now,
                        text=text,
                    )
                )
                if patient.kind == AccountKind.PATIENT:
                    mail.send(patient.email, "Violation de données vous concernant", text)
                stage_entry(self.db, self._notice_entry(caller, incident, patient.id), now)
        incident.people_decision = decision
        incident.people_reason = reason.strip()
        incident.people_decided_at = now
        incident.updated_at = now
        self.db.flush()
        return incident

    def _notice_entry(
        self, caller: Account, incident: Incident, patient_id: uuid.UUID
    ) -> PendingEntry:
        """One entry per patient told: it shows in their access history."""
        entry = JournalEntry(
            timestamp_ms=int(self.ctx.now().timestamp() * 1000),
            actor=caller.id,
            action=NOTIFY_PATIENT_ACTION,
            outcome=Outcome.DONE,
            status=200,
            objects=((ObjectKind.PATIENT, patient_id), (ObjectKind.PRACTICE, incident.practice_id)),
            client="uhs-server",
        )
        return PendingEntry(entry, (patient_id,), incident.practice_id)

    def my_notices(self, caller: Account) -> list[IncidentNotice]:
        """The notices of breaches a patient was sent, newest first."""
        if caller.kind != AccountKind.PATIENT:
            return []
        current_draft().about_patient(caller.id, None)
        return list(
            self.db.scalars(
                select(IncidentNotice)
                .where(IncidentNotice.patient_id == caller.id)
                .order_by(IncidentNotice.sent_at.desc(), IncidentNotice.id)
                .limit(100)
            )
        )

    # -- the form, as the CNIL's online notification asks it --------------------------

    def form(
        self, incident: Incident, extra: IncidentNotification | None = None
    ) -> dict[str, object]:
        from uhealthsec.server.incidents.export import cnil_form

        practice = self.db.get(Practice, incident.practice_id)
        notifications = self.notifications(incident)
        if extra is not None:
            notifications.append(extra)
        return cnil_form(
            incident,
            practice.name if practice else "",
            notifications,
            self.clock(incident),
        )

    # -- the worker's reminders -------------------------------------------------------

    def _admin_addresses(self, practice_id: uuid.UUID) -> list[str]:
        return list(
            self.db.scalars(
                select(Account.email)
                .join(Membership, Membership.account_id == Account.id)
                .where(Membership.practice_id == practice_id, Membership.role == Role.ADMIN)
                .order_by(Account.email)
            )
        )

    def send_reminders(self) -> int:
        """Mail the practice's admins 48 and 66 hours after awareness while the incident
        is neither notified nor decided not notifiable: each reminder once (the row is
        locked, so two workers send it once). At 66 hours and more, the 48-hour one
        is not sent as well."""
        now = self.ctx.now()
        notified = select(IncidentNotification.incident_id)
        candidates = self.db.scalars(
            select(Incident)
            .where(
                Incident.aware_at <= now - REMINDERS[0],
                Incident.aware_at > now - DEADLINE - timedelta(days=30),
                Incident.reminded_66h_at.is_(None),
                Incident.decision.is_distinct_from(Decision.NOT_NOTIFIABLE),
                Incident.id.not_in(notified),
            )
            .order_by(Incident.aware_at)
            .with_for_update(skip_locked=True)
        ).all()
        sent = 0
        mail = MailOutbox(self.db, self.ctx)
        for incident in candidates:
            elapsed = now - incident.aware_at
            if elapsed >= REMINDERS[1]:
                incident.reminded_66h_at = now
                incident.reminded_48h_at = incident.reminded_48h_at or now
            elif incident.reminded_48h_at is None:
                incident.reminded_48h_at = now
            else:
                continue
            deadline = incident.aware_at + DEADLINE
            left = max(timedelta(0), deadline - now)
            hours = int(left.total_seconds() // 3600)
            for address in self._admin_addresses(incident.practice_id):
                mail.send(
                    address,
                    f"Violation de données : notification à la CNIL dans {hours} h",
                    reminder_text(incident, deadline, hours),
                )
            stage_worker_entry(self.db, REMIND_ACTION, incident.practice_id, now)
            sent += 1
        self.db.flush()
        return sent


def reminder_text(incident: Incident, deadline: datetime, hours: int) -> str:
    when = f"le {deadline:%d/%m/%Y à %H:%M} UTC"
    if hours > 0:
        due = f"avant {when}, soit dans environ {hours} heure(s)."
    else:
        due = (
            f"avant {when} : le délai est passé, notifiez sans attendre en donnant les "
            "motifs du retard."
        )
    return (
        "Bonjour,\n\n"
        f"Une violation de données a été enregistrée dans votre cabinet (incident "
        f"{incident.id}). Si elle présente un risque pour les personnes, elle doit être "
        f"notifiée à la CNIL {due}\n\n"
        f"Pour préparer la notification : uhs incident export {incident.id} --format md\n"
        f"Pour l'enregistrer une fois faite : uhs incident notify {incident.id}\n"
        f"Si elle ne présente aucun risque : uhs incident decide {incident.id} "
        '--not-notifiable --reason "..."\n'
    )


def notice_text(incident: Incident, message: str) -> str:
    """The clear-language notice a patient concerned receives (art. 34(2)): what
    happened, what it may mean, what was done, whom to ask."""
    parts = [
        "Bonjour,",
        "Votre cabinet de santé vous informe d'une violation de données personnelles qui "
        "peut vous concerner.",
        f"Ce qui s'est passé : {incident.description}",
    ]
    if incident.consequences:
        parts.append(f"Conséquences possibles : {incident.consequences}")
    if incident.measures_taken or incident.measures_planned:
        measures = " ".join(x for x in (incident.measures_taken, incident.measures_planned) if x)
        parts.append(f"Ce que nous avons fait et allons faire : {measures}")
    if message:
        parts.append(message)
    parts.append(f"Pour toute question : {incident.contact}")
    return "\n\n".join(parts) + "\n"
