"""HTTP hardening: security headers, documentation served from this server only (and
off when asked), and deadlines that close slow clients (docs/PROTOCOL.md is not
concerned: README, "Input and HTTP hardening")."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import socket
import time
from collections.abc import Iterator

import httpx2
import pytest
import uvicorn
from uvicorn.server import ServerState

from tests.serving import HTTP_TIMEOUT, ServerThread
from uhealthsec.server.app import create_app
from uhealthsec.server.headers import API_POLICY, DOCS_POLICY
from uhealthsec.server.listener import DeadlineH11Protocol


@pytest.fixture
def served(ctx) -> Iterator[str]:
    """The API over real HTTP as `uhs-server serve` runs it, with short deadlines."""
    settings = ctx.settings.model_copy(
        update={"header_timeout_seconds": 0.5, "body_timeout_seconds": 0.5}
    )
    serving = ServerThread(create_app(ctx=ctx), settings).start()
    yield serving.url
    serving.stop()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_every_response_carries_the_security_headers_and_no_banner(served):
    with httpx2.Client(base_url=served, timeout=HTTP_TIMEOUT) as http:
        answers = [
            http.get("/health"),
            http.get("/no-such-route"),
            http.post("/auth/prelogin", json={"email": "x"}),
            # Refused by the size limit, before the application runs.
            http.post("/auth/login", content=b"{" + b" " * 300_000 + b"}"),
        ]
    assert [a.status_code for a in answers] == [200, 404, 422, 413]
    for answer in answers:
        assert answer.headers["content-security-policy"] == API_POLICY
        assert "frame-ancestors 'none'" in API_POLICY and "default-src 'none'" in API_POLICY
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-frame-options"] == "DENY"
        assert "server" not in answer.headers


def test_the_documentation_runs_only_this_servers_scripts(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == DOCS_POLICY
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/docs/") for s in sources), sources
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert asset.content
    bundle = client.get("/docs/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in bundle.content
    assert client.get("/docs/../app.py").status_code == 404
    assert client.get("/docs/redoc.standalone.js").status_code == 404


def test_the_documentation_can_be_turned_off(ctx):
    from fastapi.testclient import TestClient

    quiet = dataclasses.replace(ctx, settings=ctx.settings.model_copy(update={"api_docs": False}))
    with TestClient(create_app(ctx=quiet)) as http:
        assert http.get("/docs").status_code == 404
        assert http.get("/openapi.json").status_code == 404
        assert http.get("/docs/swagger-ui-bundle.js").status_code == 404
        assert http.get("/health").status_code == 200


def _closed_within(connection: socket.socket, seconds: float) -> bool:
    """True when the server closes the connection (reads end) within ``seconds``."""
    connection.settimeout(seconds)
    try:
        while connection.recv(1024):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def test_a_slow_request_head_is_cut_off(served):
    with socket.create_connection(("127.0.0.1", _port(served))) as slow:
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
        started = time.monotonic()
        for _ in range(3):  # a byte now and then does not keep it open
            time.sleep(0.2)
            slow.sendall(b"X")
        assert _closed_within(slow, 3.0)
        assert time.monotonic() - started < 3.0


def test_a_connection_that_sends_nothing_is_cut_off(served):
    with socket.create_connection(("127.0.0.1", _port(served))) as idle:
        assert _closed_within(idle, 3.0)


def test_a_stalled_request_body_is_cut_off(served):
    with socket.create_connection(("127.0.0.1", _port(served))) as slow:
        slow.sendall(
            b"POST /auth/prelogin HTTP/1.1\r\nHost: localhost\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email"'
        )
        assert _closed_within(slow, 3.0)


def test_a_prompt_client_is_served_and_kept_alive(served):
    with httpx2.Client(base_url=served, timeout=HTTP_TIMEOUT) as http:
        assert http.get("/health").status_code == 200
        time.sleep(0.8)  # longer than the head deadline: idle between requests is not slow
        assert http.get("/health").status_code == 200


async def _nothing(scope, receive, send) -> None:  # an ASGI application that never runs
    raise AssertionError("not called")


def test_connections_accepted_on_the_workers_socket_send_without_delay():
    """The workers of ``--workers N`` accept on the socket uvicorn binds, where asyncio
    leaves Nagle's algorithm on: each answer's second write then waited for the
    client's delayed acknowledgement. The protocol turns it off on every connection."""
    config = uvicorn.Config(_nothing, host="127.0.0.1", port=0)
    listening = config.bind_socket()  # as uhs-server serve --workers N does
    listening.listen()  # as asyncio's server does in each worker
    loop = asyncio.new_event_loop()
    with listening, socket.create_connection(listening.getsockname()):
        accepted, _ = listening.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
            protocol = DeadlineH11Protocol(config, ServerState(), {}, _loop=loop)
            protocol.connection_made(_TransportOf(accepted))  # type: ignore[arg-type]
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            protocol.connection_lost(None)
    loop.close()


class _TransportOf:
    """What the protocol asks of asyncio's transport, for a socket of the test's."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str, default: object = None) -> object:
        extra = {
            "socket": self.sock,
            "sockname": self.sock.getsockname(),
            "peername": self.sock.getpeername(),
        }
        return extra.get(name, default)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass
