"""An API process killed (SIGKILL) at random points of 200 writes: afterwards every
committed change has exactly one journal entry, and the journal still verifies; and
clients that retry with their idempotency keys (as the SDK does) get every write done
exactly once, each answered with what the first attempt did."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta

import httpx2
from sqlalchemy import select

from tests.server.records.conftest import Practice, thread_body
from uhealthsec.client.api import RetryUnavailable, idempotency_key
from uhealthsec.client.journal import JournalClient
from uhealthsec.crypto.journal import JournalEntry, ObjectKind
from uhealthsec.server.audit.models import JournalOutbox, JournalRecord
from uhealthsec.server.audit.outbox import sequence_stale
from uhealthsec.server.messaging.models import Thread

WRITES = 200
CLIENTS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ApiProcess:
    """``uvicorn`` serving the application from the test's settings, in its own process."""

    def __init__(self, settings) -> None:
        self.env = {
            **os.environ,
            "UHS_DATA_DIR": str(settings.data_dir),
            "UHS_DATABASE_URL": settings.resolved_database_url,
            "UHS_ISSUER": settings.issuer,
            "UHS_WEBAUTHN_RP_ID": settings.webauthn_rp_id,
            "UHS_WEBAUTHN_ORIGINS": '["' + settings.webauthn_origins[0] + '"]',
        }
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "uhealthsec.server.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "critical",
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx2.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the API process did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def test_changes_are_journaled_once_whatever_point_a_process_is_killed_at(
    practice: Practice, ctx, settings
):
    alice = practice.alice.exchange
    # Signed beforehand (R3), with the bytes sent.
    bodies = [json.dumps(thread_body(alice, practice.bob.user)).encode() for _ in range(WRITES)]
    signed = {body: practice.alice.signed("POST", "/threads", body) for body in bodies}
    server = ApiProcess(settings)
    server.start()
    pending = list(reversed(bodies))
    lock = threading.Lock()
    answered: list[int] = []
    created_ids: list[str] = []
    replayed = 0

    def send() -> None:
        nonlocal replayed
        # The SDK's transport (a write whose answer was lost is sent again with its
        # key), waiting at most a quarter of a second between tries.
        transport = RetryUnavailable(httpx2.HTTPTransport(), retries=8, max_delay=0.25)
        with httpx2.Client(base_url=server.url, timeout=10, transport=transport) as http:
            while True:
                with lock:
                    if not pending:
                        return
                    body = pending.pop()
                key = {
                    "Idempotency-Key": idempotency_key(),
                    "Content-Type": "application/json",
                    **signed[body],
                }
                while True:
                    try:
                        answer = http.post("/threads", content=body, headers=key)
                    except httpx2.HTTPError:  # still down after the client's retries
                        continue  # the user tries again: the same write, the same key
                    answered.append(answer.status_code)
                    if answer.status_code == 201:
                        created_ids.append(answer.json()["id"])
                        replayed += answer.headers.get("idempotent-replayed") == "true"
                    break

    clients = [threading.Thread(target=send) for _ in range(CLIENTS)]
    for c in clients:
        c.start()
    kills = 0
    chance = random.Random(17)
    # Killed every 10 to 40 answers, at a random moment within the requests in flight.
    next_kill = chance.randint(10, 40)
    while any(c.is_alive() for c in clients):
        time.sleep(0.01)
        if len(answered) >= next_kill and any(c.is_alive() for c in clients):
            time.sleep(chance.uniform(0, 0.05))
            server.kill()
            kills += 1
            server.start()
            next_kill = len(answered) + chance.randint(10, 40)
    server.kill()
    assert len(answered) == WRITES and kills >= 3
    assert answered == [201] * WRITES, sorted(set(answered))

    # What the next start or `uhs-server worker` does: sequence what the killed processes left.
    sequence_stale(ctx.journal, ctx.now() + timedelta(hours=1))
    with ctx.sessions() as db:
        threads = set(db.scalars(select(Thread.id)))
        entries = [JournalEntry.decode(bytes(e)) for e in db.scalars(select(JournalRecord.entry))]
        staged = db.scalars(select(JournalOutbox.id)).all()
    created = [
        oid
        for e in entries
        if e.action == "messaging.create_thread"
        for kind, oid in e.objects
        if kind == ObjectKind.THREAD
    ]
    assert staged == []
    assert len(created) == len(set(created))  # none journaled twice
    assert set(created) == threads  # every committed thread journaled, none made up
    # Each write done once: one thread per request, each answered with its own.
    assert len(threads) == WRITES
    assert {uuid.UUID(i) for i in created_ids} == threads
    assert replayed >= 1  # at least one answer lost, the retry answered with it
    JournalClient(alice.call).verify()  # and the journal is whole
