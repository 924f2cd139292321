"""The document store failing under a running server (issue 17, items 2 and 4).

The store is a moto S3 server in its own process, so that it can really be stopped
(SIGSTOP: connections accepted by the kernel, never answered) and resumed; the server is
uvicorn on loopback. A store that cannot be reached answers 503 problem+json with
Retry-After, journaled like any answer, on a connection that stays open; a blob the store
lost answers 502 and ``uhs-server cleanup --check`` lists it; downloads waiting on a slow store
hold no database connection.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx2
import pytest
from botocore.config import Config
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from tests.faults import assert_unavailable, local_port
from tests.s3 import S3Endpoint
from tests.server.records.conftest import Practice
from tests.server_fixtures import make_settings
from uhealthsec.client.api import RetryUnavailable
from uhealthsec.crypto.journal import JournalEntry, Outcome
from uhealthsec.protocol.encoding import b64u_decode
from uhealthsec.server import app as app_module
from uhealthsec.server.app import build_context
from uhealthsec.server.cli import app as cli
from uhealthsec.server.records.models import Blob, DocumentVersion
from uhealthsec.server.settings import Settings
from uhealthsec.server.storage.blobs import S3BlobStore, s3_client_config
from uhealthsec.server.storage.db import make_engine

#: The database pool of the server under test: fewer connections than the slow
#: downloads of the starvation test, and a short wait for one.
POOL_SIZE = 3
POOL_TIMEOUT = 5
SLOW_DOWNLOADS = 2 * POOL_SIZE


@dataclass
class MotoProcess:
    process: subprocess.Popen[bytes]
    url: str

    def pause(self) -> None:
        """The store hangs: its process stopped, connections wait unanswered."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoProcess]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # until it accepts connections
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto did not start") from None
                time.sleep(0.05)
        yield MotoProcess(process, f"http://127.0.0.1:{port}")
    finally:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3(moto: MotoProcess) -> S3Endpoint:
    endpoint = S3Endpoint(moto.url, f"uhs-{secrets.token_hex(6)}")
    endpoint.client().create_bucket(
        Bucket=endpoint.bucket, CreateBucketConfiguration={"LocationConstraint": endpoint.region}
    )
    return endpoint


def _storage(s3: S3Endpoint) -> dict[str, str]:
    return {
        "blob_store": "s3",
        "s3_bucket": s3.bucket,
        "s3_endpoint_url": s3.url,
        "s3_region": s3.region,
        "s3_access_key_id": s3.access_key_id,
        "s3_secret_access_key": s3.secret_access_key,
    }


@pytest.fixture
def settings(tmp_path: Path, database_url: str, s3: S3Endpoint) -> Settings:
    return make_settings(tmp_path, database_url, **_storage(s3))


@pytest.fixture
def ctx(settings, clock, monkeypatch):
    def small_pool(url: str, **_: object) -> Engine:
        # This pool whatever the context asks for (PostgreSQL's is a setting).
        return make_engine(url, pool_size=POOL_SIZE, max_overflow=0, pool_timeout=POOL_TIMEOUT)

    monkeypatch.setattr(app_module, "make_engine", small_pool)
    context = build_context(settings, clock=clock, migrate_schema=False)
    yield context
    context.close()


def store(s3: S3Endpoint, read_timeout: float, url: str | None = None) -> S3BlobStore:
    """The server's S3 store with short timeouts and no retries, so that a stopped store
    is met within the test's time (production timeouts are the store's own concern)."""
    config = s3_client_config().merge(
        Config(connect_timeout=1, read_timeout=read_timeout, retries={"total_max_attempts": 1})
    )
    client = boto3.client(
        "s3",
        endpoint_url=url or s3.url,
        region_name=s3.region,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=s3.secret_access_key,
        config=config,
    )
    return S3BlobStore(client, s3.bucket)


def sent_document(practice: Practice, report: Path) -> tuple[str, dict[str, str]]:
    """Alice sends a report to Bob: the path of its content, and Bob's credentials."""
    document_id = practice.alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[practice.bob.email]
    )
    bearer = {"Authorization": f"Bearer {practice.bob.user.tokens.access_token}"}
    return f"/documents/{document_id}/versions/1/content", bearer


def journaled(response: httpx2.Response) -> JournalEntry:
    return JournalEntry.decode(b64u_decode(response.headers["uhs-journal-entry"]))


def test_a_stopped_or_absent_store_answers_503_journaled_on_a_kept_connection(
    practice, report, ctx, live_server, moto, s3
):
    path, bearer = sent_document(practice, report)
    # Made before the first request: a store's client takes time to build, and an idle
    # connection past the server's keep-alive would be closed between two requests.
    working = store(s3, read_timeout=1)
    absent_store = store(s3, read_timeout=1, url=f"http://127.0.0.1:{_free_port()}")
    ctx.blobs = store(s3, read_timeout=1)
    with httpx2.Client(base_url=live_server, timeout=30) as http:
        served = http.get(path, headers=bearer)
        assert served.status_code == 200
        ports = [local_port(served)]

        moto.pause()
        try:
            stopped = http.get(path, headers=bearer)
        finally:
            moto.resume()
        assert_unavailable(stopped, "document store")
        ports.append(local_port(stopped))
        # The refusal is journaled like any answer: the journal's database is up.
        entry = journaled(stopped)
        assert (entry.status, entry.outcome, entry.action) == (
            503,
            Outcome.FAILED,
            "records.content",
        )

        # Nothing listens where the store should be: refused at once, same answer.
        ctx.blobs = absent_store
        absent = http.get(path, headers=bearer)
        assert_unavailable(absent, "document store")
        assert journaled(absent).status == 503
        ports.append(local_port(absent))

        ctx.blobs = working
        again = http.get(path, headers=bearer)
        assert again.status_code == 200
        assert again.content == served.content
        ports.append(local_port(again))
    # Every answer came on one connection: the server kept it open after each 503.
    assert len(set(ports)) == 1


class CountingStore:
    """The store, counting the downloads that reached it (and wait for its answer)."""

    def __init__(self, inner: S3BlobStore) -> None:
        self.inner = inner
        self.reached = 0
        self.changed = threading.Condition()

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def read(self, key: str) -> Iterator[bytes]:
        with self.changed:
            self.reached += 1
            self.changed.notify_all()
        return self.inner.read(key)


def test_downloads_waiting_on_a_hung_store_leave_the_database_to_other_requests(
    practice, report, ctx, live_server, moto, s3
):
    """More downloads wait on the stopped store than the pool has connections: other
    requests are still served, and the downloads complete once the store is back."""
    path, bearer = sent_document(practice, report)
    counting = CountingStore(store(s3, read_timeout=30))
    ctx.blobs = counting
    results: list[httpx2.Response] = []

    def download() -> None:
        with httpx2.Client(base_url=live_server, timeout=60) as http:
            results.append(http.get(path, headers=bearer))

    threads = [threading.Thread(target=download) for _ in range(SLOW_DOWNLOADS)]
    moto.pause()
    try:
        for thread in threads:
            thread.start()
        with counting.changed:
            reached = counting.changed.wait_for(
                lambda: counting.reached == SLOW_DOWNLOADS, timeout=POOL_TIMEOUT * 3
            )
        assert reached, f"only {counting.reached} downloads reached the store"
        with httpx2.Client(base_url=live_server, timeout=30) as http:
            inbox = http.get("/documents", headers=bearer)
            health = http.get("/health")
        assert inbox.status_code == 200, inbox.text
        assert len(inbox.json()) == 1
        assert health.status_code == 200
        assert not results  # the downloads were still waiting on the store
    finally:
        moto.resume()
        for thread in threads:
            thread.join(timeout=60)
    assert [r.status_code for r in results] == [200] * SLOW_DOWNLOADS
    assert len({r.content for r in results}) == 1


def _cleanup_env(settings: Settings, s3: S3Endpoint) -> dict[str, str]:
    return {
        "UHS_DATABASE_URL": settings.database_url.get_secret_value(),
        "UHS_DATA_DIR": str(settings.data_dir),
        **{f"UHS_{name.upper()}": value for name, value in _storage(s3).items()},
    }


def test_a_blob_the_store_lost_answers_502_and_cleanup_check_lists_it(
    practice, report, ctx, settings, live_server, s3
):
    path, bearer = sent_document(practice, report)
    env = _cleanup_env(settings, s3)
    clean = CliRunner().invoke(cli, ["cleanup", "--check"], env=env)
    assert clean.exit_code == 0, clean.output
    assert "Every blob the database lists is in the document store." in clean.output

    with ctx.sessions() as db:
        blob = db.scalars(
            select(Blob).join(DocumentVersion, DocumentVersion.blob_id == Blob.id)
        ).one()
    s3.client().delete_object(Bucket=s3.bucket, Key=f"blobs/{blob.key}")

    with httpx2.Client(base_url=live_server, timeout=30) as http:
        lost = http.get(path, headers=bearer)
        lost_port = local_port(lost)
        after = http.get("/documents", headers=bearer)
        assert local_port(after) == lost_port  # the connection was kept
    assert lost.status_code == 502, lost.text
    assert lost.headers["content-type"] == "application/problem+json"
    assert "retry-after" not in lost.headers  # retrying cannot help
    assert lost.json()["title"] == "Document content missing"
    assert journaled(lost).outcome == Outcome.FAILED
    assert after.status_code == 200

    found = CliRunner().invoke(cli, ["cleanup", "--check"], env=env)
    assert found.exit_code == 1, found.output
    assert f"missing  {blob.id}  {blob.size} bytes  attached" in found.output
    assert "1 blob(s) listed by the database are missing" in found.output


def test_the_sdk_retries_an_idempotent_or_keyed_request_after_503(
    practice, report, ctx, live_server, moto, s3
):
    path, bearer = sent_document(practice, report)
    ctx.blobs = store(s3, read_timeout=1)
    waits: list[float] = []

    def sleep_then_store_back(seconds: float) -> None:
        # The client waits as the server asked; meanwhile the store comes back.
        waits.append(seconds)
        moto.resume()

    transport = RetryUnavailable(sleep=sleep_then_store_back)
    with httpx2.Client(base_url=live_server, timeout=30, transport=transport) as http:
        moto.pause()
        try:
            fetched = http.get(path, headers=bearer)
        finally:
            moto.resume()
        assert fetched.status_code == 200
        assert waits == [2.0]  # one retry, after the server's Retry-After

        # A POST is repeated only with its Idempotency-Key, which every signed change
        # carries (13.0); a 503 means the store did not take it (an upload keeps no
        # answer: one carried out before would leave a blob nothing references).
        moto.pause()
        try:
            data = b"\x01" * 1000
            signed = practice.alice.signed("POST", "/blobs", data)
            upload = http.post(
                "/blobs",
                content=data,
                headers={**signed, "Content-Type": "application/octet-stream"},
            )
        finally:
            moto.resume()
        assert upload.status_code == 201, upload.text
        assert waits == [2.0, 2.0]


def test_slow_uploads_leave_the_database_to_other_requests(practice, ctx, settings, live_server):
    """More uploads whose bodies trickle in than the pool has connections: other
    requests are still served, and the uploads complete once their bodies end."""
    bearer = {"Authorization": f"Bearer {practice.alice.user.tokens.access_token}"}
    # Six uploads, each its own request (its own Idempotency-Key, signed).
    data = b"\x06" * 1000 + b"\x07" * 1000
    signed = [practice.alice.signed("POST", "/blobs", data) for _ in range(SLOW_DOWNLOADS)]
    go_on = threading.Event()
    results: list[httpx2.Response] = []

    def body() -> Iterator[bytes]:
        yield b"\x06" * 1000
        go_on.wait(timeout=60)
        yield b"\x07" * 1000

    def upload(headers: dict[str, str]) -> None:
        with httpx2.Client(base_url=live_server, timeout=60) as http:
            headers = {**headers, "Content-Type": "application/octet-stream"}
            results.append(http.post("/blobs", content=body(), headers=headers))

    threads = [threading.Thread(target=upload, args=(headers,)) for headers in signed]
    try:
        for thread in threads:
            thread.start()
        # Each upload's spool file exists once its quota check is done and its body
        # is being read.
        deadline = time.monotonic() + POOL_TIMEOUT * 3
        while len(list(settings.upload_dir.glob("upload-*"))) < SLOW_DOWNLOADS:
            assert time.monotonic() < deadline, "the uploads did not all start"
            assert not results, [r.text for r in results]
            time.sleep(0.05)
        with httpx2.Client(base_url=live_server, timeout=30) as http:
            inbox = http.get("/documents", headers=bearer)
        assert inbox.status_code == 200, inbox.text
        assert not results  # the uploads were still waiting for their bodies
    finally:
        go_on.set()
        for thread in threads:
            thread.join(timeout=60)
    assert [r.status_code for r in results] == [201] * SLOW_DOWNLOADS
