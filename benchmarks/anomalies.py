"""The anomaly rules (R22) over a simulated month of a practice.

    .venv/bin/python benchmarks/anomalies.py [--days 30] [--seed 7]

A practice of 10 practitioners (the first its admin), each with 50 patients of their
own, and ``--days`` days of normal activity (Europe/Paris): Monday to Friday, and
Saturday morning for three of them; consultations from 8h to 19h, a Poisson number of
patients a day (mean 16, each practitioner's own mean between 12 and 20), each
consultation reading 1 to 4 of the patient's documents (two entries each: the document,
then its content) and, one time in four, adding a note; a denied request (a stale link)
one consultation in fifty; requests from the office's network. Two habits of real
practitioners are in the normal month, at rates chosen here, not measured: a
practitioner-day in twelve ends with paperwork read from home between 20h and 20h45,
and one in forty has a request from a phone's network within minutes of the office's.

Then anomalies are injected after the month, one per rule, plus one below the mass
download's threshold to show where the rule stops seeing. The journal's tables are
written directly (what the rules read; the Merkle log is not needed), in SQLite, and
the worker's evaluation (``AnomalyService.evaluate``) runs once per simulated hour,
as it would run every 15 seconds on the entries of those 15 seconds: its windows read
the history, so the result does not depend on how often it runs.

Reported: alerts per rule over the normal month, as false positives per week; each
injected anomaly, detected or not; the evaluation's time per 10,000 entries (one
batch of 10,000), against reading the same rows (the baseline: what any evaluation
must at least read).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select

from uhealthsec.crypto.journal import ENTRY_VERSION_UNCHAINED, JournalEntry, ObjectKind, Outcome
from uhealthsec.server.accounts.models import Account, AccountStatus, Membership, Practice, Role
from uhealthsec.server.app import build_context
from uhealthsec.server.audit.models import (
    JournalNetworkRecord,
    JournalPatient,
    JournalRecord,
    ReadCount,
)
from uhealthsec.server.audit.refusals import JOURNALED_READS_PER_MINUTE
from uhealthsec.server.incidents.anomalies.models import AnomalyAlert, AnomalyPosition
from uhealthsec.server.incidents.anomalies.rules import Rule
from uhealthsec.server.incidents.anomalies.service import AnomalyService
from uhealthsec.server.incidents.anomalies.thresholds import Thresholds
from uhealthsec.server.settings import Settings
from uhealthsec.server.storage import migrate
from uhealthsec.server.storage.db import insert_rows, make_engine

PARIS = ZoneInfo("Europe/Paris")
START = date(2026, 9, 7)  # a Monday
OFFICE = "192.0.2.{}"
HOME = "198.51.100.{}"
PHONE = "203.0.113.{}"


class SimClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 9, 6, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Journal:
    """Rows of the journal's tables waiting to be written."""

    index: int = 0

    def __post_init__(self) -> None:
        self.entries: list[dict] = []
        #: Side rows by the entry's key (its place in the simulation, not yet its index).
        self.patients: dict[int, uuid.UUID] = {}
        self.network: dict[int, tuple[str, datetime]] = {}

    def add(
        self,
        at: datetime,
        actor: uuid.UUID,
        practice: uuid.UUID | None,
        action: str,
        *,
        patient: uuid.UUID | None = None,
        document: uuid.UUID | None = None,
        outcome: Outcome = Outcome.DONE,
        ip: str | None = None,
    ) -> None:
        objects = [(ObjectKind.PATIENT, patient)] if patient else []
        objects += [(ObjectKind.DOCUMENT, document)] if document else []
        entry = JournalEntry(
            timestamp_ms=int(at.timestamp() * 1000),
            actor=actor,
            action=action,
            outcome=outcome,
            status=200 if outcome == Outcome.DONE else 404,
            objects=tuple(objects),
            version=ENTRY_VERSION_UNCHAINED,
        )
        self.entries.append(
            {
                "key": self.index,
                "entry": entry.encode(),
                "actor_id": actor,
                "practice_id": practice,
                "action": action,
                "outcome": int(outcome),
                "created_at": at.astimezone(UTC),
                "outbox_id": None,
            }
        )
        if patient:
            self.patients[self.index] = patient
        if ip:
            self.network[self.index] = (ip, at.astimezone(UTC))
        self.index += 1

    def write_until(self, db, until: datetime) -> int:
        """Write the rows before ``until`` (in the journal's order)."""
        self.entries.sort(key=lambda r: r["created_at"])
        cut = next(
            (i for i, r in enumerate(self.entries) if r["created_at"] >= until), len(self.entries)
        )
        rows, self.entries = self.entries[:cut], self.entries[cut:]
        if not rows:
            return 0
        # Indexes follow time, as the writer gives them.
        last = db.scalar(select(JournalRecord.log_index).order_by(JournalRecord.log_index.desc()))
        base = 0 if last is None else last + 1
        patients, network = [], []
        for offset, r in enumerate(rows):
            key, index = r.pop("key"), base + offset
            r["log_index"] = index
            if key in self.patients:
                patients.append({"patient_id": self.patients.pop(key), "log_index": index})
            if key in self.network:
                ip, at = self.network.pop(key)
                network.append({"log_index": index, "ip_address": ip, "created_at": at})
        insert_rows(db, JournalRecord.__table__, rows)
        insert_rows(db, JournalPatient.__table__, patients)
        insert_rows(db, JournalNetworkRecord.__table__, network)
        return len(rows)


def paris(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=PARIS)


def people(db) -> tuple[uuid.UUID, list[uuid.UUID], list[list[uuid.UUID]]]:
    practice = Practice(id=uuid.uuid4(), name="Cabinet simulé")
    db.add(practice)
    doctors, patients = [], []

    def account(email: str, kind: str) -> uuid.UUID:
        a = Account(
            id=uuid.uuid4(),
            email=email,
            display_name=email,
            kind=kind,
            status=AccountStatus.ACTIVE,
            password_hash="x",
            keystore=b"",
            public_keys=b"",
            key_fingerprint=bytes(32),
        )
        db.add(a)
        return a.id

    for d in range(10):
        doctors.append(account(f"dr{d}@sim.test", "practitioner"))
        patients.append([account(f"p{d}-{p}@sim.test", "patient") for p in range(50)])
    db.flush()
    for d, doctor in enumerate(doctors):
        role = Role.ADMIN if d == 0 else Role.PRACTITIONER
        db.add(Membership(practice_id=practice.id, account_id=doctor, role=role))
        for p in patients[d]:
            db.add(Membership(practice_id=practice.id, account_id=p, role=Role.PATIENT))
    return practice.id, doctors, patients


def normal_month(rng, journal, practice, doctors, patients, days: int) -> None:
    documents = {
        p: [uuid.uuid4() for _ in range(rng.randint(1, 10))] for ps in patients for p in ps
    }
    means = [rng.uniform(12, 20) for _ in doctors]
    for offset in range(days):
        day = START + timedelta(days=offset)
        for d, doctor in enumerate(doctors):
            saturday = day.weekday() == 5 and d < 3
            if day.weekday() > 4 and not saturday:
                continue
            first, last = (8, 19) if not saturday else (8, 12)
            ip = OFFICE.format(10 + d)
            seen = _poisson(rng, means[d] * (0.4 if saturday else 1.0))
            times = sorted(rng.uniform(first, last) for _ in range(seen))
            for hour in times:
                at = paris(day, int(hour), int(hour % 1 * 60), rng.randrange(60))
                patient = rng.choice(patients[d])
                for document in rng.sample(
                    documents[patient], min(rng.randint(1, 4), len(documents[patient]))
                ):
                    journal.add(
                        at,
                        doctor,
                        practice,
                        "records.document",
                        patient=patient,
                        document=document,
                        ip=ip,
                    )
                    at += timedelta(seconds=rng.randint(5, 60))
                    journal.add(
                        at,
                        doctor,
                        practice,
                        "records.content",
                        patient=patient,
                        document=document,
                        ip=ip,
                    )
                    at += timedelta(seconds=rng.randint(20, 240))
                if rng.random() < 0.25:
                    new = uuid.uuid4()
                    documents[patient].append(new)
                    journal.add(
                        at,
                        doctor,
                        practice,
                        "records.create_document",
                        patient=patient,
                        document=new,
                        ip=ip,
                    )
                if rng.random() < 0.02:
                    journal.add(at, doctor, None, "records.document", outcome=Outcome.DENIED, ip=ip)
                if rng.random() < 1 / 40 / max(seen, 1):
                    journal.add(
                        at + timedelta(minutes=3), doctor, None, "accounts.me", ip=PHONE.format(d)
                    )
            if rng.random() < 1 / 12:
                at = paris(day, 20, rng.randrange(30))
                home = HOME.format(10 + d)
                for _ in range(rng.randint(2, 6)):
                    patient = rng.choice(patients[d])
                    document = rng.choice(documents[patient])
                    journal.add(
                        at,
                        doctor,
                        practice,
                        "records.content",
                        patient=patient,
                        document=document,
                        ip=home,
                    )
                    at += timedelta(minutes=rng.randint(1, 3))


def _poisson(rng, mean: float) -> int:
    # Knuth's method: small means only.
    limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


@dataclass
class Injected:
    name: str
    rule: Rule
    subject: uuid.UUID
    at: datetime
    expected: bool = True


def inject(rng, journal, db, practice, doctors, patients, day: date) -> list[Injected]:
    """One anomaly per rule, on a Tuesday after the month (``day``)."""
    everyone = [p for ps in patients for p in ps]
    out = []
    # Mass download: 120 of the practice's patients in 40 minutes.
    at = paris(day, 10)
    for i, patient in enumerate(rng.sample(everyone, 120)):
        journal.add(
            at + timedelta(seconds=20 * i),
            doctors[3],
            practice,
            "records.content",
            patient=patient,
            document=uuid.uuid4(),
            ip=OFFICE.format(13),
        )
    out.append(
        Injected("mass download, 120 patients in 40 min", Rule.MASS_DOWNLOAD, doctors[3], at)
    )
    # Below the threshold: 24 patients in an hour (the floor is 25 and its usual day ~16).
    at = paris(day, 14)
    for i, patient in enumerate(rng.sample(everyone, 24)):
        journal.add(
            at + timedelta(minutes=2 * i),
            doctors[4],
            practice,
            "records.content",
            patient=patient,
            document=uuid.uuid4(),
            ip=OFFICE.format(14),
        )
    out.append(
        Injected(
            "slow copy, 24 patients in an hour (below the floor)",
            Rule.MASS_DOWNLOAD,
            doctors[4],
            at,
            False,
        )
    )
    # Off hours: 8 documents read at 2h30 at night.
    at = paris(day, 2, 30)
    for i in range(8):
        journal.add(
            at + timedelta(minutes=i),
            doctors[5],
            practice,
            "records.content",
            patient=rng.choice(patients[5]),
            document=uuid.uuid4(),
            ip=HOME.format(15),
        )
    out.append(Injected("night reads, 8 documents at 2h30", Rule.OFF_HOURS, doctors[5], at))
    # Repeated denials: 15 denied requests by one account in 10 minutes (probing ids).
    at = paris(day, 11)
    for i in range(15):
        journal.add(
            at + timedelta(seconds=40 * i),
            doctors[7],
            None,
            "records.document",
            outcome=Outcome.DENIED,
            ip=OFFICE.format(17),
        )
    out.append(
        Injected(
            "probing, 15 denials by one account in 10 min", Rule.REPEATED_DENIALS, doctors[7], at
        )
    )
    # Denials against one patient, by 12 accounts outside the practice.
    target = patients[1][0]
    at = paris(day, 15)
    for i in range(12):
        journal.add(
            at + timedelta(seconds=30 * i),
            uuid.uuid4(),
            None,
            "records.patient_files",
            patient=target,
            outcome=Outcome.DENIED,
        )
    out.append(
        Injected("12 accounts denied one patient in 6 min", Rule.REPEATED_DENIALS, target, at)
    )
    # A read throttle: 260 reads in a minute (60 refused).
    at = paris(day, 16).astimezone(UTC)
    db.add(ReadCount(started_at=at, account_id=doctors[2], count=JOURNALED_READS_PER_MINUTE + 60))
    out.append(
        Injected("scraping, 60 reads refused in a minute", Rule.READ_THROTTLE, doctors[2], at)
    )
    # Two networks within minutes: the office, then another country's network.
    at = paris(day, 9)
    journal.add(at, doctors[8], None, "accounts.me", ip=OFFICE.format(18))
    journal.add(at + timedelta(minutes=4), doctors[8], None, "accounts.me", ip="2001:db8:77::9")
    out.append(Injected("two networks 4 min apart", Rule.TWO_NETWORKS, doctors[8], at))
    # A network the account never used, then 25 documents downloaded in 48 minutes.
    at = paris(day, 13)
    for i in range(25):
        journal.add(
            at + timedelta(minutes=2 * i),
            doctors[9],
            practice,
            "records.content",
            patient=rng.choice(patients[9]),
            document=uuid.uuid4(),
            ip="2001:db8:99::7",
        )
    out.append(
        Injected(
            "a new network, then 25 documents in 48 min", Rule.NEW_NETWORK_READS, doctors[9], at
        )
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--close-hour", type=int, default=None, help="the practice's closing hour, tuned"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        clock = SimClock()
        settings = Settings(data_dir=Path(folder) / "var", database_url=url)
        ctx = build_context(settings, clock=clock, migrate_schema=False)
        try:
            run(ctx, clock, rng, args.days, args.close_hour)
        finally:
            ctx.close()


def run(ctx, clock, rng, days: int, close_hour: int | None) -> None:
    journal = Journal()
    with ctx.sessions.begin() as db:
        practice, doctors, patients = people(db)
    if close_hour is not None:
        with ctx.sessions.begin() as db:
            admin = db.get(Account, doctors[0])
            admin.identity_verified_at = clock.now
            AnomalyService(db, ctx).tune(admin, practice, Thresholds(close_hour=close_hour))
    with ctx.sessions.begin() as db:
        AnomalyService(db, ctx).evaluate()  # the position, before the first entry
    normal_month(rng, journal, practice, doctors, patients, days)
    end = paris(START + timedelta(days=days), 0)
    injected_day = end.date() + timedelta(days=(1 - end.date().weekday()) % 7 or 7)
    evaluations, evaluated, seconds = 0, 0, 0.0
    hour = paris(START, 0)
    while hour < end:
        hour += timedelta(hours=1)
        clock.now = hour.astimezone(UTC)
        with ctx.sessions.begin() as db:
            journal.write_until(db, hour)
        started = time.perf_counter()
        with ctx.sessions.begin() as db:
            done = AnomalyService(db, ctx).evaluate()
        seconds += time.perf_counter() - started
        evaluations, evaluated = evaluations + 1, evaluated + done.entries
    with ctx.sessions() as db:
        normal = list(db.scalars(select(AnomalyAlert)))
    weeks = days / 7
    by_rule = Counter(a.rule for a in normal)

    with ctx.sessions.begin() as db:
        injected = inject(rng, journal, db, practice, doctors, patients, injected_day)
    clock.now = paris(injected_day + timedelta(days=1), 0).astimezone(UTC)
    # The injection day's entries, in one batch of the evaluation.
    with ctx.sessions.begin() as db:
        journal.write_until(db, paris(injected_day + timedelta(days=1), 0))
    with ctx.sessions.begin() as db:
        AnomalyService(db, ctx).evaluate()
    with ctx.sessions() as db:
        after = [a for a in db.scalars(select(AnomalyAlert)) if a.created_at >= clock.now]

    # Time per 10,000 entries: the month evaluated again from the start, in batches of
    # 10,000, against reading the same rows.
    with ctx.sessions.begin() as db:
        db.get(AnomalyPosition, "journal").position = -1
        db.query(AnomalyAlert).delete()
    batches = []
    while True:
        started = time.perf_counter()
        with ctx.sessions.begin() as db:
            done = AnomalyService(db, ctx).evaluate()
        if done.entries == 0:
            break
        batches.append((done.entries, time.perf_counter() - started))
    reads = []
    with ctx.sessions() as db:
        total = db.scalar(select(JournalRecord.log_index).order_by(JournalRecord.log_index.desc()))
        for start in range(0, total + 1, 10_000):
            began = time.perf_counter()
            rows = db.execute(
                select(JournalRecord).where(
                    JournalRecord.log_index >= start, JournalRecord.log_index < start + 10_000
                )
            ).all()
            indexes = [r[0].log_index for r in rows]
            for i in range(0, len(indexes), 500):
                db.execute(
                    select(JournalPatient).where(JournalPatient.log_index.in_(indexes[i : i + 500]))
                ).all()
                db.execute(
                    select(JournalNetworkRecord).where(
                        JournalNetworkRecord.log_index.in_(indexes[i : i + 500])
                    )
                ).all()
            reads.append((len(rows), time.perf_counter() - began))
            db.expunge_all()

    per_10k = sorted(s / n * 10_000 for n, s in batches if n >= 5000)
    base_10k = sorted(s / n * 10_000 for n, s in reads if n >= 5000)
    median = per_10k[len(per_10k) // 2] if per_10k else float("nan")
    base = base_10k[len(base_10k) // 2] if base_10k else float("nan")

    tuned = "" if close_hour is None else f" --close-hour {close_hour}"
    print(f"Command: .venv/bin/python benchmarks/anomalies.py --days {days}{tuned}")
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, SQLite"
    )
    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()}")
    print(
        f"Normal activity: {evaluated} journal entries over {days} days "
        f"({evaluations} hourly evaluations, {seconds:.2f} s in all)"
    )
    print()
    print("| rule | alerts over the normal month | false positives per week |")
    print("|---|---:|---:|")
    for rule in Rule:
        print(f"| {rule.value} | {by_rule[rule]} | {by_rule[rule] / weeks:.2f} |")
    print(f"| all | {len(normal)} | {len(normal) / weeks:.2f} |")
    print()
    print("| injected anomaly | rule | detected |")
    print("|---|---|---|")
    for item in injected:
        hit = any(a.rule == item.rule and a.subject_id == item.subject for a in after)
        expected = "" if item.expected else " (below the threshold by design)"
        print(f"| {item.name} | {item.rule.value} | {'yes' if hit else 'no'}{expected} |")
    print()
    print(
        f"Evaluation per 10,000 entries (median of {len(per_10k)} batches): {median:.3f} s; "
        f"reading the same rows (baseline): {base:.3f} s; ratio {median / base:.1f}"
    )


if __name__ == "__main__":
    main()
