"""Anomaly alerts over the journal (R22). No HTTP here.

The rules (rules.py) are evaluated by ``uhs-server worker`` in each of its short
rounds (every ``--mail-interval`` seconds, 15 by default), over the entries appended
since the position it stored, not by the journal's writer: the writer's batch holds
the journal's lock on the critical path of every journaled read, and the rules read
windows of history and each account's usual rate, which would lengthen every batch.
An alert is therefore raised within one round of the entry that fires it.

Each alert opened is stored, mailed to the practice's admins (the mail outbox),
journaled (``incidents.alert_raised``) and counted (``uhs_anomaly_alerts_total{rule}``).
The practice's admins, and the operators of ``UHS_INCIDENT_OPERATORS``, list the open
alerts, dismiss one with a reason, or open an incident of the breach register from it;
anyone else is answered as if the practice or alert did not exist.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from prometheus_client.metrics_core import CounterMetricFamily, Metric
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from uhealthsec.crypto.journal import JournalEntry, ObjectKind, Outcome
from uhealthsec.server.accounts.models import Account, Membership, Practice, Role
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.audit.models import (
    JournalNetworkRecord,
    JournalPatient,
    JournalRecord,
    ReadBudgetCount,
    ReadCount,
)
from uhealthsec.server.audit.outbox import stage_worker_entry
from uhealthsec.server.audit.refusals import JOURNALED_READS_PER_MINUTE, READ_WINDOW
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import Conflict, InvalidInput, NotFound
from uhealthsec.server.incidents.anomalies.models import (
    AnomalyAlert,
    AnomalyPosition,
    AnomalySettings,
    AnomalySettingsChange,
)
from uhealthsec.server.incidents.anomalies.rules import (
    ACCOUNT,
    EMERGENCY_ACTIONS,
    PARIS,
    Detection,
    Fact,
    Rule,
    Throttle,
    evaluate,
)
from uhealthsec.server.incidents.anomalies.thresholds import DEFAULTS, Thresholds
from uhealthsec.server.incidents.service import IncidentFields, IncidentService, Nature
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.mail.outbox import MailOutbox
from uhealthsec.server.shield.networks import network_of

logger = logging.getLogger(__name__)

OPEN, DISMISSED, INCIDENT = "open", "dismissed", "incident"
STATUSES = (OPEN, DISMISSED, INCIDENT)
RAISED_ACTION = "incidents.alert_raised"
#: The journal's entries one evaluation reads at most (then the next round goes on).
BATCH = 10_000
#: A first evaluation starts with the last day's entries, not the whole past.
FIRST_LOOK_BACK = timedelta(days=1)
#: Alerts of one rule and subject kind mailed per practice per day: past it they are
#: only listed (a flood of mail would bury the first ones). Each rule and kind has
#: its own budget, so that a flood of one (denials about patients, which any outsider
#: can cause) does not silence the others.
MAILS_PER_DAY = 20
#: Rules whose alerts are always mailed: raised about the practice's own staff only
#: (so bounded by its size), and the ones a scrape raises.
ALWAYS_MAILED = frozenset(
    {
        Rule.MASS_DOWNLOAD,
        Rule.OFF_HOURS,
        Rule.READ_THROTTLE,
        Rule.TWO_NETWORKS,
        Rule.NEW_NETWORK_READS,
        Rule.EMERGENCY,
    }
)
#: Alerts one listing shows at most (newest first).
LISTED = 200
MIN_REASON = 10
#: Changes of the thresholds ``GET anomaly-settings`` shows (newest first).
CHANGES_SHOWN = 20
JOURNAL_POSITION = "journal"
_IN_CHUNK = 500

LABELS = {
    Rule.MASS_DOWNLOAD: "téléchargement massif",
    Rule.OFF_HOURS: "accès hors des heures du cabinet",
    Rule.REPEATED_DENIALS: "refus répétés",
    Rule.READ_THROTTLE: "lectures freinées (budget de lecture épuisé)",
    Rule.TWO_NETWORKS: "deux réseaux en quelques minutes",
    Rule.NEW_NETWORK_READS: "nouveau réseau puis lectures en nombre",
    Rule.EMERGENCY: "accès d'urgence",
}


@dataclass(frozen=True)
class Evaluated:
    entries: int
    opened: int
    extended: int


class _Directory:
    """The rules' view of the database (rules.Directory), cached for one evaluation."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self._members: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {}
        self._thresholds: dict[uuid.UUID, Thresholds] = {}

    def _memberships(self, account: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
        if account not in self._members:
            self._members[account] = [
                (r.practice_id, r.role)
                for r in self.db.execute(
                    select(Membership.practice_id, Membership.role).where(
                        Membership.account_id == account
                    )
                )
            ]
        return self._members[account]

    def preload(self, accounts: Iterable[uuid.UUID]) -> None:
        wanted = [a for a in set(accounts) if a not in self._members]
        for start in range(0, len(wanted), _IN_CHUNK):
            part = wanted[start : start + _IN_CHUNK]
            found: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {a: [] for a in part}
            for row in self.db.execute(
                select(Membership.account_id, Membership.practice_id, Membership.role).where(
                    Membership.account_id.in_(part)
                )
            ):
                found[row.account_id].append((row.practice_id, row.role))
            self._members.update(found)

    def staff_practices(self, account: uuid.UUID) -> frozenset[uuid.UUID]:
        return frozenset(p for p, role in self._memberships(account) if role != Role.PATIENT)

    def patient_practices(self, patient: uuid.UUID) -> frozenset[uuid.UUID]:
        return frozenset(p for p, role in self._memberships(patient) if role == Role.PATIENT)

    def thresholds(self, practice_id: uuid.UUID) -> Thresholds:
        if practice_id not in self._thresholds:
            self._thresholds[practice_id] = thresholds_of(self.db, practice_id)
        return self._thresholds[practice_id]

    def daily_counts(
        self, account: uuid.UUID, practice_id: uuid.UUID, before: date, days: int
    ) -> list[tuple[int, int]]:
        since = _paris_midnight(before - timedelta(days=days))
        until = _paris_midnight(before)
        rows = self.db.execute(
            select(JournalRecord.log_index, JournalRecord.created_at, JournalRecord.entry).where(
                JournalRecord.actor_id == account,
                JournalRecord.practice_id == practice_id,
                JournalRecord.outcome == int(Outcome.DONE),
                JournalRecord.created_at >= since,
                JournalRecord.created_at < until,
            )
        ).all()
        patients = _patients_of(self.db, [r.log_index for r in rows])
        per_day: dict[date, tuple[set[uuid.UUID], set[uuid.UUID]]] = defaultdict(
            lambda: (set(), set())
        )
        for row in rows:
            mine = per_day[row.created_at.astimezone(PARIS).date()]
            mine[0].update(patients.get(row.log_index, ()))
            mine[1].update(_documents(bytes(row.entry)))
        return [(len(p), len(d)) for p, d in per_day.values() if p or d]

    def known_network(self, account: uuid.UUID, network: str, before: datetime, days: int) -> bool:
        addresses = self.db.scalars(
            select(JournalNetworkRecord.ip_address)
            .join(JournalRecord, JournalRecord.log_index == JournalNetworkRecord.log_index)
            .where(
                JournalRecord.actor_id == account,
                JournalNetworkRecord.created_at >= before - timedelta(days=days),
                JournalNetworkRecord.created_at < before,
            )
            .distinct()
        ).all()
        return not addresses or any(network_of(a) == network for a in addresses)


def _paris_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), PARIS)


def _documents(entry: bytes) -> tuple[uuid.UUID, ...]:
    objects = JournalEntry.decode(entry, check_links=False).objects
    return tuple(oid for kind, oid in objects if kind == ObjectKind.DOCUMENT)


def _patients_of(db: Session, indexes: Sequence[int]) -> dict[int, list[uuid.UUID]]:
    found: dict[int, list[uuid.UUID]] = defaultdict(list)
    for start in range(0, len(indexes), _IN_CHUNK):
        part = list(indexes[start : start + _IN_CHUNK])
        for row in db.execute(
            select(JournalPatient.log_index, JournalPatient.patient_id).where(
                JournalPatient.log_index.in_(part)
            )
        ):
            found[row.log_index].append(row.patient_id)
    return found


def _networks_of(db: Session, indexes: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    # One address makes many requests: each is parsed once.
    networks: dict[str, str | None] = {}
    for start in range(0, len(indexes), _IN_CHUNK):
        part = list(indexes[start : start + _IN_CHUNK])
        for row in db.execute(
            select(JournalNetworkRecord.log_index, JournalNetworkRecord.ip_address).where(
                JournalNetworkRecord.log_index.in_(part)
            )
        ):
            if row.ip_address not in networks:
                networks[row.ip_address] = network_of(row.ip_address)
            network = networks[row.ip_address]
            if network is not None:
                found[row.log_index] = network
    return found


def thresholds_of(db: Session, practice_id: uuid.UUID) -> Thresholds:
    row = db.get(AnomalySettings, practice_id)
    return DEFAULTS if row is None else stored_thresholds(row.thresholds, practice_id)


#: The fields a failure of the whole-model check (the opening hours) falls back on.
_HOURS = ("open_hour", "close_hour", "open_days")


def stored_thresholds(text: str, practice_id: uuid.UUID) -> Thresholds:
    """A stored row read with today's bounds: a threshold added since takes its
    default, one that no longer passes them too (logged by name, never its value), so
    that one practice's old row neither stops the rules for all nor fails a read."""
    try:
        stored = json.loads(text)
    except ValueError:
        stored = None
    if not isinstance(stored, dict):
        logger.warning("anomaly settings of practice %s unreadable: defaults used", practice_id)
        return DEFAULTS
    values = {
        **DEFAULTS.model_dump(),
        **{k: v for k, v in stored.items() if k in Thresholds.model_fields},
    }
    for _ in range(3):
        try:
            return Thresholds.model_validate(values)
        except ValidationError as failed:
            names = {str(e["loc"][0]) for e in failed.errors() if e["loc"]}
            if any(not e["loc"] for e in failed.errors()):
                names.update(_HOURS)
            logger.warning(
                "anomaly settings of practice %s out of bounds, defaults used for: %s",
                practice_id,
                ", ".join(sorted(names)),
            )
            for name in names & set(Thresholds.model_fields):
                values[name] = getattr(DEFAULTS, name)
    return DEFAULTS


def _longest_window(every: Iterable[Thresholds]) -> timedelta:
    """The longest window the given practices' rules look back over (the defaults'
    at least)."""
    return timedelta(
        minutes=max(
            max(
                t.mass_window_minutes,
                t.off_hours_window_minutes,
                t.denials_window_minutes,
                t.networks_window_minutes,
                t.new_network_window_minutes,
            )
            for t in [DEFAULTS, *every]
        )
    )


class AnomalyService:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    # -- who ----------------------------------------------------------------------------

    def _is_operator(self, caller: Account) -> bool:
        return IncidentService(self.db, self.ctx).is_operator(caller)

    def _require_keeper(self, caller: Account, practice_id: uuid.UUID) -> None:
        """An admin of the practice or an operator; anyone else learns nothing of it."""
        if self.db.get(Practice, practice_id) is None or not (
            self._is_operator(caller)
            or AccountService(self.db, self.ctx).allows(caller, practice_id, "journal.read")
        ):
            raise NotFound("no such practice, or you are not one of its admins")
        current_draft().about_practice(practice_id)

    def alert(self, caller: Account, alert_id: uuid.UUID, *, lock: bool = False) -> AnomalyAlert:
        alert = self.db.get(AnomalyAlert, alert_id, with_for_update=lock)
        if alert is None or not (
            self._is_operator(caller)
            or AccountService(self.db, self.ctx).allows(caller, alert.practice_id, "journal.read")
        ):
            raise NotFound("no such alert, or it is not yours to see")
        current_draft().about_practice(alert.practice_id)
        return alert

    # -- thresholds ---------------------------------------------------------------------

    def settings(
        self, caller: Account, practice_id: uuid.UUID
    ) -> tuple[Thresholds, list[AnomalySettingsChange]]:
        """The practice's thresholds, and their last changes (newest first)."""
        self._require_keeper(caller, practice_id)
        changes = self.db.scalars(
            select(AnomalySettingsChange)
            .where(AnomalySettingsChange.practice_id == practice_id)
            .order_by(AnomalySettingsChange.changed_at.desc(), AnomalySettingsChange.id)
            .limit(CHANGES_SHOWN)
        )
        return thresholds_of(self.db, practice_id), list(changes)

    def tune(self, caller: Account, practice_id: uuid.UUID, thresholds: Thresholds) -> Thresholds:
        """A practice's admin sets its thresholds (within their bounds, thresholds.py);
        an operator may read them, not change them. Each change is kept with the values
        before and after, and mailed to the practice's other admins and the operators:
        nobody quietly loosens the rules before scraping."""
        self._require_keeper(caller, practice_id)
        if not AccountService(self.db, self.ctx).is_admin(caller.id, practice_id):
            raise NotFound("no such practice, or you are not one of its admins")
        row = self.db.get(AnomalySettings, practice_id, with_for_update=True)
        before = DEFAULTS if row is None else stored_thresholds(row.thresholds, practice_id)
        text = thresholds.model_dump_json()
        now = self.ctx.now()
        if row is None:
            self.db.add(
                AnomalySettings(
                    practice_id=practice_id, thresholds=text, updated_at=now, updated_by=caller.id
                )
            )
        else:
            row.thresholds, row.updated_at, row.updated_by = text, now, caller.id
        self.db.add(
            AnomalySettingsChange(
                id=uuid.uuid4(),
                practice_id=practice_id,
                before=before.model_dump_json(),
                after=text,
                changed_at=now,
                changed_by=caller.id,
            )
        )
        self.db.flush()
        changed = [
            f"{name} : {getattr(before, name)} -> {getattr(thresholds, name)}"
            for name in Thresholds.model_fields
            if getattr(before, name) != getattr(thresholds, name)
        ]
        if changed:
            mail = MailOutbox(self.db, self.ctx)
            for address in self._told_of_tuning(caller, practice_id):
                mail.send(
                    address,
                    "Seuils des alertes de sécurité modifiés",
                    tuning_text(practice_id, caller.id, now, changed),
                )
        return thresholds

    def _told_of_tuning(self, caller: Account, practice_id: uuid.UUID) -> list[str]:
        admins = self.db.scalars(
            select(Account.email)
            .join(Membership, Membership.account_id == Account.id)
            .where(
                Membership.practice_id == practice_id,
                Membership.role == Role.ADMIN,
                Account.id != caller.id,
            )
        )
        operators = {m.strip().lower() for m in self.ctx.settings.incident_operators}
        return sorted(({*admins} | operators) - {caller.email.lower(), ""})

    # -- the alerts ---------------------------------------------------------------------

    def alerts(
        self,
        caller: Account,
        practice_id: uuid.UUID,
        status: str | None = OPEN,
        before: uuid.UUID | None = None,
    ) -> list[AnomalyAlert]:
        """The practice's alerts (open ones by default), newest first, LISTED at most;
        with ``before`` (the last alert of the previous page), those listed after it."""
        self._require_keeper(caller, practice_id)
        query = select(AnomalyAlert).where(AnomalyAlert.practice_id == practice_id)
        if status is not None:
            query = query.where(AnomalyAlert.status == status)
        if before is not None:
            cursor = self.db.get(AnomalyAlert, before)
            if cursor is None or cursor.practice_id != practice_id:
                raise InvalidInput("before: not an alert of this practice")
            query = query.where(
                (AnomalyAlert.created_at < cursor.created_at)
                | ((AnomalyAlert.created_at == cursor.created_at) & (AnomalyAlert.id < cursor.id))
            )
        return list(
            self.db.scalars(
                query.order_by(AnomalyAlert.created_at.desc(), AnomalyAlert.id.desc()).limit(LISTED)
            )
        )

    def dismiss(self, caller: Account, alert_id: uuid.UUID, reason: str) -> AnomalyAlert:
        """Close an open alert as not a breach, with the written reason."""
        alert = self.alert(caller, alert_id, lock=True)
        if alert.status != OPEN:
            raise Conflict(f"this alert is no longer open (it is {alert.status})")
        self._not_about_self(caller, alert)
        if len(reason.strip()) < MIN_REASON:
            raise InvalidInput("say in a sentence why this alert is not a breach")
        alert.status, alert.reason = DISMISSED, reason.strip()
        alert.decided_by, alert.decided_at = caller.id, self.ctx.now()
        self.db.flush()
        return alert

    def _not_about_self(self, caller: Account, alert: AnomalyAlert) -> None:
        """An account does not close an alert about itself while someone else can: the
        one who scraped would otherwise file it away (incidents/service.py)."""
        if alert.subject_kind == ACCOUNT:
            IncidentService(self.db, self.ctx).refuse_subject(
                caller, alert.practice_id, alert.subject_id
            )

    def open_incident(
        self,
        caller: Account,
        alert_id: uuid.UUID,
        nature: Sequence[Nature] | None = None,
        description: str | None = None,
    ) -> AnomalyAlert:
        """Open an incident of the breach register from an open alert: linked to it,
        described by it unless told otherwise, and, for an account's alert, with the
        patients and documents that account reached in the window counted from the
        journal."""
        alert = self.alert(caller, alert_id, lock=True)
        if alert.status != OPEN:
            raise Conflict(f"this alert is no longer open (it is {alert.status})")
        self._not_about_self(caller, alert)
        incidents = IncidentService(self.db, self.ctx)
        incident = incidents.open(
            caller,
            alert.practice_id,
            IncidentFields(
                nature=list(nature or [Nature.CONFIDENTIALITY]),
                description=(description or "").strip() or alert_description(alert),
            ),
        )
        if alert.subject_kind == ACCOUNT:
            incidents.count(
                caller,
                incident.id,
                alert.window_start,
                alert.window_end + timedelta(microseconds=1),
                [alert.subject_id],
            )
        alert.status, alert.incident_id = INCIDENT, incident.id
        alert.decided_by, alert.decided_at = caller.id, self.ctx.now()
        self.db.flush()
        return alert

    # -- evaluation (the worker) --------------------------------------------------------

    def evaluate(self, emergency_actions: frozenset[str] = EMERGENCY_ACTIONS) -> Evaluated:
        """Run the rules over the journal's entries appended since the stored position
        (at most ``BATCH`` of them) and over the read-budget refusals still counted;
        store, mail and journal the alerts. A second worker evaluating at the same time
        finds the position locked and leaves it (PostgreSQL); SQLite runs one writer."""
        now = self.ctx.now()
        position = self.db.scalar(
            select(AnomalyPosition)
            .where(AnomalyPosition.name == JOURNAL_POSITION)
            .with_for_update(skip_locked=True)
        )
        if position is None:
            if self.db.get(AnomalyPosition, JOURNAL_POSITION) is not None:
                return Evaluated(0, 0, 0)  # another worker holds it
            start = self.db.scalar(
                select(func.max(JournalRecord.log_index)).where(
                    JournalRecord.created_at < now - FIRST_LOOK_BACK
                )
            )
            position = AnomalyPosition(
                name=JOURNAL_POSITION,
                position=-1 if start is None else int(start),
                evaluated_at=now,
                evaluated=0,
            )
            self.db.add(position)
            self.db.flush()
        directory = _Directory(self.db)
        facts, new = self._facts(position.position, directory)
        detections = evaluate(
            facts, position.position, directory, self._throttles(now), emergency_actions
        )
        opened = extended = 0
        for detection in detections:
            if self._store(detection, now):
                opened += 1
            else:
                extended += 1
        if new:
            position.position = max(f.index for f in facts)
            position.evaluated += new
        position.evaluated_at = now
        self.db.flush()
        return Evaluated(new, opened, extended)

    def _facts(self, after: int, directory: _Directory) -> tuple[list[Fact], int]:
        """The entries after ``after`` (at most BATCH), preceded by the history their
        windows reach: the same accounts' entries, and the denied entries about the
        patients the new entries were denied about, over the longest window of the
        practices those entries can count in (not of every practice: one practice's
        long window does not make every round read a day of everybody's refusals)."""
        columns = (
            JournalRecord.log_index,
            JournalRecord.created_at,
            JournalRecord.actor_id,
            JournalRecord.practice_id,
            JournalRecord.action,
            JournalRecord.outcome,
            JournalRecord.entry,
        )
        new = self.db.execute(
            select(*columns)
            .where(JournalRecord.log_index > after)
            .order_by(JournalRecord.log_index)
            .limit(BATCH)
        ).all()
        if not new:
            return [], 0
        actors = {r.actor_id for r in new if r.actor_id is not None}
        directory.preload(actors)
        new_patients = _patients_of(self.db, [r.log_index for r in new])
        denied_patients = sorted(
            {
                p
                for r in new
                if r.outcome == int(Outcome.DENIED)
                for p in new_patients.get(r.log_index, ())
            }
        )
        directory.preload(denied_patients)
        practices = {r.practice_id for r in new if r.practice_id is not None}
        for account in actors:
            practices |= directory.staff_practices(account)
        for patient in denied_patients:
            practices |= directory.patient_practices(patient)
        since = min(r.created_at for r in new) - _longest_window(
            directory.thresholds(p) for p in practices
        )
        earlier = [JournalRecord.log_index <= after, JournalRecord.created_at >= since]
        history = []
        for start in range(0, len(denied_patients), _IN_CHUNK):
            part = denied_patients[start : start + _IN_CHUNK]
            history += self.db.execute(
                select(*columns)
                .join(JournalPatient, JournalPatient.log_index == JournalRecord.log_index)
                .where(
                    *earlier,
                    JournalRecord.outcome == int(Outcome.DENIED),
                    JournalPatient.patient_id.in_(part),
                )
            ).all()
        actor_list = sorted(actors)
        for start in range(0, len(actor_list), _IN_CHUNK):
            part = actor_list[start : start + _IN_CHUNK]
            history += self.db.execute(
                select(*columns).where(*earlier, JournalRecord.actor_id.in_(part))
            ).all()
        unique = {r.log_index: r for r in [*history, *new]}
        rows = [unique[i] for i in sorted(unique)]
        indexes = [r.log_index for r in rows]
        patients = _patients_of(self.db, indexes)
        networks = _networks_of(self.db, indexes)
        directory.preload(p for ps in patients.values() for p in ps)
        facts = []
        for r in rows:
            watched = r.actor_id is not None and r.outcome == int(Outcome.DONE)
            facts.append(
                Fact(
                    index=r.log_index,
                    at=r.created_at,
                    actor=r.actor_id,
                    practice_id=r.practice_id,
                    action=r.action,
                    outcome=r.outcome,
                    patients=tuple(patients.get(r.log_index, ())),
                    documents=_documents(bytes(r.entry)) if watched else (),
                    network=networks.get(r.log_index),
                )
            )
        return facts, len(new)

    def _throttles(self, now: datetime) -> list[Throttle]:
        """Reads refused past a budget (R27), from the counts the journal's writer keeps
        (kept an hour at most, then purged): per account and minute, the reads past
        the allowance; per account and hour, a budget spent."""
        found = [
            Throttle(account, started, started + READ_WINDOW, int(n) - JOURNALED_READS_PER_MINUTE)
            for account, started, n in self.db.execute(
                select(ReadCount.account_id, ReadCount.started_at, ReadCount.count).where(
                    ReadCount.count > JOURNALED_READS_PER_MINUTE
                )
            )
        ]
        hour = timedelta(hours=1)
        found += [
            Throttle(uuid.UUID(bytes=bytes(r.subject)), r.started_at, r.started_at + hour, None)
            for r in self.db.execute(
                select(ReadBudgetCount.subject, ReadBudgetCount.started_at).where(
                    ReadBudgetCount.budget == "account_hour",
                    ReadBudgetCount.count >= self.ctx.settings.reads_per_account_hour,
                )
            )
        ]
        return found

    def _store(self, detection: Detection, now: datetime) -> bool:
        """Store a detection: extends the open alert of the same rule, subject and count
        whose window it touches, else opens one. A decided alert (dismissed, or made an
        incident) is never extended: a detection ending by its decision is the stretch
        already decided, one ending past it opens a new alert, mailed. Whether one was
        opened."""
        near = self.db.scalar(
            select(AnomalyAlert)
            .where(
                AnomalyAlert.practice_id == detection.practice_id,
                AnomalyAlert.rule == detection.rule,
                AnomalyAlert.subject_kind == detection.subject_kind,
                AnomalyAlert.subject_id == detection.subject_id,
                AnomalyAlert.counted == detection.counted,
                AnomalyAlert.window_end >= detection.window_start,
                AnomalyAlert.window_start <= detection.window_end,
            )
            .order_by(AnomalyAlert.window_end.desc())
            .limit(1)
        )
        if near is not None and near.status == OPEN:
            near.window_start = min(near.window_start, detection.window_start)
            near.window_end = max(near.window_end, detection.window_end)
            if detection.count > near.count:
                near.count, near.detail = detection.count, detection.detail[:500]
            return False
        if (
            near is not None
            and near.decided_at is not None
            and detection.window_end <= near.decided_at
        ):
            return False
        alert = AnomalyAlert(
            id=uuid.uuid4(),
            practice_id=detection.practice_id,
            rule=detection.rule.value,
            subject_kind=detection.subject_kind,
            subject_id=detection.subject_id,
            window_start=detection.window_start,
            window_end=detection.window_end,
            count=detection.count,
            threshold=detection.threshold,
            counted=detection.counted,
            detail=detection.detail[:500],
            status=OPEN,
            reason="",
            created_at=now,
        )
        self.db.add(alert)
        self.db.flush()
        self._tell(alert, now)
        return True

    def _tell(self, alert: AnomalyAlert, now: datetime) -> None:
        """Mail the practice's admins (always for ALWAYS_MAILED, else up to
        MAILS_PER_DAY alerts of its rule and subject kind a day) and journal it."""
        mailed_today = self.db.scalar(
            select(func.count())
            .select_from(AnomalyAlert)
            .where(
                AnomalyAlert.practice_id == alert.practice_id,
                AnomalyAlert.rule == alert.rule,
                AnomalyAlert.subject_kind == alert.subject_kind,
                AnomalyAlert.created_at > now - timedelta(days=1),
            )
        )
        if Rule(alert.rule) in ALWAYS_MAILED or (mailed_today or 0) <= MAILS_PER_DAY:
            mail = MailOutbox(self.db, self.ctx)
            for address in self.db.scalars(
                select(Account.email)
                .join(Membership, Membership.account_id == Account.id)
                .where(Membership.practice_id == alert.practice_id, Membership.role == Role.ADMIN)
                .order_by(Account.email)
            ):
                subject = f"Alerte de sécurité : {LABELS[Rule(alert.rule)]}"
                mail.send(address, subject, mail_text(alert))
        stage_worker_entry(self.db, RAISED_ACTION, alert.practice_id, now)


def alert_description(alert: AnomalyAlert) -> str:
    return (
        f"Ouvert depuis l'alerte {alert.id} ({LABELS[Rule(alert.rule)]}) : {alert.detail}. "
        f"Fenêtre du {alert.window_start:%d/%m/%Y %H:%M} au {alert.window_end:%d/%m/%Y %H:%M} "
        f"UTC, {alert.subject_kind} {alert.subject_id}."
    )


def tuning_text(practice_id: uuid.UUID, tuner: uuid.UUID, at: datetime, changed: list[str]) -> str:
    return (
        "Bonjour,\n\n"
        f"Les seuils des alertes de sécurité du cabinet {practice_id} ont été modifiés le "
        f"{at:%d/%m/%Y %H:%M} UTC par le compte {tuner} :\n"
        + "".join(f"  {line}\n" for line in changed)
        + "\nSi vous n'en étiez pas informé, vérifiez-le : "
        "uhs alerts list --status all, et GET /practices/{id}/anomaly-settings pour l'historique.\n"
    )


def mail_text(alert: AnomalyAlert) -> str:
    return (
        "Bonjour,\n\n"
        f"Une alerte de sécurité s'est ouverte dans votre cabinet : {LABELS[Rule(alert.rule)]}.\n"
        f"{alert.detail}.\n"
        f"Fenêtre : du {alert.window_start:%d/%m/%Y %H:%M} au {alert.window_end:%d/%m/%Y %H:%M} "
        "UTC.\n\n"
        "Pour la voir : uhs alerts list\n"
        f'Si ce n\'est pas une violation : uhs alerts dismiss {alert.id} --reason "..."\n'
        f"Pour ouvrir un incident : uhs alerts incident {alert.id}\n"
    )


def anomaly_alerts(db: Session) -> list[Metric]:
    """``uhs_anomaly_alerts_total{rule}``: alerts opened, by rule (R22). Alerts are never
    deleted, so the count only grows."""
    rows = dict(
        db.execute(select(AnomalyAlert.rule, func.count()).group_by(AnomalyAlert.rule)).all()
    )
    family = CounterMetricFamily(
        "uhs_anomaly_alerts", "Anomaly alerts opened, by rule (R22).", labels=["rule"]
    )
    for rule in Rule:
        family.add_metric([rule.value], int(rows.get(rule.value, 0)))
    return [family]
