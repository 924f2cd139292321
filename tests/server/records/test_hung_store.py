"""A hung object store (moto's process stopped: connections open, nothing answers):
reads fail within the S3 client's timeouts instead of hanging, and ``/health`` answers
while every worker thread waits on the store."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
from botocore.exceptions import ReadTimeoutError

from tests.s3 import MotoProcess
from tests.server.records.conftest import Practice
from tests.server_fixtures import make_settings
from uhealthsec.server.settings import Settings
from uhealthsec.server.storage.blobs import S3BlobStore, s3_client_config

READ_TIMEOUT = 1.0
#: Each call: a first attempt and one retry.
RETRIES = 1
#: botocore's "standard" backoff before the first retry: at most one second.
BACKOFF = 1.0
#: For the scheduling of a loaded test machine.
SLACK = 1.5


@pytest.fixture
def store(moto_process: MotoProcess) -> S3BlobStore:
    endpoint = moto_process.bucket()
    config = s3_client_config(connect_timeout=1.0, read_timeout=READ_TIMEOUT, max_retries=RETRIES)
    return S3BlobStore(endpoint.client(config), endpoint.bucket)


def test_reads_from_a_hung_store_fail_within_the_timeout(
    store: S3BlobStore, moto_process: MotoProcess, tmp_path: Path
):
    key = uuid.uuid4().hex
    data = os.urandom(24 << 20)  # more than the loopback socket buffers hold
    source = tmp_path / "spooled"
    source.write_bytes(data)
    store.put_file(key, source)

    with moto_process.hung():
        for read in (lambda: b"".join(store.read(key)), lambda: store.read_prefix(key, 78)):
            started = time.monotonic()
            with pytest.raises(ReadTimeoutError):
                read()
            elapsed = time.monotonic() - started
            attempts = RETRIES + 1
            assert attempts * READ_TIMEOUT <= elapsed < attempts * READ_TIMEOUT + BACKOFF + SLACK

    # The store hangs in the middle of a download: the next read of the body times out.
    chunks = store.read(key)
    received = len(next(chunks))
    with moto_process.hung():
        started = time.monotonic()
        with pytest.raises(ReadTimeoutError):
            for chunk in chunks:
                received += len(chunk)
        assert time.monotonic() - started < READ_TIMEOUT + SLACK
    assert 0 < received < len(data)

    # Once the store answers again, so does the client.
    assert b"".join(store.read(key)) == data


@pytest.fixture
def settings(tmp_path: Path, database_url: str, moto_process: MotoProcess) -> Settings:
    # Long enough for the downloads to wait on the store for the whole test.
    return make_settings(
        tmp_path, database_url, **moto_process.bucket().settings(), s3_read_timeout_seconds=60
    )


def _connections_to(port: int) -> int:
    """Established TCP connections to ``port`` on loopback, seen from the client side."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1 for line in lines if line.split()[2] == f"0100007F:{port:04X}" and line.split()[3] == "01"
    )


def test_health_answers_while_downloads_wait_on_a_hung_store(
    practice: Practice, live_server: str, moto_process: MotoProcess, report: Path, ctx
):
    document = practice.alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[practice.bob.email]
    )
    content = f"{live_server}/documents/{document}/versions/1/content"
    bearer = {"Authorization": f"Bearer {practice.bob.user.tokens.access_token}"}
    # More downloads than the server has worker threads (40): each holds one while it
    # waits on the store or for a database connection (the pool's 15 are taken).
    downloads = 45

    def download() -> tuple[int, bytes, float]:
        answer = httpx2.get(content, headers=bearer, timeout=60)
        return answer.status_code, answer.content, time.monotonic()

    idle = _connections_to(moto_process.port)
    with ThreadPoolExecutor(downloads) as pool, moto_process.hung():
        pending = [pool.submit(download) for _ in range(downloads)]
        # The store has taken the requests that hold a database connection.
        deadline = time.monotonic() + 30
        while _connections_to(moto_process.port) < idle + 10:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        started = time.monotonic()
        health = httpx2.get(f"{live_server}/health", timeout=5)
        answered = time.monotonic()
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert answered - started < 1.0
        assert not any(p.done() for p in pending)  # all still waiting on the store
    results = [p.result(timeout=60) for p in pending]
    # The store answers again: every download completes, after /health had answered.
    assert {status for status, _, _ in results} == {200}
    stored = {hashlib.sha256(body).digest() for _, body, _ in results}
    assert len(stored) == 1
    assert all(done > answered for _, _, done in results)
