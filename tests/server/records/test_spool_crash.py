"""A server process killed (kill -9) during an upload leaves its spool file; the next
server process to start removes it, and keeps the spool file of an upload that another
live process is receiving, which then completes."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.server.records.conftest import Practice
from tests.server_fixtures import ORIGIN
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.server.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
UPLOAD = 8 << 20
FIRST = 2 << 20  # sent at once; the rest only when the test says


@contextmanager
def server_process(settings: Settings) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A second API process of the deployment: same database and data directory."""
    environment = {
        **os.environ,
        "UHS_DATA_DIR": str(settings.data_dir),
        "UHS_DATABASE_URL": settings.resolved_database_url,
        "UHS_ISSUER": settings.issuer,
        "UHS_WEBAUTHN_ORIGINS": json.dumps([ORIGIN]),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.server.records.serve_child"],
        cwd=ROOT,
        env=environment,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()  # printed once it serves
        assert url.startswith("http://127.0.0.1:"), url
        yield process, url
    finally:
        process.kill()
        process.wait(timeout=10)


def begin_upload(url: str, signed: dict[str, str], body: bytes) -> http.client.HTTPConnection:
    """An upload of ``body`` whose first bytes only are sent."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", "/blobs")
    for name, value in signed.items():
        connection.putheader(name, value)
    connection.putheader("Content-Type", "application/octet-stream")
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders()
    connection.send(body[:FIRST])
    return connection


def new_spool_file(spool: Path, known: set[Path]) -> Path:
    """Wait for the spool file of the upload just begun."""
    deadline = time.monotonic() + 20
    while True:
        new = set(spool.glob("upload-*")) - known if spool.is_dir() else set()
        if new:
            (found,) = new
            # Received (FIRST bytes reach it in one write of the server's buffer).
            if found.stat().st_size >= 1 << 20:
                return found
        assert time.monotonic() < deadline, "no spool file appeared"
        time.sleep(0.05)


def test_a_crashed_upload_s_spool_file_is_removed_at_the_next_start(
    practice: Practice, settings: Settings, live_server: str
):
    alice = practice.alice
    spool = settings.upload_dir
    crashed_body, live_body = os.urandom(UPLOAD), os.urandom(UPLOAD)

    with server_process(settings) as (crashing, crashing_url):
        crashed_upload = begin_upload(
            crashing_url, alice.signed("POST", "/blobs", crashed_body), crashed_body
        )
        crashed = new_spool_file(spool, set())
        # Another process of the deployment (this one) is receiving an upload too.
        live_upload = begin_upload(
            live_server, alice.signed("POST", "/blobs", live_body), live_body
        )
        live = new_spool_file(spool, {crashed})
        os.kill(crashing.pid, signal.SIGKILL)
        crashing.wait(timeout=10)
    crashed_upload.close()
    assert crashed.exists()  # nothing removed it: its process died mid-upload

    with server_process(settings):
        # Started: the crashed upload's file is gone, the live upload's is kept.
        assert sorted(spool.iterdir()) == [live]
    assert not crashed.exists()

    live_upload.send(live_body[FIRST:])
    answer = live_upload.getresponse()
    blob = json.loads(answer.read())
    live_upload.close()
    assert answer.status == 201
    assert blob["size"] == UPLOAD
    assert blob["sha256"] == b64u_encode(hashlib.sha256(live_body).digest())
    assert list(spool.iterdir()) == []
