"""Limits on a request's shape, enforced before anything reads it (pure ASGI
middlewares): its body's size, and its method."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from uhealthsec.server.problems import PROBLEM_JSON


class _TooLarge(Exception):
    pass


async def _send_problem(
    send: Send, status: int, title: str, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    encoded = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(encoded)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": encoded})


#: The methods the API answers; any other word a client sends is refused before the
#: journal or a route sees it (the journal's request digest holds 16 bytes of method).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class KnownMethods:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in KNOWN_METHODS:
            allowed = ", ".join(sorted(KNOWN_METHODS)).encode()
            await _send_problem(
                send,
                405,
                "Method Not Allowed",
                "this server answers GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS only",
                ((b"allow", allowed),),
            )
            return
        await self.app(scope, receive, send)


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        #: Paths that take streamed bodies (uploads), with their own limit.
        self.larger = larger or {}

    async def _refuse(self, send: Send, max_bytes: int) -> None:
        detail = f"the request body is larger than {max_bytes} bytes"
        await _send_problem(send, 413, "Content Too Large", detail)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.larger.get(scope.get("path", ""), self.max_bytes)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = max_bytes + 1
                if declared > max_bytes:
                    await self._refuse(send, max_bytes)
                    return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send, max_bytes)
