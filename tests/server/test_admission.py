"""Many concurrent requests of one account, over real HTTP (uvicorn, its threadpool,
the database pool), on SQLite and PostgreSQL: each is answered, none with a 503 of a
pool exhausted by requests that held connections while waiting for threads
(server/admission.py), and every connection is back in the pool afterwards."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest

from tests.server.records.conftest import Practice, practice, report  # noqa: F401
from tests.serving import HTTP_TIMEOUT, ServerThread
from uhealthsec.server.admission import RESERVED_CONNECTIONS, pool_capacity
from uhealthsec.server.app import create_app
from uhealthsec.server.context import AppContext
from uhealthsec.server.records.routes import UPLOAD_PATH

#: Above the pool's connections and anyio's 40 threads, on both databases.
REQUESTS = 150


@pytest.fixture
def served(ctx: AppContext) -> Iterator[str]:
    serving = ServerThread(create_app(ctx=ctx), ctx.settings).start()
    yield serving.url
    serving.stop()


def test_more_concurrent_requests_than_connections_are_all_answered(
    practice: Practice,  # noqa: F811
    report: bytes,  # noqa: F811
    served: str,
    ctx: AppContext,
):
    capacity = pool_capacity(ctx.engine)
    assert capacity is not None and capacity - RESERVED_CONNECTIONS < REQUESTS
    alice = practice.alice
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[practice.bob.email]
    )
    headers = {"Authorization": f"Bearer {alice.user.tokens.access_token}"}
    # A document, a list, and an index nobody has (404): each takes the account's
    # session first, then reads in a sync route.
    paths = [
        f"/documents/{document_id}",
        "/documents",
        "/search/indexes/00000000-0000-0000-0000-000000000000/state",
    ]
    start = threading.Barrier(REQUESTS)

    def get(i: int) -> int:
        with httpx2.Client(base_url=served, timeout=HTTP_TIMEOUT) as client:
            start.wait(timeout=60)
            return client.get(paths[i % len(paths)], headers=headers).status_code

    with ThreadPoolExecutor(REQUESTS) as pool:
        futures = [pool.submit(get, i) for i in range(REQUESTS)]
    outcomes = [f.exception() or f.result() for f in futures]

    expected = [200, 200, 404] * (REQUESTS // 3)
    assert outcomes == expected
    assert ctx.engine.pool.checkedout() == 0


def _first_half(i: int) -> bytes:
    return f"first half of envelope {i};".encode()


def _whole_body(i: int) -> bytes:
    return _first_half(i) + b"second half"


def test_uploads_waiting_for_their_body_hold_no_place_among_the_admitted(
    practice: Practice,  # noqa: F811
    served: str,
    ctx: AppContext,
):
    """More uploads than admitted requests, each stopped halfway through its body (a
    slow client): a read is still answered, and the uploads end when their bodies do."""
    uploads = 45  # above anyio's 40 threads, so above the admitted on both databases
    # Each upload signed over its whole body beforehand (R3).
    signed = [
        {
            **practice.alice.signed("POST", UPLOAD_PATH, _whole_body(i)),
            "Content-Type": "application/octet-stream",
        }
        for i in range(uploads)
    ]
    halfway = threading.Barrier(uploads + 1)
    finish = threading.Event()

    def body(i: int) -> Iterator[bytes]:
        yield _first_half(i)
        halfway.wait(timeout=60)
        finish.wait(timeout=60)
        yield b"second half"

    def upload(i: int) -> int:
        with httpx2.Client(base_url=served, timeout=HTTP_TIMEOUT) as client:
            return client.post(UPLOAD_PATH, content=body(i), headers=signed[i]).status_code

    with ThreadPoolExecutor(uploads) as pool:
        futures = [pool.submit(upload, i) for i in range(uploads)]
        halfway.wait(timeout=60)
        try:
            with httpx2.Client(base_url=served, timeout=HTTP_TIMEOUT) as client:
                listed = client.get(
                    "/documents", headers={"Authorization": signed[0]["Authorization"]}
                )
        finally:
            finish.set()
    assert listed.status_code == 200
    assert [f.exception() or f.result() for f in futures] == [201] * uploads
    assert ctx.engine.pool.checkedout() == 0
