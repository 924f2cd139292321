"""How the API is served over HTTP: uvicorn without its ``server`` banner, with
deadlines that close slow clients.

uvicorn arms a timer only between two requests of a kept-alive connection and cancels
it at the first byte received; a client sending a request's head or body a byte at a
time (slow loris) would hold a connection, and the memory behind it, for ever. The
protocol below adds what nginx calls ``client_header_timeout`` (the whole head of a
request within ``header_seconds`` of its first byte, or of the connection) and
``client_body_timeout`` (at most ``body_seconds`` between two reads of the body), and
closes the connection when one runs out.

Everything in the configuration is picklable (no class made on the fly): uvicorn hands
it to each worker process it starts (``uhs-server serve --workers N``).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from uhealthsec.server.settings import Settings


def no_delay(transport: asyncio.BaseTransport) -> None:
    """Send each write at once (TCP_NODELAY). asyncio sets it only on connections of a
    socket it made; the workers of ``--workers N`` accept on the socket uvicorn made
    (``socket.socket(family)``, protocol number 0), so asyncio left it off and every
    answer's body, a second small write, waited for the client's delayed ACK: 40 ms a
    request on Linux, and two workers answered slower than one."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class DeadlineH11Protocol(H11Protocol):
    header_seconds: float = 10.0
    body_seconds: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_for: str = ""

    def _arm(self, what: str, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)
        self._deadline_for = what

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._deadline_for = ""

    def _expired(self) -> None:
        self._deadline = None
        if self._deadline_for == "body" and self.flow.read_paused:
            # We stopped reading (the application is busy), not the client: wait again.
            self._arm("body", self.body_seconds)
            return
        if not self.transport.is_closing():
            self.logger.info("closing a connection that sent its request too slowly")
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        no_delay(transport)
        self._arm("header", self.header_seconds)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def _follow(self) -> None:
        """Arm the deadline that matches where the client is in its request."""
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            self._arm("body", self.body_seconds)  # every read restarts it
        elif state is h11.IDLE and self.conn.trailing_data[0]:
            if self._deadline_for != "header":  # a head has begun: it runs from here
                self._arm("header", self.header_seconds)
        else:
            # Whole request received (the application's turn), or idle between two
            # requests (uvicorn's keep-alive timer's turn), or closing.
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


@dataclass(frozen=True)
class DeadlineProtocols:
    """Makes uvicorn's connections (it calls what its ``http`` setting names) with the
    configured deadlines."""

    header_seconds: float
    body_seconds: float

    def __call__(self, *args: Any, **kwargs: Any) -> DeadlineH11Protocol:
        protocol = DeadlineH11Protocol(*args, **kwargs)
        protocol.header_seconds = self.header_seconds
        protocol.body_seconds = self.body_seconds
        return protocol


#: Open connections (idle kept-alive ones too) and requests in progress per process past
#: which uvicorn answers at once rather than queueing (the backstop behind the admission
#: of server/admission.py, which makes requests wait their turn, unanswered). Its answer
#: is its own, not the API's problem+json: 503, text/plain "Service Unavailable",
#: ``Connection: close``, which any HTTP client understands as "try again later". Far
#: above what a process serves in practice (nginx keeps few connections to it), below
#: the usual limit of 1024 open files.
CONCURRENCY_LIMIT = 900


def uvicorn_config(
    app: Any, *, host: str, port: int, settings: Settings, **extra: Any
) -> uvicorn.Config:
    """The uvicorn configuration every way of serving the API uses."""
    extra.setdefault("limit_concurrency", CONCURRENCY_LIMIT)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        # Typed as a protocol class; uvicorn only calls it to make each connection's.
        http=DeadlineProtocols(  # type: ignore[arg-type]
            settings.header_timeout_seconds, settings.body_timeout_seconds
        ),
        server_header=False,
        timeout_keep_alive=settings.keep_alive_seconds,
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
        **extra,
    )
