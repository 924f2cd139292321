"""Infrastructure failures answered as problems (issue 17, item 2): a full disk (a real
size-limited tmpfs under the server's data directory), no free database connection (the
pool really exhausted), a blob lost from the filesystem store; on SQLite and PostgreSQL,
over uvicorn, on a connection that stays open. Then how each failure is classified, and
the client's bounded retries."""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from typer.testing import CliRunner

from tests.faults import local_port
from tests.server_fixtures import User, device, make_settings, signed_headers
from uhealthsec.client.cli._common import connection
from uhealthsec.client.transport import RetryUnavailable, _environment_proxy, idempotency_key
from uhealthsec.crypto.journal import JournalEntry, Outcome
from uhealthsec.protocol.encoding import b64u_decode
from uhealthsec.server import app as app_module
from uhealthsec.server.app import build_context
from uhealthsec.server.cli import app as cli
from uhealthsec.server.problems import infrastructure_problem
from uhealthsec.server.settings import Settings
from uhealthsec.server.storage.db import make_engine

#: The data directory (spool and blobs) lives on a file system this small.
DISK = 2 << 20
POOL_SIZE = 2


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Iterator[Settings]:
    data = tmp_path / "var"
    data.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(data)], check=True)
    try:
        yield make_settings(tmp_path, database_url)
    finally:
        subprocess.run(["umount", "--lazy", str(data)], check=True)


@pytest.fixture
def ctx(settings, clock, monkeypatch):
    def small_pool(url: str, **_: object) -> Engine:
        # This pool whatever the context asks for (PostgreSQL's is a setting).
        return make_engine(url, pool_size=POOL_SIZE, max_overflow=0, pool_timeout=1)

    monkeypatch.setattr(app_module, "make_engine", small_pool)
    context = build_context(settings, clock=clock, migrate_schema=False)
    yield context
    context.close()


def upload_headers(http, user: User, data: bytes) -> dict[str, str]:
    """The headers of an upload of ``data`` by ``user``, signed (R3)."""
    signed = signed_headers(
        device(http, None, user), user.tokens.access_token, "POST", "/blobs", data
    )
    return {**signed, "Content-Type": "application/octet-stream"}


def test_a_full_disk_answers_507_and_the_next_upload_succeeds(users, live_server, settings):
    alice = users.signed_in("alice@example.org")
    with httpx2.Client(base_url=live_server, timeout=30) as http:
        big, little = b"\x02" * (DISK + (1 << 20)), b"\x03" * 1000
        signed = {data: upload_headers(http, alice, data) for data in (big, little)}
        full = http.post("/blobs", content=big, headers=signed[big])
        port = local_port(full)
        small = http.post("/blobs", content=little, headers=signed[little])
        assert local_port(small) == port  # the connection was kept
    assert full.status_code == 507, full.text
    assert full.headers["content-type"] == "application/problem+json"
    assert full.json()["title"] == "Insufficient Storage"
    entry = JournalEntry.decode(b64u_decode(full.headers["uhs-journal-entry"]))
    assert (entry.status, entry.outcome) == (507, Outcome.FAILED)
    # The refused upload's spool file was removed: the space is free again.
    assert small.status_code == 201, small.text
    assert list(settings.upload_dir.iterdir()) == []


def test_no_free_database_connection_answers_503(users, ctx, live_server):
    alice = users.signed_in("alice@example.org")
    bearer = {"Authorization": f"Bearer {alice.tokens.access_token}"}
    with httpx2.Client(base_url=live_server, timeout=30) as http:
        ports = []
        held = [ctx.engine.connect() for _ in range(POOL_SIZE)]  # every pooled connection
        try:
            # Unjournaled, then journaled (its journaling waits for a connection too).
            answers = [
                http.get("/accounts/me", headers=bearer),
                http.get("/documents", headers=bearer),
            ]
            ports += [local_port(a) for a in answers]
        finally:
            for connection in held:
                connection.close()
        for answer in answers:
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.headers["retry-after"] == "2"
        again = http.get("/documents", headers=bearer)
        assert again.status_code == 200
        ports.append(local_port(again))
    assert len(set(ports)) == 1


def test_cleanup_check_lists_an_upload_the_filesystem_store_lost(users, live_server, settings):
    alice = users.signed_in("alice@example.org")
    env = {
        "UHS_DATABASE_URL": settings.database_url.get_secret_value(),
        "UHS_DATA_DIR": str(settings.data_dir),
    }
    with httpx2.Client(base_url=live_server, timeout=30) as http:
        kept, lost = (
            http.post("/blobs", content=data, headers=upload_headers(http, alice, data))
            for data in (b"\x04" * 100, b"\x05" * 200)
        )
    assert CliRunner().invoke(cli, ["cleanup", "--check"], env=env).exit_code == 0
    lost_id = lost.json()["id"]
    (settings.blob_dir / lost_id.replace("-", "")[:2] / lost_id.replace("-", "")).unlink()

    found = CliRunner().invoke(cli, ["cleanup", "--check"], env=env)
    assert found.exit_code == 1, found.output
    assert f"missing  {lost_id}  200 bytes  unattached upload" in found.output
    assert kept.json()["id"] not in found.output


# -- how failures are classified ----------------------------------------------------------


def _client_error(status: int, code: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject"
    )


def test_failures_of_the_store_database_and_disk_are_classified():
    def status(exc: BaseException) -> int | None:
        response = infrastructure_problem(exc)
        return None if response is None else response.status_code

    assert status(_client_error(500, "InternalError")) == 503
    assert status(_client_error(503, "SlowDown")) == 503
    assert status(_client_error(403, "AccessDenied")) is None  # configuration: a 500
    wrapped = S3UploadFailedError("failed")  # how boto3's upload_file reports it
    wrapped.__context__ = _client_error(503, "SlowDown")
    assert status(wrapped) == 503
    full = OperationalError("INSERT", {}, Exception("database or disk is full"))
    assert status(full) == 507
    assert status(OperationalError("SELECT", {}, Exception("database is locked"))) == 503
    assert status(IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))) is None
    assert status(OSError(errno.EDQUOT, "Disk quota exceeded")) == 507
    assert status(OSError(errno.EIO, "Input/output error")) is None
    assert status(ValueError("a bug")) is None


# -- the client's retries -----------------------------------------------------------------


def test_retries_are_bounded_and_only_for_replayable_idempotent_requests():
    sent: list[str] = []
    waits: list[float] = []

    def unavailable(request: httpx2.Request) -> httpx2.Response:
        sent.append(request.method)
        return httpx2.Response(503, headers={"Retry-After": "100"}, json={"status": 503})

    transport = RetryUnavailable(httpx2.MockTransport(unavailable), sleep=waits.append)
    with httpx2.Client(base_url="http://uhs.test", transport=transport) as http:
        assert http.get("/documents").status_code == 503
        assert (sent, waits) == (["GET"] * 5, [30.0] * 4)  # 4 retries, capped waits

        sent.clear()
        waits.clear()
        assert http.put("/accounts/me/password", json={}).status_code == 503
        assert len(sent) == 5
        sent.clear()
        assert http.post("/practices", json={}).status_code == 503
        streamed = http.put("/x", content=iter([b"a", b"b"]))  # cannot be sent twice
        assert streamed.status_code == 503
        assert sent == ["POST", "PUT"]


def test_the_sdk_sends_a_keyed_write_again_after_a_lost_answer_and_no_other():
    """A write carrying an idempotency key is sent again when its answer is lost (the
    connection broke after it went out), when the server answers 503, and when the
    server says its first attempt is still being carried out (409 with Retry-After);
    a write without a key is not, except when it never went out."""
    sent: list[tuple[str, str | None]] = []
    waits: list[float] = []
    outcomes: list[object] = []

    def server(request: httpx2.Request) -> httpx2.Response:
        sent.append((request.method, request.headers.get("idempotency-key")))
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[return-value]

    transport = RetryUnavailable(httpx2.MockTransport(server), sleep=waits.append)
    key = {"Idempotency-Key": idempotency_key()}
    with httpx2.Client(base_url="http://uhs.test", transport=transport) as http:
        outcomes[:] = [
            httpx2.RemoteProtocolError("peer closed connection"),
            httpx2.ReadError("reset"),
            httpx2.Response(409, headers={"Retry-After": "1"}, json={"status": 409}),
            httpx2.Response(503, json={"status": 503}),
            httpx2.Response(201, json={"id": "t"}),
        ]
        assert http.post("/threads", json={}, headers=key).status_code == 201
        assert sent == [("POST", key["Idempotency-Key"])] * 5  # the same key each time
        assert waits == [1.0, 2.0, 4.0, 8.0]

        sent.clear()
        outcomes[:] = [httpx2.RemoteProtocolError("peer closed connection")]
        with pytest.raises(httpx2.RemoteProtocolError):
            http.post("/practices", json={})  # no key: it may have been done
        assert len(sent) == 1
        outcomes[:] = [httpx2.Response(409, headers={"Retry-After": "1"}, json={})]
        assert http.post("/practices", json={}).status_code == 409  # a refusal like any
        outcomes[:] = [httpx2.ConnectError("refused"), httpx2.Response(201, json={})]
        assert http.post("/practices", json={}).status_code == 201  # never went out
        sent.clear()
        outcomes[:] = [httpx2.RemoteProtocolError("closed")] * 5
        with pytest.raises(httpx2.RemoteProtocolError):  # at most 4 retries
            http.post("/threads", json={}, headers=key)
        assert len(sent) == 5


def test_the_cli_connection_retries_through_the_environment_proxy(monkeypatch):
    with connection("http://uhs.test") as http:
        assert isinstance(http._transport, RetryUnavailable)
    # A transport of its own must not lose the proxy the environment names.
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "localhost")
    assert _environment_proxy("https://uhs.test") == "http://proxy.test:3128"
    assert _environment_proxy("https://localhost:8000") is None
