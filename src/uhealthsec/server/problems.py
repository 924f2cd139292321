"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

import errno
import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from uhealthsec.server.errors import ServiceError
from uhealthsec.server.storage.blobs import BlobMissing

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("uhealthsec.server")

#: What a 503 asks the client to wait before trying again: a database restart or an
#: object store coming back takes seconds; clients back off further on each retry.
RETRY_AFTER_SECONDS = 2
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
#: SQLite's SQLITE_FULL, as its driver words it.
_SQLITE_FULL = "database or disk is full"


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    extra: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
    problem_type: str = "about:blank",
) -> JSONResponse:
    body: dict[str, object] = {
        "type": problem_type,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def service_problem(exc: ServiceError) -> JSONResponse:
    """A service's refusal as its problem document."""
    return problem(
        exc.status,
        exc.detail,
        title=exc.title,
        extra=exc.extra,
        headers=exc.headers,
        problem_type=exc.problem_type,
    )


def unavailable(what: str, exc: BaseException) -> JSONResponse:
    log.warning("%s unavailable: %s: %s", what, type(exc).__name__, exc)
    return problem(
        503,
        f"the server cannot reach its {what} just now: try again in {RETRY_AFTER_SECONDS} seconds",
        title="Service temporarily unavailable",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _disk_full(exc: BaseException) -> JSONResponse:
    log.error("storage full: %s: %s", type(exc).__name__, exc)
    return problem(
        507,
        "the server's storage is full: the request was not carried out; the operator "
        "must free or add space",
        title="Insufficient Storage",
    )


def _database_problem(exc: sa_exc.SQLAlchemyError) -> JSONResponse | None:
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection free in time
        return unavailable("database", exc)
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "53100" or _SQLITE_FULL in str(orig):
        return _disk_full(exc)  # PostgreSQL's disk_full, SQLite's SQLITE_FULL
    if exc.connection_invalidated or isinstance(exc, sa_exc.OperationalError):
        # Down, restarting, unreachable, or busy (a lock not granted in time).
        return unavailable("database", exc)
    return None


def _store_problem(exc: BaseException) -> JSONResponse | None:
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, S3UploadFailedError):  # boto3's upload_file wraps a ClientError
        inner = exc.__cause__ or exc.__context__
        return _store_problem(inner) if inner is not None else None
    if isinstance(exc, ConnectionError | HTTPClientError):  # refused, timed out, reset
        return unavailable("document store", exc)
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if int(status) >= 500:  # the store's own failure, or its SlowDown (503)
            return unavailable("document store", exc)
    return None


def infrastructure_problem(exc: BaseException) -> JSONResponse | None:
    """The answer to a failure of what the server depends on (its database, its
    document store, its disk), or None for anything else (a bug stays a 500).

    - unavailable (down, restarting, unreachable, pool exhausted): 503 + Retry-After;
    - full (ENOSPC, EDQUOT, the database's disk full): 507;
    - a document's content that the store no longer holds: 502 (see ``_content_lost``).
    """
    if isinstance(exc, BlobMissing):
        return _content_lost(exc)
    if isinstance(exc, sa_exc.SQLAlchemyError):
        return _database_problem(exc)
    if type(exc).__module__.startswith(("botocore.", "boto3.")):
        return _store_problem(exc)
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        return _disk_full(exc)
    return None


def answer_status(exc: BaseException) -> int:
    """The status ``exc`` is answered with: its infrastructure problem's (or its
    cause's), 500 for anything else."""
    response = _first_problem(exc)
    return 500 if response is None else response.status_code


def _content_lost(exc: BlobMissing) -> JSONResponse:
    """The store has no object for a blob the database lists: data the server lost
    (a restore that missed it, an operator's deletion), not the client's doing and not
    temporary. 502: the origin's storage backend failed to deliver what it was asked
    for; not 503 (retrying cannot help), not 404/410 (the document exists, nobody
    removed it: those would read as a revocation or a purge), and not a bare 500 (the
    condition is known and named). `uhs-server cleanup --check` lists every such row."""
    log.error("blob %s is listed but missing from the document store", exc)
    return problem(
        502,
        "the server no longer holds the encrypted content of this document (its "
        "storage lost it); retrying will not help: tell the server's operator",
        title="Document content missing",
    )


class InfrastructureFailures:
    """Outside the journal middleware: a failure of the database or the store met after
    the routes (journaling a request, counting a refusal) is answered with the same
    problem as inside them, rather than a bare 500 and a reset connection. Once a
    response has started nothing can be said any more, and the error goes on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            response = None if started else _first_problem(exc)
            if response is None:
                raise
            await response(scope, receive, send)


def _first_problem(exc: BaseException) -> JSONResponse | None:
    """The answer to ``exc`` or to what caused it: Starlette reports an error met while
    a route's answer was being sent (here, by the journal) as "Caught handled
    exception, but response already started", raised from the error itself."""
    seen: BaseException | None = exc
    for _ in range(3):
        if seen is None:
            return None
        response = infrastructure_problem(seen)
        if response is not None:
            return response
        seen = seen.__cause__
    return None


def _printable(text: str) -> str:
    """``text`` as one line of a log: a character that is not printable (an escape
    sequence, a line or page break) is written as its escape, not sent to the terminal
    or the log reader."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return service_problem(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Report where the input is wrong, never the rejected value itself.
        errors = [{"location": list(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return problem(
            422, "the request does not match the expected format", extra={"errors": errors}
        )

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, _: ClientDisconnect) -> JSONResponse:
        # A client that stopped mid-request (Ctrl-C during an upload) is not a fault of
        # the server: one line, not a traceback. The answer reaches nobody.
        log.info(
            "client disconnected before the end of %s %s",
            request.method,
            _printable(request.url.path),
        )
        return problem(400, "the client disconnected before the end of the request")

    async def infrastructure_error(_: Request, exc: Exception) -> JSONResponse:
        response = infrastructure_problem(exc)
        if response is None:
            raise exc
        return response

    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    for kind in (
        sa_exc.SQLAlchemyError,
        BotoCoreError,
        ClientError,
        S3UploadFailedError,
        BlobMissing,
        OSError,
    ):
        app.add_exception_handler(kind, infrastructure_error)
