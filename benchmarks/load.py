"""A practice network under load, in the production layout (issue 23).

    .venv/bin/python benchmarks/load.py                      # 1 then 2 API processes, 60 s each
    .venv/bin/python benchmarks/load.py --processes 2 --kill-half-way
    .venv/bin/python benchmarks/load.py --practitioners 4 --patients 8 --seconds 20

For each number of API processes: the shipped nginx site (TLS) in front of them, on a
PostgreSQL of their own and an S3 store (moto's server), as tests/deployment.py builds
it. Setup, not timed: one practice, its practitioners and patients registered, signed
in and joined through the proxy, a conversation between each practitioner and a
patient. Then each person is a thread of this process with a device of its own (the
Python SDK over its own TLS connection, keys unlocked), for ``--seconds``:

- a practitioner, at random: lists the inbox (40 %), sends a document of 100 KiB to
  5 MiB (log-uniform) to one of the practice's patients (20 %), reads a document of
  the inbox (25 %), writes in the conversation (15 %);
- a patient: lists the inbox (50 %), reads a document (35 %), reads the conversation
  (15 %).

Every HTTP answer is counted by route (ids folded): the time from the request sent to
the answer's headers, and its status; an error is a 5xx answer (the goal: none, but in
the kill run). A request that got no answer (a transport error) or an answer the
device refused shows as an operation that failed on the device, by the error's kind.
``--kill-half-way`` kills (SIGKILL) the first API process at half time; afterwards
every document whose sending was acknowledged is checked to be in the database and a
sample of them is opened by its patient. The load generator is this process: it
shares the machine's CPUs with nginx, the API processes, PostgreSQL and the store
(the client's crypto included).

Prints a Markdown report for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx2
from sqlalchemy import func, select
from timing import cpu_name

from tests.deployment import Deployment, production_layout
from tests.server.records.conftest import device
from tests.server_fixtures import User
from uhealthsec.client.exchange import ExchangeClient
from uhealthsec.client.exchange.messaging import MessagingClient
from uhealthsec.server.records.models import Document

_ID = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d+)$")


def route_of(method: str, path: str) -> str:
    """``GET /documents/{id}/versions/{id}/content``: ids and numbers folded."""
    return method + " " + "/".join("{id}" if _ID.match(part) else part for part in path.split("/"))


@dataclass
class Answers:
    """Every answer of the run: (route, status or 0 for a transport error, seconds, when)."""

    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: list[tuple[str, int, float, float]] = field(default_factory=list)

    def record(self, route: str, status: int, seconds: float) -> None:
        with self.lock:
            self.seen.append((route, status, seconds, time.monotonic() - self.started))

    def hooks(self) -> dict[str, list[Any]]:
        def sent(request: httpx2.Request) -> None:
            request.extensions["sent_at"] = time.monotonic()

        def answered(response: httpx2.Response) -> None:
            request = response.request
            seconds = time.monotonic() - request.extensions["sent_at"]
            self.record(route_of(request.method, request.url.path), response.status_code, seconds)

        return {"request": [sent], "response": [answered]}


@dataclass
class Person:
    user: User
    exchange: ExchangeClient
    messaging: MessagingClient
    thread: str | None = None


def people(
    layout: Deployment, answers: Answers, practitioners: int, patients: int
) -> tuple[list[Person], list[Person], dict[str, str]]:
    """The practice, its people signed in through the proxy, each with a device of its
    own whose answers ``answers`` counts; the patients' files by address."""
    users = layout.users
    tag = uuid.uuid4().hex[:6]
    doctors = [
        users.signed_in(f"dr{i}-{tag}@load.example", "practitioner") for i in range(practitioners)
    ]
    sick = [users.signed_in(f"pt{i}-{tag}@load.example", "patient") for i in range(patients)]
    admin = device(layout.client, users, doctors[0])
    practice = admin.call("POST", "/practices", json={"name": f"Maison de santé {tag}"}).json()[
        "id"
    ]
    for doctor in doctors[1:]:
        users.join_practice(doctors[0], practice, doctor, role="practitioner")
    for patient in sick:
        users.join_practice(doctors[0], practice, patient)
    files = {p.email: admin.patient_file(practice, p.email)["id"] for p in sick}

    def person(user: User) -> Person:
        http = httpx2.Client(
            base_url=layout.proxy.https,
            verify=layout.proxy.tls(),
            timeout=120,
            event_hooks=answers.hooks(),
        )
        exchange = device(http, users, user)
        return Person(user, exchange, MessagingClient(exchange))

    staff = [person(d) for d in doctors]
    patients_ = [person(p) for p in sick]
    for i, doctor in enumerate(staff):
        patient = patients_[i % len(patients_)]
        thread = doctor.messaging.start_thread([patient.user.email])["id"]
        doctor.thread = patient.thread = thread
    return staff, patients_, files


@dataclass
class Outcome:
    sent: dict[uuid.UUID, tuple[str, int]] = field(default_factory=dict)  # id: patient, size
    read_bytes: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def document_size(rng: random.Random) -> int:
    return int(math.exp(rng.uniform(math.log(100 * 1024), math.log(5 * 1024 * 1024))))


def practitioner_day(
    person: Person, files: dict[str, str], until: float, outcome: Outcome, work: Path, seed: int
) -> None:
    rng = random.Random(seed)
    patients = sorted(files)
    while time.monotonic() < until:
        choice = rng.random()
        try:
            if choice < 0.40:
                person.exchange.documents(limit=50)
            elif choice < 0.60:
                patient = rng.choice(patients)
                size = document_size(rng)
                source = work / f"{uuid.uuid4().hex}.pdf"
                source.write_bytes(os.urandom(size))
                try:
                    sent = person.exchange.send(
                        source, patient_file_id=files[patient], to=[patient], title="Compte rendu"
                    )
                finally:
                    source.unlink()
                with outcome.lock:
                    outcome.sent[sent] = (patient, size)
            elif choice < 0.85:
                read(person, rng, outcome, work)
            elif person.thread is not None:
                person.messaging.send(
                    person.thread, "Bonjour, voici la suite de votre prise en charge."
                )
        except Exception as exc:  # what a device sees; counted, the day goes on
            with outcome.lock:
                outcome.failures.append(type(exc).__name__)


def patient_day(person: Person, until: float, outcome: Outcome, work: Path, seed: int) -> None:
    rng = random.Random(seed)
    while time.monotonic() < until:
        choice = rng.random()
        try:
            if choice < 0.50:
                person.exchange.documents(limit=50)
            elif choice < 0.85:
                read(person, rng, outcome, work)
            elif person.thread is not None:
                person.messaging.read(person.thread)
        except Exception as exc:  # what a device sees; counted, the day goes on
            with outcome.lock:
                outcome.failures.append(type(exc).__name__)


def read(person: Person, rng: random.Random, outcome: Outcome, work: Path) -> None:
    listed = person.exchange.documents(limit=50)
    if not listed:
        return
    target = work / f"{uuid.uuid4().hex}.out"
    received = person.exchange.fetch(rng.choice(listed).id, target)
    with outcome.lock:
        outcome.read_bytes += received.path.stat().st_size
    target.unlink()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(processes: int, args: argparse.Namespace) -> str:
    answers = Answers()
    outcome = Outcome()
    lines = []
    with (
        tempfile.TemporaryDirectory(prefix="uhs-load-") as home,
        tempfile.TemporaryDirectory(dir="/dev/shm") as work,
        production_layout(Path(home), processes) as layout,
    ):
        setup_started = time.monotonic()
        staff, patients, files = people(layout, answers, args.practitioners, args.patients)
        setup = time.monotonic() - setup_started
        answers.seen.clear()
        answers.started = start = time.monotonic()
        until = start + args.seconds
        threads = [
            threading.Thread(
                target=practitioner_day, args=(p, files, until, outcome, Path(work), i)
            )
            for i, p in enumerate(staff)
        ] + [
            threading.Thread(target=patient_day, args=(p, until, outcome, Path(work), 1000 + i))
            for i, p in enumerate(patients)
        ]
        for thread in threads:
            thread.start()
        killed_at = None
        if args.kill_half_way and processes > 1:
            time.sleep(args.seconds / 2)
            os.kill(layout.pid_on(layout.api_ports[0]), signal.SIGKILL)
            killed_at = time.monotonic() - start
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - start
        lost = check_acknowledged(layout, patients, outcome, Path(work))
    lines.append(
        f"### {processes} API process{'es' if processes > 1 else ''}"
        + (", the first killed half-way" if killed_at else "")
    )
    lines.append("")
    total = len(answers.seen)
    errors = [a for a in answers.seen if a[1] == 0 or a[1] >= 500]
    sent_mib = sum(size for _, size in outcome.sent.values()) / 2**20
    lines.append(
        f"{args.practitioners} practitioners and {args.patients} patients for {elapsed:.0f} s "
        f"(setup {setup:.0f} s): "
        f"**{total / elapsed:.1f} requests/s**, {len(errors)} errors (5xx), "
        f"{len(outcome.sent)} documents sent ({sent_mib:.0f} MiB, {sent_mib / elapsed:.1f} MiB/s), "
        f"{outcome.read_bytes / 2**20:.0f} MiB read; "
        f"operations that failed on a device: {len(outcome.failures)}"
        + (f" ({', '.join(sorted(set(outcome.failures)))})" if outcome.failures else "")
        + "."
    )
    if killed_at is not None:
        after = [a for a in errors if a[3] >= killed_at]
        lines.append("")
        lines.append(
            f"Killed at {killed_at:.0f} s: {len(after)} errors after it, the last at "
            f"{max((a[3] for a in after), default=killed_at) - killed_at:.1f} s after the kill; "
            f"acknowledged documents missing afterwards: {lost}."
        )
    lines.append("")
    lines.append("| route | answers | p50 ms | p99 ms | 5xx |")
    lines.append("|---|---:|---:|---:|---:|")
    by_route: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for route, status, seconds, _ in answers.seen:
        by_route[route].append((status, seconds))
    for route, seen in sorted(by_route.items(), key=lambda item: -len(item[1])):
        times = [s * 1000 for _, s in seen]
        failed = sum(1 for status, _ in seen if status == 0 or status >= 500)
        lines.append(
            f"| `{route}` | {len(seen)} | {statistics.median(times):.0f} "
            f"| {percentile(times, 0.99):.0f} | {failed} |"
        )
    lines.append("")
    return "\n".join(lines)


def check_acknowledged(
    layout: Deployment, patients: list[Person], outcome: Outcome, work: Path
) -> int:
    """Acknowledged documents missing from the database; a sample opened by its patient."""
    with layout.ctx.sessions() as db:
        found = db.scalar(
            select(func.count()).select_from(Document).where(Document.id.in_(list(outcome.sent)))
        )
    by_email = {p.user.email: p for p in patients}
    for document_id, (email, size) in list(outcome.sent.items())[:10]:
        target = work / f"check-{document_id}"
        received = by_email[email].exchange.fetch(document_id, target)
        assert received.path.stat().st_size == size, "a document came back altered"
    return len(outcome.sent) - (found or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--practitioners", type=int, default=8)
    parser.add_argument("--patients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--kill-half-way", action="store_true")
    args = parser.parse_args()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(
        f"{date.today()}, {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"load before: {load}\n")
    for processes in args.processes:
        print(run(processes, args), flush=True)
    print("load after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
