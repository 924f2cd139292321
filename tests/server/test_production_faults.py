"""Faults in the production layout: the shipped nginx site (TLS) in front of two API
processes (`uhs-server serve` twice) sharing one PostgreSQL of their own and one S3
store (moto's server in a process of its own), as on two hosts of a practice network.

- One API process killed (kill -9) while documents are being sent through the proxy:
  the other keeps serving, every document whose sending was acknowledged is there
  and decrypts for its reader, and the journal holds every change, without a gap.
- PostgreSQL stopped: both processes answer 503 problem+json through the proxy, and
  serve again once it is back.
- The store hung: an upload answers 503 problem+json through the proxy, nothing
  half-written is claimed, and sending works again once the store answers.
- Both API processes gone: nginx's own answer is a 503 problem+json too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select

from tests.deployment import Deployment, production_layout
from tests.faults import assert_unavailable
from tests.server.records.conftest import device
from tests.server_fixtures import User, signed_headers
from uhealthsec.client.journal import JournalClient
from uhealthsec.server.audit.models import JournalOutbox, JournalRecord
from uhealthsec.server.audit.outbox import sequence_stale
from uhealthsec.server.records.models import Blob


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with production_layout(tmp_path_factory.mktemp("production")) as layout:
        yield layout


def _practice(deployment: Deployment, tag: str) -> tuple[User, Any, User, str]:
    """A practitioner, her device (through the proxy), her patient and the patient's file."""
    users = deployment.users
    doctor = users.signed_in(f"doctor-{tag}@example.org", "practitioner")
    patient = users.signed_in(f"patient-{tag}@example.org", "patient")
    sender = device(deployment.client, users, doctor)
    practice_id = sender.call("POST", "/practices", json={"name": f"Cabinet {tag}"}).json()["id"]
    users.join_practice(doctor, practice_id, patient)
    return doctor, sender, patient, sender.patient_file(practice_id, patient.email)["id"]


def _journal_is_whole(deployment: Deployment, reader: User) -> None:
    """Every change in the journal once, no gap, every head verified by a client."""
    sequence_stale(deployment.ctx.journal, datetime.now(UTC), stale_after=timedelta(0))

    def call(method: str, path: str, **kwargs: Any) -> httpx2.Response:
        headers = {"Authorization": f"Bearer {reader.tokens.access_token}"}
        return deployment.client.request(method, path, headers=headers, **kwargs)

    verified = JournalClient(call).verify(all_heads=True)
    with deployment.ctx.sessions() as db:
        count, last = db.execute(select(func.count(), func.max(JournalRecord.log_index))).one()
        staged = db.scalar(select(func.count()).select_from(JournalOutbox))
    assert count == last + 1 >= verified.size
    assert staged == 0


def test_an_api_process_killed_while_sending_loses_no_acknowledged_document(
    deployment: Deployment, tmp_path: Path
):
    _, sender, patient, patient_file = _practice(deployment, "kill")
    acknowledged: dict[uuid.UUID, bytes] = {}
    failures: list[str] = []
    stop = threading.Event()

    def send_until_stopped() -> None:
        for n in range(200):
            if stop.is_set():
                return
            report = tmp_path / f"compte-rendu-{n}.txt"
            report.write_bytes(os.urandom(64 * 1024))
            try:
                document_id = sender.send(
                    report, patient_file_id=patient_file, to=[patient.email], title=f"CR {n}"
                )
            except Exception as exc:  # what a device sees while a host dies
                failures.append(type(exc).__name__)
                continue
            acknowledged[document_id] = report.read_bytes()

    sending = threading.Thread(target=send_until_stopped)
    sending.start()
    while len(acknowledged) < 3:
        assert sending.is_alive(), failures
        time.sleep(0.05)
    killed = deployment.pid_on(deployment.api_ports[0])
    os.kill(killed, signal.SIGKILL)
    # The other host keeps serving: more documents go through the proxy after the kill.
    after_kill = len(acknowledged)
    deadline = time.monotonic() + 60
    while len(acknowledged) < after_kill + 5:
        assert time.monotonic() < deadline and sending.is_alive(), failures
        time.sleep(0.05)
    stop.set()
    sending.join(timeout=120)
    for _ in range(10):
        assert deployment.client.get("/ready").status_code == 200

    # Every acknowledged document is there, whole, for its reader.
    reader = device(deployment.client, deployment.users, patient)
    for document_id, sent in acknowledged.items():
        folder = tmp_path / "received" / str(document_id)
        folder.mkdir(parents=True)
        assert reader.fetch(document_id, folder).path.read_bytes() == sent
    _journal_is_whole(deployment, patient)


def test_postgresql_stopped_is_503_through_the_proxy_then_served_again(
    deployment: Deployment,
):
    person = deployment.users.signed_in(f"{uuid.uuid4().hex[:8]}@example.org", "patient")
    headers = {"Authorization": f"Bearer {person.tokens.access_token}"}
    deployment.postgres.halt()
    try:
        # Whichever process answers (nginx spreads the requests over both).
        for _ in range(4):
            assert_unavailable(deployment.client.get("/accounts/me", headers=headers), "database")
        ready = deployment.client.get("/ready")
        assert ready.status_code == 503
    finally:
        deployment.postgres.resume()
    deadline = time.monotonic() + 30
    while deployment.client.get("/accounts/me", headers=headers).status_code != 200:
        assert time.monotonic() < deadline, "the API did not serve again"
        time.sleep(0.5)
    for _ in range(4):
        assert deployment.client.get("/accounts/me", headers=headers).status_code == 200


def _blobs(deployment: Deployment) -> int:
    with deployment.ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(Blob)) or 0


def test_a_hung_store_is_503_through_the_proxy_and_nothing_half_written_is_claimed(
    deployment: Deployment, tmp_path: Path
):
    doctor, sender, patient, patient_file = _practice(deployment, "store")
    report = tmp_path / "ordonnance.txt"
    report.write_bytes(os.urandom(256 * 1024))
    before = _blobs(deployment)
    data = os.urandom(64 * 1024)
    signed = signed_headers(sender, doctor.tokens.access_token, "POST", "/blobs", data)
    with deployment.moto.hung():
        answer = deployment.client.post(
            "/blobs",
            content=data,
            headers={**signed, "Content-Type": "application/octet-stream"},
        )
        assert_unavailable(answer, "document store")
    assert _blobs(deployment) == before
    # The store answers again: the document goes through, and its reader opens it.
    document_id = sender.send(report, patient_file_id=patient_file, to=[patient.email])
    reader = device(deployment.client, deployment.users, patient)
    received = tmp_path / "received.txt"
    assert reader.fetch(document_id, received).path.read_bytes() == report.read_bytes()


def test_both_api_processes_gone_is_a_503_problem_from_nginx(deployment: Deployment):
    """Last (it ends the deployment's API processes): nginx's own answer when no API
    process answers is a problem a client reads as any other 503, with HSTS."""
    for port in deployment.api_ports:
        with contextlib.suppress(AssertionError, ProcessLookupError):
            os.kill(deployment.pid_on(port), signal.SIGKILL)
    answer = deployment.client.get("/accounts/me")
    assert_unavailable(answer, "API process")
    assert answer.headers.get_list("strict-transport-security") == [
        "max-age=63072000; includeSubDomains"
    ]
