"""Anomaly alerts over the journal (R22), at the service: each rule fires at its
threshold and not one under, over a synthetic journal written straight into the
journal's tables (what the rules read), on both databases."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.header import decode_header, make_header
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests.server_fixtures import make_settings
from tests.serving import run_worker
from uhealthsec.crypto.journal import (
    ENTRY_VERSION_UNCHAINED,
    JournalEntry,
    ObjectKind,
    Outcome,
)
from uhealthsec.server.accounts.models import Account, AccountStatus, Membership, Practice, Role
from uhealthsec.server.audit.models import (
    JournalNetworkRecord,
    JournalOutbox,
    JournalPatient,
    JournalRecord,
    ReadBudgetCount,
    ReadCount,
)
from uhealthsec.server.audit.refusals import JOURNALED_READS_PER_MINUTE
from uhealthsec.server.errors import Conflict, Forbidden, InvalidInput, NotFound
from uhealthsec.server.incidents.anomalies.models import (
    AnomalyAlert,
    AnomalyPosition,
    AnomalySettings,
)
from uhealthsec.server.incidents.anomalies.rules import Rule
from uhealthsec.server.incidents.anomalies.service import (
    DISMISSED,
    INCIDENT,
    OPEN,
    RAISED_ACTION,
    AnomalyService,
    _Directory,
    anomaly_alerts,
)
from uhealthsec.server.incidents.anomalies.thresholds import Thresholds
from uhealthsec.server.incidents.models import Incident
from uhealthsec.server.incidents.service import Decision, IncidentFields, IncidentService

PARIS = ZoneInfo("Europe/Paris")
OPERATOR = "olga@example.org"


@pytest.fixture
def settings(tmp_path, database_url):
    return make_settings(tmp_path, database_url, incident_operators=[OPERATOR])


@dataclass
class Cabinet:
    """A practice: an admin, two practitioners, a secretary and patients, and a
    synthetic journal of their actions."""

    ctx: object
    id: uuid.UUID
    admin: uuid.UUID
    doctors: list[uuid.UUID]
    patients: list[uuid.UUID]
    outsider_admin: uuid.UUID
    operator: uuid.UUID
    index: int = 0
    rows: list[dict] = field(default_factory=list)

    def entry(
        self,
        at: datetime,
        actor: uuid.UUID,
        *,
        patient: uuid.UUID | None = None,
        document: uuid.UUID | None = None,
        outcome: Outcome = Outcome.DONE,
        ip: str | None = None,
        action: str = "records.content",
        practice: bool = True,
    ) -> None:
        objects = []
        if patient is not None:
            objects.append((ObjectKind.PATIENT, patient))
        if document is not None:
            objects.append((ObjectKind.DOCUMENT, document))
        entry = JournalEntry(
            timestamp_ms=int(at.timestamp() * 1000),
            actor=actor,
            action=action,
            outcome=outcome,
            status=200 if outcome == Outcome.DONE else 404,
            objects=tuple(objects),
            version=ENTRY_VERSION_UNCHAINED,
        )
        self.rows.append(
            {
                "index": self.index,
                "entry": entry.encode(),
                "actor": actor,
                "practice": self.id if practice else None,
                "action": action,
                "outcome": int(outcome),
                "at": at,
                "patient": patient,
                "ip": ip,
            }
        )
        self.index += 1

    def write(self) -> None:
        with self.ctx.sessions.begin() as db:
            for r in self.rows:
                db.add(
                    JournalRecord(
                        log_index=r["index"],
                        entry=r["entry"],
                        actor_id=r["actor"],
                        practice_id=r["practice"],
                        action=r["action"],
                        outcome=r["outcome"],
                        created_at=r["at"],
                    )
                )
                if r["patient"] is not None:
                    db.add(JournalPatient(patient_id=r["patient"], log_index=r["index"]))
                if r["ip"] is not None:
                    db.add(
                        JournalNetworkRecord(
                            log_index=r["index"], ip_address=r["ip"], created_at=r["at"]
                        )
                    )
        self.rows = []

    def evaluate(self, **kwargs) -> list[AnomalyAlert]:
        """Write the pending entries, run the rules, return every alert, oldest first."""
        self.write()
        with self.ctx.sessions.begin() as db:
            AnomalyService(db, self.ctx).evaluate(**kwargs)
        return self.alerts()

    def alerts(self) -> list[AnomalyAlert]:
        with self.ctx.sessions() as db:
            found = list(db.scalars(select(AnomalyAlert).order_by(AnomalyAlert.created_at)))
            db.expunge_all()
        return found

    def account(self, account_id: uuid.UUID) -> Account:
        with self.ctx.sessions() as db:
            account = db.get(Account, account_id)
            db.expunge_all()
        return account


def _account(db, email: str, kind: str = "practitioner") -> uuid.UUID:
    account = Account(
        id=uuid.uuid4(),
        email=email,
        display_name=email.split("@")[0],
        kind=kind,
        status=AccountStatus.ACTIVE,
        password_hash="x",
        keystore=b"",
        public_keys=b"",
        key_fingerprint=bytes(32),
        identity_verified_at=datetime(2026, 1, 1, tzinfo=PARIS) if kind != "patient" else None,
    )
    db.add(account)
    return account.id


@pytest.fixture
def cabinet(ctx, clock) -> Cabinet:
    with ctx.sessions.begin() as db:
        practice, elsewhere = (
            Practice(id=uuid.uuid4(), name="Cabinet"),
            Practice(id=uuid.uuid4(), name="Ailleurs"),
        )
        db.add_all([practice, elsewhere])
        admin = _account(db, "alice@example.org")
        doctors = [_account(db, f"dr{i}@example.org") for i in range(2)]
        secretary = _account(db, "sec@example.org")
        patients = [_account(db, f"p{i}@example.org", "patient") for i in range(60)]
        outsider = _account(db, "zoe@example.org")
        operator = _account(db, OPERATOR)
        db.flush()
        members = [(admin, Role.ADMIN), (secretary, Role.SECRETARY)]
        members += [(d, Role.PRACTITIONER) for d in doctors]
        members += [(p, Role.PATIENT) for p in patients]
        for account_id, role in members:
            db.add(Membership(practice_id=practice.id, account_id=account_id, role=role))
        db.add(Membership(practice_id=elsewhere.id, account_id=outsider, role=Role.ADMIN))
    # The first evaluation starts from the journal's end of a day ago: make it now.
    c = Cabinet(ctx, practice.id, admin, doctors, patients, outsider, operator)
    c.evaluate()
    return c


def _tuesday(clock, hour: int, minute: int = 0) -> datetime:
    """A Tuesday of last week at ``hour`` Paris time (a working day)."""
    today = clock.now.astimezone(PARIS).date()
    day = today - timedelta(days=today.weekday() + 6)  # Tuesday a week ago
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)


def test_r22_mass_download_fires_past_the_floor_and_not_at_it(cabinet: Cabinet, clock):
    """Without history the limit is the floor (25 distinct patients an hour): 25 do
    not fire, the 26th does; one alert per stretch, its window and count."""
    doctor = cabinet.doctors[0]
    start = _tuesday(clock, 10)
    for i in range(25):
        cabinet.entry(start + timedelta(minutes=2 * i), doctor, patient=cabinet.patients[i])
    assert cabinet.evaluate() == []
    cabinet.entry(start + timedelta(minutes=55), doctor, patient=cabinet.patients[25])
    cabinet.entry(start + timedelta(minutes=56), doctor, patient=cabinet.patients[26])
    alerts = cabinet.evaluate()
    assert [(a.rule, a.subject_id, a.count, a.threshold) for a in alerts] == [
        (Rule.MASS_DOWNLOAD, doctor, 27, 26)
    ]
    assert alerts[0].window_start == start and alerts[0].status == OPEN
    # The same stretch evaluated again, or the next read in it, opens nothing new.
    cabinet.entry(start + timedelta(minutes=57), doctor, patient=cabinet.patients[27])
    again = cabinet.evaluate()
    assert len(again) == 1 and again[0].count == 28


def test_r22_mass_download_limit_is_twice_the_accounts_usual_day(cabinet: Cabinet, clock):
    """An account that reads 20 patients a day (14 days of history) may read 40 in an
    hour (2 x its median day), not 41; the floor alone would have fired at 26."""
    doctor = cabinet.doctors[1]
    day = _tuesday(clock, 9) - timedelta(days=14)
    for d in range(14):
        for i in range(20):
            cabinet.entry(
                day + timedelta(days=d, minutes=20 * i), doctor, patient=cabinet.patients[i + d % 3]
            )
    # History on Sundays is off hours: only this rule's alerts are looked at here.
    assert {a.rule for a in cabinet.evaluate()} <= {Rule.OFF_HOURS}
    start = _tuesday(clock, 14)
    for i in range(40):
        cabinet.entry(start + timedelta(seconds=30 * i), doctor, patient=cabinet.patients[i])
    assert [a for a in cabinet.evaluate() if a.rule == Rule.MASS_DOWNLOAD] == []
    cabinet.entry(start + timedelta(minutes=30), doctor, patient=cabinet.patients[40])
    alerts = [a for a in cabinet.evaluate() if a.rule == Rule.MASS_DOWNLOAD]
    assert [(a.count, a.threshold) for a in alerts] == [(41, 41)]


def test_r22_documents_count_as_well_as_patients(cabinet: Cabinet, clock):
    """50 distinct documents of one patient in an hour are the floor; 51 fire."""
    doctor = cabinet.doctors[0]
    start = _tuesday(clock, 15)
    docs = [uuid.uuid4() for _ in range(51)]
    for i in range(50):
        cabinet.entry(start + timedelta(seconds=20 * i), doctor, document=docs[i])
    assert cabinet.evaluate() == []
    cabinet.entry(start + timedelta(minutes=40), doctor, document=docs[50])
    assert [(a.rule, a.count) for a in cabinet.evaluate()] == [(Rule.MASS_DOWNLOAD, 51)]


def test_r22_off_hours_fires_at_three_actions_about_patients_outside_hours(cabinet: Cabinet, clock):
    """Hours 7h-20h, Monday to Saturday: two reads at 22h do not fire, the third in
    the hour does; three at 19h do not; a Sunday at noon is off hours too. A practice
    that opens until 23h is not alerted at 22h."""
    doctor, other = cabinet.doctors
    night = _tuesday(clock, 22)
    for i in range(3):
        cabinet.entry(
            _tuesday(clock, 19) + timedelta(minutes=i), doctor, patient=cabinet.patients[i]
        )
    cabinet.entry(night, doctor, patient=cabinet.patients[0])
    cabinet.entry(night + timedelta(minutes=10), doctor, patient=cabinet.patients[1])
    assert cabinet.evaluate() == []
    cabinet.entry(night + timedelta(minutes=50), doctor, patient=cabinet.patients[2])
    alerts = cabinet.evaluate()
    assert [(a.rule, a.subject_id, a.count, a.threshold) for a in alerts] == [
        (Rule.OFF_HOURS, doctor, 3, 3)
    ]
    sunday = _tuesday(clock, 12) + timedelta(days=5)
    for i in range(3):
        cabinet.entry(sunday + timedelta(minutes=i), other, patient=cabinet.patients[i])
    assert [a.subject_id for a in cabinet.evaluate()] == [doctor, other]

    with cabinet.ctx.sessions.begin() as db:
        AnomalyService(db, cabinet.ctx).tune(
            cabinet.account(cabinet.admin), cabinet.id, Thresholds(close_hour=23)
        )
    later = _tuesday(clock, 22) + timedelta(days=1)
    for i in range(3):
        cabinet.entry(later + timedelta(minutes=i), other, patient=cabinet.patients[i])
    assert len(cabinet.evaluate()) == 2


def test_r22_repeated_denials_by_an_account_and_against_a_patient(cabinet: Cabinet, clock):
    """Ten denials by one account within 15 minutes fire, nine do not; ten denials
    about one patient by ten different accounts fire for the patient's practice."""
    doctor = cabinet.doctors[0]
    start = _tuesday(clock, 11)
    for i in range(9):
        cabinet.entry(
            start + timedelta(minutes=i),
            doctor,
            patient=cabinet.patients[i],
            outcome=Outcome.DENIED,
        )
    assert cabinet.evaluate() == []
    cabinet.entry(start + timedelta(minutes=14), doctor, outcome=Outcome.DENIED, practice=False)
    alerts = cabinet.evaluate()
    assert [(a.rule, a.subject_kind, a.count) for a in alerts] == [
        (Rule.REPEATED_DENIALS, "account", 10)
    ]
    # Nine accounts outside the practice, then a tenth, ask for one patient.
    target = cabinet.patients[30]
    strangers = [uuid.uuid4() for _ in range(10)]
    later = start + timedelta(hours=2)
    for i, stranger in enumerate(strangers[:9]):
        cabinet.entry(
            later + timedelta(minutes=i), stranger, patient=target, outcome=Outcome.DENIED
        )
    assert len(cabinet.evaluate()) == 1
    cabinet.entry(
        later + timedelta(minutes=12), strangers[9], patient=target, outcome=Outcome.DENIED
    )
    alerts = cabinet.evaluate()
    assert [(a.subject_kind, a.subject_id, a.count) for a in alerts[1:]] == [
        ("patient", target, 10)
    ]


def test_r22_a_read_throttle_of_an_account_is_an_alert(cabinet: Cabinet, clock):
    """A minute with one read refused past the allowance fires; a minute at the
    allowance does not; an hourly budget spent fires."""
    doctor, other = cabinet.doctors
    minute = clock.now.replace(second=0)
    with cabinet.ctx.sessions.begin() as db:
        db.add(ReadCount(started_at=minute, account_id=other, count=JOURNALED_READS_PER_MINUTE))
    assert cabinet.evaluate() == []
    with cabinet.ctx.sessions.begin() as db:
        db.add(
            ReadCount(started_at=minute, account_id=doctor, count=JOURNALED_READS_PER_MINUTE + 1)
        )
    alerts = cabinet.evaluate()
    assert [(a.rule, a.subject_id, a.count) for a in alerts] == [(Rule.READ_THROTTLE, doctor, 1)]
    limit = cabinet.ctx.settings.reads_per_account_hour
    hour = clock.now.replace(minute=0, second=0)
    with cabinet.ctx.sessions.begin() as db:
        db.add(
            ReadBudgetCount(
                budget="account_hour", subject=other.bytes, started_at=hour, count=limit - 1
            )
        )
    assert len(cabinet.evaluate()) == 1
    with cabinet.ctx.sessions.begin() as db:
        db.get(ReadBudgetCount, ("account_hour", other.bytes, hour)).count = limit
    assert [a.subject_id for a in cabinet.evaluate()] == [doctor, other]


def test_r22_two_networks_within_minutes(cabinet: Cabinet, clock):
    """Two addresses of one /24 are one network; two networks 11 minutes apart are
    not within the 10 minutes; two within 9 minutes fire."""
    doctor = cabinet.doctors[0]
    start = _tuesday(clock, 9)
    cabinet.entry(start, doctor, ip="192.0.2.10")
    cabinet.entry(start + timedelta(minutes=1), doctor, ip="192.0.2.77")
    cabinet.entry(start + timedelta(minutes=12), doctor, ip="198.51.100.4")
    assert cabinet.evaluate() == []
    cabinet.entry(start + timedelta(minutes=21), doctor, ip="2001:db8:1:2::5")
    alerts = cabinet.evaluate()
    assert [(a.rule, a.count, a.threshold) for a in alerts] == [(Rule.TWO_NETWORKS, 2, 2)]


def test_r22_a_new_network_then_bulk_reads(cabinet: Cabinet, clock):
    """R22: a network the account had not used in 30 days, then the content of 20
    distinct documents read from it within the hour, fires; 19 do not, nor 20 from a
    network it used 29 days before, nor listings naming many documents, nor an account
    with no request before to compare with."""
    doctor, other = cabinet.doctors
    start = _tuesday(clock, 10)
    for who in (doctor, other):
        cabinet.entry(start - timedelta(days=29), who, ip="192.0.2.10")  # its usual network
    cabinet.entry(start - timedelta(days=29, hours=-2), other, ip="203.0.113.5")

    def reads(who, ip: str, count: int, at: datetime, action: str = "records.content") -> None:
        for i in range(count):
            at_i = at + timedelta(minutes=2 * i)
            cabinet.entry(at_i, who, document=uuid.uuid4(), ip=ip, action=action)

    reads(doctor, "198.51.100.7", 19, start)  # a new network, 19 documents
    reads(doctor, "198.51.100.8", 30, start + timedelta(hours=3), action="records.documents")
    reads(other, "203.0.113.9", 25, start)  # a network it used 29 days before
    reads(cabinet.admin, "100.64.0.1", 25, start)  # no request before: nothing is new
    assert cabinet.evaluate() == []
    # The 20th document, within the hour of the first request from that network.
    cabinet.entry(start + timedelta(minutes=50), doctor, document=uuid.uuid4(), ip="198.51.100.9")
    alerts = cabinet.evaluate()
    assert [(a.rule, a.subject_id, a.count, a.threshold, a.counted) for a in alerts] == [
        (Rule.NEW_NETWORK_READS, doctor, 20, 20, "documents")
    ]


def test_r22_the_emergency_access_hook_raises_one_alert_per_access(cabinet: Cabinet, clock):
    """Break-glass (R11b) is not built: its action, once named, alerts at each use."""
    cabinet.entry(_tuesday(clock, 10), cabinet.doctors[0], action="records.emergency_read")
    assert cabinet.evaluate() == []  # not an emergency action until break-glass names it
    cabinet.entry(_tuesday(clock, 11), cabinet.doctors[0], action="records.emergency_read")
    alerts = cabinet.evaluate(emergency_actions=frozenset({"records.emergency_read"}))
    assert [(a.rule, a.count) for a in alerts] == [(Rule.EMERGENCY, 1)]


def test_r22_alerts_are_mailed_journaled_counted_dismissed_or_made_incidents(
    cabinet: Cabinet, clock, outbox
):
    """The admin is mailed and the alert journaled; a practitioner of the practice and
    another practice's admin find no alert (404); the operator does. Dismissal needs a
    reason and happens once; an incident opened from an alert is linked and counts
    from the journal the patients the account reached in the window."""
    ctx = cabinet.ctx
    doctor = cabinet.doctors[0]
    start = _tuesday(clock, 10)
    for i in range(26):
        cabinet.entry(start + timedelta(minutes=i), doctor, patient=cabinet.patients[i])
    for i in range(10):
        cabinet.entry(
            start + timedelta(minutes=30 + i), doctor, outcome=Outcome.DENIED, practice=False
        )
    mass, denials = sorted(cabinet.evaluate(), key=lambda a: a.rule)
    assert (mass.rule, denials.rule) == (Rule.MASS_DOWNLOAD, Rule.REPEATED_DENIALS)
    mails = outbox.messages("alice@example.org")
    assert len(mails) == 2 and "uhs alerts dismiss" in mails[0].get_payload(decode=True).decode()
    assert outbox.messages("dr0@example.org") == []
    with ctx.sessions() as db:
        staged = db.scalar(select(func.count()).select_from(JournalOutbox))
        assert staged == 2
        family = anomaly_alerts(db)[0]
        counted = {s.labels["rule"]: s.value for s in family.samples}
        assert counted["mass_download"] == 1 and counted["off_hours"] == 0

    admin, operator = cabinet.account(cabinet.admin), cabinet.account(cabinet.operator)
    for stranger in (cabinet.account(doctor), cabinet.account(cabinet.outsider_admin)):
        with ctx.sessions.begin() as db, pytest.raises(NotFound):
            AnomalyService(db, ctx).alerts(stranger, cabinet.id)
        with ctx.sessions.begin() as db, pytest.raises(NotFound):
            AnomalyService(db, ctx).dismiss(stranger, mass.id, "Une lecture normale du cabinet.")
        with ctx.sessions.begin() as db, pytest.raises(NotFound):
            AnomalyService(db, ctx).tune(stranger, cabinet.id, Thresholds())
    with ctx.sessions.begin() as db:
        listed = AnomalyService(db, ctx).alerts(operator, cabinet.id)
        assert {a.id for a in listed} == {mass.id, denials.id}
        # An operator reads the thresholds; only the practice's admin changes them.
        assert AnomalyService(db, ctx).settings(operator, cabinet.id)[0].networks_min == 2
    with ctx.sessions.begin() as db, pytest.raises(NotFound):
        AnomalyService(db, ctx).tune(operator, cabinet.id, Thresholds())

    with ctx.sessions.begin() as db, pytest.raises(InvalidInput):
        AnomalyService(db, ctx).dismiss(admin, denials.id, "non")
    # An admin does not file away an alert about themselves while an operator can.
    with ctx.sessions.begin() as db:
        db.get(AnomalyAlert, denials.id).subject_id = admin.id
    with ctx.sessions.begin() as db, pytest.raises(Forbidden, match="your own account"):
        AnomalyService(db, ctx).dismiss(admin, denials.id, "Je me suis trompé, tout va bien.")
    with ctx.sessions.begin() as db:
        db.get(AnomalyAlert, denials.id).subject_id = doctor
    with ctx.sessions.begin() as db:
        done = AnomalyService(db, ctx).dismiss(admin, denials.id, "Mot de passe mal tapé, vérifié.")
        assert (done.status, done.decided_by) == (DISMISSED, admin.id)
    with ctx.sessions.begin() as db, pytest.raises(Conflict):
        AnomalyService(db, ctx).open_incident(admin, denials.id)

    with ctx.sessions.begin() as db:
        made = AnomalyService(db, ctx).open_incident(admin, mass.id)
        incident = db.get(Incident, made.incident_id)
        assert made.status == INCIDENT
        assert incident.practice_id == cabinet.id and str(mass.id) in incident.description
        assert (incident.people_counted, incident.counted_accounts) == (26, str(doctor))
    with ctx.sessions.begin() as db, pytest.raises(Conflict):
        AnomalyService(db, ctx).dismiss(admin, mass.id, "Trop tard pour cela, déjà un incident.")
    with ctx.sessions.begin() as db:
        assert AnomalyService(db, ctx).alerts(admin, cabinet.id) == []
        assert len(AnomalyService(db, ctx).alerts(admin, cabinet.id, None)) == 2
    # A dismissed stretch continued is not raised again.
    cabinet.entry(start + timedelta(minutes=44), doctor, outcome=Outcome.DENIED, practice=False)
    assert [a.status for a in cabinet.evaluate() if a.rule == Rule.REPEATED_DENIALS] == [DISMISSED]
    with ctx.sessions() as db:
        raised = db.scalars(select(JournalOutbox.entry)).all()
        actions = {JournalEntry.decode(bytes(e), check_links=False).action for e in raised}
        assert actions == {RAISED_ACTION}


def test_r22_thresholds_are_bounded():
    """A practice tunes within bounds: no window of a second, no day that closes
    before it opens, no unknown setting."""
    with pytest.raises(ValueError, match="opening hour"):
        Thresholds(open_hour=20, close_hour=8)
    for wrong in ({"denials_per_account": 1}, {"mass_factor": 0.5}, {"networks_min": 1}):
        with pytest.raises(ValueError):
            Thresholds(**wrong)
    with pytest.raises(ValueError):
        Thresholds.model_validate({"nothing": 1})
    assert Thresholds(open_days=[5, 1, 1]).open_days == [1, 5]


def test_r22_the_worker_raises_the_alert_and_mails_it_in_one_round(
    cabinet: Cabinet, clock, outbox, settings
):
    """``uhs-server worker --once``: the anomalies job reads the new entries, opens
    the alert, and the mail job of the same round sends it to the practice's admin."""
    start = _tuesday(clock, 10)
    for i in range(10):
        cabinet.entry(
            start + timedelta(minutes=i), cabinet.doctors[1], outcome=Outcome.DENIED, practice=False
        )
    cabinet.write()
    said = run_worker(settings, "--once")
    assert "1 anomaly alert(s) opened over 10 journal entries." in said
    assert [a.rule for a in cabinet.alerts()] == [Rule.REPEATED_DENIALS]
    subject = str(make_header(decode_header(outbox.messages("alice@example.org")[0]["Subject"])))
    assert subject == "Alerte de sécurité : refus répétés"


def _second_admin(cabinet: Cabinet, email: str = "bob@example.org") -> uuid.UUID:
    with cabinet.ctx.sessions.begin() as db:
        bob = _account(db, email)
        db.flush()
        db.add(Membership(practice_id=cabinet.id, account_id=bob, role=Role.ADMIN))
    return bob


def _denied(cabinet: Cabinet, clock, actor: uuid.UUID, hour: int = 10, n: int = 10) -> None:
    start = _tuesday(clock, hour)
    for i in range(n):
        cabinet.entry(start + timedelta(minutes=i), actor, outcome=Outcome.DENIED, practice=False)


def test_r22_the_subject_closes_no_alert_about_itself_by_the_incident_path(cabinet: Cabinet, clock):
    """The admin an alert is about neither opens an incident from it nor decides or
    rewrites the incident another admin opened from it (403)."""
    ctx = cabinet.ctx
    bob = cabinet.account(_second_admin(cabinet))
    _denied(cabinet, clock, cabinet.admin)
    [alert] = cabinet.evaluate()
    alice = cabinet.account(cabinet.admin)
    with ctx.sessions.begin() as db, pytest.raises(Forbidden, match="your own account"):
        AnomalyService(db, ctx).open_incident(alice, alert.id, description="Erreur de saisie.")
    with ctx.sessions.begin() as db:
        made = AnomalyService(db, ctx).open_incident(bob, alert.id)
    with ctx.sessions.begin() as db, pytest.raises(Forbidden, match="your own account"):
        IncidentService(db, ctx).decide(
            alice, made.incident_id, Decision.NOT_NOTIFIABLE, "Aucun risque, une erreur."
        )
    with ctx.sessions.begin() as db, pytest.raises(Forbidden, match="your own account"):
        IncidentService(db, ctx).update(
            alice, made.incident_id, IncidentFields(description="Erreur de saisie.")
        )
    with ctx.sessions.begin() as db:
        incident = IncidentService(db, ctx).decide(
            bob, made.incident_id, Decision.NOT_NOTIFIABLE, "Vérifié avec le cabinet, aucun risque."
        )
        assert incident.decision == Decision.NOT_NOTIFIABLE


def test_r22_an_operator_subject_is_not_exempt_and_only_able_admins_count(cabinet: Cabinet, clock):
    """The operator an alert is about does not dismiss it while a verified, active
    admin can; an admin whose identity nobody vouched for does not count."""
    ctx = cabinet.ctx
    with ctx.sessions.begin() as db:
        db.add(
            Membership(practice_id=cabinet.id, account_id=cabinet.operator, role=Role.PRACTITIONER)
        )
    _denied(cabinet, clock, cabinet.operator)
    [alert] = cabinet.evaluate()
    olga = cabinet.account(cabinet.operator)
    with ctx.sessions.begin() as db, pytest.raises(Forbidden, match="your own account"):
        AnomalyService(db, ctx).dismiss(olga, alert.id, "Rien à signaler ici, c'était moi.")
    with ctx.sessions.begin() as db:
        db.get(Account, cabinet.admin).identity_verified_at = None
    with ctx.sessions.begin() as db:
        done = AnomalyService(db, ctx).dismiss(olga, alert.id, "Seule à pouvoir décider ici.")
        assert (done.status, done.decided_by) == (DISMISSED, olga.id)


def test_r22_a_decided_alert_is_never_extended_a_later_stretch_is_a_new_alert(
    cabinet: Cabinet, clock, outbox
):
    """Reads continued past a dismissal open a new alert, mailed, instead of growing
    the dismissed one; patients and documents are counted in alerts of their own."""
    ctx = cabinet.ctx
    doctor = cabinet.doctors[0]
    start = _tuesday(clock, 8)
    for i in range(26):
        cabinet.entry(start + timedelta(minutes=2 * i), doctor, patient=cabinet.patients[i])
    [alert] = cabinet.evaluate()
    assert (alert.counted, alert.count, alert.threshold) == ("patients", 26, 26)
    clock.now = start + timedelta(minutes=55)
    with ctx.sessions.begin() as db:
        AnomalyService(db, ctx).dismiss(
            cabinet.account(cabinet.admin), alert.id, "Journée chargée, c'est normal."
        )
    mails = len(outbox.messages("alice@example.org"))
    t = start + timedelta(minutes=54)
    for i in range(120):
        t += timedelta(seconds=20)
        cabinet.entry(t, doctor, patient=cabinet.patients[i % 60], document=uuid.uuid4())
    clock.now = t + timedelta(minutes=1)
    alerts = cabinet.evaluate()
    dismissed = next(a for a in alerts if a.id == alert.id)
    assert (dismissed.status, dismissed.count) == (DISMISSED, 26)
    assert dismissed.window_end == start + timedelta(minutes=50)
    later = {a.counted: a for a in alerts if a.id != alert.id}
    assert set(later) == {"patients", "documents"}
    assert all((a.status, a.window_end) == (OPEN, t) for a in later.values())
    assert (later["documents"].count, later["documents"].threshold) == (120, 51)
    assert later["patients"].threshold == 26 and later["patients"].count == 60
    assert len(outbox.messages("alice@example.org")) - mails == 2


def test_r22_tuning_keeps_every_rule_meaningful_and_is_kept_and_told(
    cabinet: Cabinet, clock, outbox, caplog
):
    """Floors, counts and hours that would silence a rule are refused; each tuning is
    kept with its values before and after, and mailed to the other admins and the
    operators; a stored row past today's bounds falls back to the defaults, field by
    field, without failing the rules or the read."""
    for wrong in (
        {"mass_floor_patients": 501},
        {"mass_floor_documents": 1001},
        {"denials_per_account": 101},
        {"denials_per_patient": 101},
        {"throttle_min_refused": 101},
        {"open_days": []},
        {"open_hour": 0, "close_hour": 24, "open_days": list(range(7))},
    ):
        with pytest.raises(ValueError):
            Thresholds(**wrong)
    ctx = cabinet.ctx
    bob = _second_admin(cabinet)
    alice = cabinet.account(cabinet.admin)
    with ctx.sessions.begin() as db:
        AnomalyService(db, ctx).tune(alice, cabinet.id, Thresholds(denials_per_account=100))
    clock.advance(minutes=1)
    with ctx.sessions.begin() as db:
        AnomalyService(db, ctx).tune(alice, cabinet.id, Thresholds(close_hour=21))
    for address in ("bob@example.org", OPERATOR):
        told = outbox.messages(address)
        assert len(told) == 2
        assert "denials_per_account : 10 -> 100" in told[0].get_payload(decode=True).decode()
    assert outbox.messages("alice@example.org") == []
    with ctx.sessions.begin() as db:
        current, changes = AnomalyService(db, ctx).settings(cabinet.account(bob), cabinet.id)
        assert (current.close_hour, current.denials_per_account) == (21, 10)
        assert [Thresholds.model_validate_json(c.after).close_hour for c in changes] == [21, 20]
        assert Thresholds.model_validate_json(changes[0].before).denials_per_account == 100
        assert {c.changed_by for c in changes} == {alice.id}
        # A row written under wider bounds: its failing values take their defaults.
        row = db.get(AnomalySettings, cabinet.id)
        row.thresholds = json.dumps(
            {"denials_per_account": 10_000, "close_hour": 22, "open_days": [], "gone": 1}
        )
    with ctx.sessions.begin() as db:
        current, _ = AnomalyService(db, ctx).settings(alice, cabinet.id)
        assert (current.denials_per_account, current.close_hour) == (10, 22)
        assert current.open_days == [0, 1, 2, 3, 4, 5]
    assert "denials_per_account" in caplog.text and "10000" not in caplog.text
    _denied(cabinet, clock, cabinet.doctors[0])
    assert [a.rule for a in cabinet.evaluate()] == [Rule.REPEATED_DENIALS]


def test_r22_denials_naming_a_practice_count_only_there(cabinet: Cabinet, clock, outbox):
    """Denials about a patient that name the Cabinet raise the patient's alert in the
    Cabinet only: the patient's other practice learns nothing of them."""
    ctx = cabinet.ctx
    with ctx.sessions.begin() as db:
        elsewhere = db.scalar(
            select(Membership.practice_id).where(Membership.account_id == cabinet.outsider_admin)
        )
        db.add(Membership(practice_id=elsewhere, account_id=cabinet.patients[0], role=Role.PATIENT))
    start = _tuesday(clock, 10)
    for i in range(10):
        cabinet.entry(
            start + timedelta(minutes=i),
            cabinet.doctors[0],
            patient=cabinet.patients[0],
            outcome=Outcome.DENIED,
        )
    alerts = cabinet.evaluate()
    about_patient = [(a.practice_id, a.subject_id) for a in alerts if a.subject_kind == "patient"]
    assert about_patient == [(cabinet.id, cabinet.patients[0])]
    assert all(a.practice_id == cabinet.id for a in alerts)
    assert outbox.messages("zoe@example.org") == []


def test_r22_a_flood_of_patient_alerts_mutes_no_other_rule_and_pages(
    cabinet: Cabinet, clock, outbox
):
    """Denials over 25 patients raise 25 patient alerts (and one about the account
    that asked): the 20 patient alerts mailed use up only their own budget, so the
    scrape and another account's denials are still mailed; the list reads on page by
    page from its last alert."""
    start = _tuesday(clock, 10)
    for p in range(25):
        for i in range(10):
            cabinet.entry(
                start + timedelta(seconds=p * 10 + i),
                cabinet.outsider_admin,
                outcome=Outcome.DENIED,
                patient=cabinet.patients[p],
            )
    flood = cabinet.evaluate()
    assert sorted(a.subject_kind for a in flood) == ["account"] + ["patient"] * 25
    mailed = len(outbox.messages("alice@example.org"))
    assert mailed == 20 + 1
    doctor = cabinet.doctors[0]
    for i in range(26):
        cabinet.entry(start + timedelta(minutes=5, seconds=i), doctor, patient=cabinet.patients[i])
    _denied(cabinet, clock, doctor, hour=11)
    clock.advance(minutes=1)
    later = {(a.rule, a.subject_kind) for a in cabinet.evaluate()[26:]}
    assert later == {(Rule.MASS_DOWNLOAD, "account"), (Rule.REPEATED_DENIALS, "account")}
    assert len(outbox.messages("alice@example.org")) == mailed + 2

    ctx, admin = cabinet.ctx, cabinet.account(cabinet.admin)
    with ctx.sessions() as db:
        every = AnomalyService(db, ctx).alerts(admin, cabinet.id)
        assert len(every) == 28
        first = AnomalyService(db, ctx).alerts(admin, cabinet.id, before=every[9].id)
        assert [a.id for a in first] == [a.id for a in every[10:]]
        with pytest.raises(InvalidInput):
            AnomalyService(db, ctx).alerts(admin, cabinet.id, before=uuid.uuid4())


def test_r22_a_round_reads_only_the_history_its_windows_need(cabinet: Cabinet, clock):
    """Another practice's day-long windows do not make the Cabinet's round read a day
    of refusals; the denied history of the patients a new entry was denied about is
    read, over the Cabinet's window, whoever asked before."""
    ctx, now = cabinet.ctx, clock.now
    for i in range(200):
        cabinet.entry(
            now - timedelta(hours=20, seconds=-i),
            cabinet.outsider_admin,
            outcome=Outcome.DENIED,
            patient=cabinet.patients[1],
        )
    cabinet.evaluate()
    with ctx.sessions.begin() as db:
        elsewhere = db.scalar(
            select(Membership.practice_id).where(Membership.account_id == cabinet.outsider_admin)
        )
        AnomalyService(db, ctx).tune(
            db.get(Account, cabinet.outsider_admin),
            elsewhere,
            Thresholds(mass_window_minutes=1440, denials_window_minutes=1440),
        )
    cabinet.entry(now - timedelta(minutes=12), cabinet.doctors[1], patient=cabinet.patients[0])
    cabinet.write()

    def facts() -> tuple[int, int]:
        with ctx.sessions() as db:
            at = db.get(AnomalyPosition, "journal").position
            found, new = AnomalyService(db, ctx)._facts(at, _Directory(db))
            return len(found), new

    assert facts() == (1, 1)
    for i in range(9):
        who = cabinet.doctors[i % 2]
        cabinet.entry(
            now - timedelta(minutes=10 - i),
            who,
            outcome=Outcome.DENIED,
            patient=cabinet.patients[2],
        )
    assert [a for a in cabinet.evaluate() if a.subject_id == cabinet.patients[2]] == []
    cabinet.entry(now, cabinet.admin, outcome=Outcome.DENIED, patient=cabinet.patients[2])
    raised = [a for a in cabinet.evaluate() if a.subject_id == cabinet.patients[2]]
    assert [(a.subject_id, a.count) for a in raised] == [(cabinet.patients[2], 10)]


def test_r22_an_account_with_no_staff_place_denied_in_a_practice_is_an_alert(
    cabinet: Cabinet, clock
):
    """A practitioner with no membership anywhere, denied 10 times about the Cabinet's
    patients, is named by an alert of the Cabinet, besides the patients' alerts."""
    with cabinet.ctx.sessions.begin() as db:
        bob = _account(db, "bob@example.org")
    start = _tuesday(clock, 10)
    for i in range(10):
        cabinet.entry(
            start + timedelta(seconds=i), bob, outcome=Outcome.DENIED, patient=cabinet.patients[i]
        )
    about_bob = [a for a in cabinet.evaluate() if a.subject_id == bob]
    assert [(a.practice_id, a.rule, a.count) for a in about_bob] == [
        (cabinet.id, Rule.REPEATED_DENIALS, 10)
    ]


def test_r22_an_admin_the_subject_vouched_for_does_not_decide_for_it(cabinet: Cabinet, clock):
    """Alice invites x@ as admin and vouches for it: x@ does not dismiss the alert
    about Alice while an operator can; an admin Alice did not vouch for does."""
    ctx = cabinet.ctx
    x = _second_admin(cabinet, "x@example.org")
    with ctx.sessions.begin() as db:
        member = db.scalar(
            select(Membership).where(
                Membership.practice_id == cabinet.id, Membership.account_id == x
            )
        )
        member.identity_verified_by = cabinet.admin
    _denied(cabinet, clock, cabinet.admin)
    [alert] = cabinet.evaluate()
    with ctx.sessions.begin() as db, pytest.raises(Forbidden, match="vouched for you"):
        AnomalyService(db, ctx).dismiss(
            cabinet.account(x), alert.id, "Rien à signaler, vu avec elle."
        )
    with ctx.sessions.begin() as db:
        done = AnomalyService(db, ctx).dismiss(
            cabinet.account(cabinet.operator), alert.id, "Vérifié : mot de passe mal tapé."
        )
        assert done.status == DISMISSED
