"""FastAPI dependencies: the request's context, its one transaction, its caller."""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, Any

import anyio.to_thread
from anyio import CancelScope, CapacityLimiter
from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from uhealthsec.crypto.journal import SIGNATURE_FRESHNESS, RequestSignature, SignedRequest
from uhealthsec.protocol.encoding import b64u_decode
from uhealthsec.server.accounts.service import check_may_act_on_health_data
from uhealthsec.server.admission import Admission, Slot
from uhealthsec.server.audit.middleware import UNJOURNALED_METHODS
from uhealthsec.server.audit.outbox import stage
from uhealthsec.server.auth.service import Principal, SessionService
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import (
    InvalidInput,
    NotAuthenticated,
    ServiceError,
    SignatureRequired,
)
from uhealthsec.server.idempotency.service import (
    KEY_HEADER,
    AnswerKept,
    begin_write,
    keep_answer,
    keep_refusal,
    note_answer,
    parse_key,
    pending_write,
    replay_if_committed,
)
from uhealthsec.server.journaling.draft import (
    JournalDraft,
    current_draft,
    in_journaled_request,
    request_draft,
)
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.records.service import remove_uncommitted_objects
from uhealthsec.server.storage.db import transaction

logger = logging.getLogger(__name__)


async def get_ctx(request: Request) -> AppContext:
    # Async: nothing to wait for, so no hop to the threadpool as a sync function makes.
    ctx: AppContext = request.app.state.ctx
    return ctx


async def get_db(
    request: Request, ctx: Annotated[AppContext, Depends(get_ctx)]
) -> AsyncIterator[Session]:
    """One transaction per request, committed before the response is sent (see
    ``_request_transaction``).

    Async, so that opening it costs no hop to the threadpool: a session does no I/O
    until its first statement, which runs in the thread of the dependency or route
    that makes it. Only the end (staging, commit, or the replay of a refused retry)
    runs in the threadpool, as FastAPI runs a sync dependency's end: with a limiter of
    its own (waiting for a free thread while holding a connection could deadlock the
    pool) and shielded from cancellation.

    Admitted first (server/admission.py): a request waiting for its turn waits here, in
    the event loop, holding no thread and no connection; its slot is given back once
    its transaction has ended."""
    admission: Admission = request.app.state.admission
    async with admission.slot() as slot:
        request.state.admission_slot = slot
        scope = _request_transaction(request, ctx)
        session = scope.__enter__()
        try:
            yield session
        except BaseException as exc:
            with CancelScope(shield=True):
                await anyio.to_thread.run_sync(
                    scope.__exit__, type(exc), exc, exc.__traceback__, limiter=CapacityLimiter(1)
                )
            raise
        else:
            with CancelScope(shield=True):
                await anyio.to_thread.run_sync(
                    scope.__exit__, None, None, None, limiter=CapacityLimiter(1)
                )


@contextmanager
def _request_transaction(request: Request, ctx: AppContext) -> Iterator[Session]:
    """A change commits with its journal entry staged beside it (audit/outbox.py), and
    with its answer if it was sent with an idempotency key (idempotency/service.py)."""
    draft = request_draft()
    try:
        with transaction(ctx.sessions) as session:
            try:
                yield session
                about = (None, None)
                if draft is not None:
                    about = (draft.patients[0] if draft.patients else None, draft.practice_id)
                    stage(session, request.scope, draft, ctx.now())
                keep_answer(session, request.scope, draft and draft.outbox_id, about, ctx.now())
            except ServiceError as exc:
                if exc.keep_changes:  # looked up before what the refusal counted commits
                    _replay_if_committed(request, ctx, exc)
                else:
                    remove_uncommitted_objects(session, ctx)
                raise
            except BaseException:
                remove_uncommitted_objects(session, ctx)
                raise
    except BaseException as exc:
        if draft is not None:  # nothing staged was committed: journal what happened
            draft.outbox_id = None
        if isinstance(exc, AnswerKept):
            _replayed(exc)
        elif isinstance(exc, ServiceError | IntegrityError) and not _keeps_changes(exc):
            _replay_if_committed(request, ctx, exc)  # rolled back: its connection is free
            if isinstance(exc, ServiceError) and draft is not None and draft.signature:
                _keep_refusal(request, ctx, exc)
        raise


def _keeps_changes(exc: BaseException) -> bool:
    return bool(getattr(exc, "keep_changes", False))


def _replay_if_committed(request: Request, ctx: AppContext, exc: BaseException) -> None:
    """A refused keyed write whose key committed meanwhile is a retry of that write
    (idempotency/service.py): looked up in a session of its own, which sees what
    committed since the request began.

    :raises AnswerKept: it is answered as the retry it is.
    """
    with ctx.sessions() as lookup:
        try:
            replay_if_committed(lookup, request.scope, exc, ctx.now())
        except AnswerKept as kept:
            _replayed(kept)
            raise


def _keep_refusal(request: Request, ctx: AppContext, refusal: ServiceError) -> None:
    """A signed write refused: its signature used up, the refusal kept as its answer."""
    try:
        with ctx.sessions() as db:
            keep_refusal(db, request.scope, refusal, ctx.now())
    except SQLAlchemyError:  # the database gone too: the refusal stands, unkept
        logger.warning("a refused signed write could not keep its refusal")


Ctx = Annotated[AppContext, Depends(get_ctx)]


def admission_slot(request: Request) -> Slot:
    """The request's slot among those admitted to a session (``get_db``)."""
    slot: Slot = request.state.admission_slot
    return slot


Db = Annotated[Session, Depends(get_db, scope="function")]


def get_principal(request: Request, db: Db, ctx: Ctx) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated(
            "sign in first: this needs an access token (Authorization: Bearer ...)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = SessionService(db, ctx).authenticate(token.strip())
    draft = current_draft()
    draft.actor = principal.account.id
    draft.client = principal.claims.client_id
    streamed = _streamed(request)
    if streamed and request.method not in UNJOURNALED_METHODS:
        draft.declared_body = _declared_body_digest(request)
    signatures = request.headers.getlist(SIGNATURE_HEADER)
    if signatures and in_journaled_request():
        if len(signatures) > 1:
            raise InvalidInput("send one UHS-Signature header, not several")
        if streamed and draft.declared_body is None:
            raise SignatureRequired(
                "a streamed upload is signed over the digest of its body: send it with "
                "Content-Digest: sha-256=:<base64 of the body's SHA-256>: (RFC 9530)"
            )
        _verify_signature(db, ctx, principal, request, signatures[0], draft)
    keys = request.headers.getlist(KEY_HEADER)
    # A streamed body is keyed by the digest it declares (and its signature covers): a
    # captured upload sent again gets the first answer, and stores nothing (13.0).
    keyable = not streamed or draft.declared_body is not None
    if keys and request.method not in UNJOURNALED_METHODS and keyable:
        try:
            begin_write(
                db, request.scope, principal.account.id, keys, draft.request_digest(), ctx.now()
            )
        except AnswerKept as kept:
            if not _keeps_answers(request):
                _replayed(kept)
                raise
            # Answered once the route's other checks (a router's, such as the health-data
            # routers' verified identity) have passed: ``keep_route_answers``.
            request.scope.setdefault("state", {})[_DEFERRED_REPLAY] = kept
    return principal


#: Where a replay waits for the route's other dependencies, in the scope's state.
_DEFERRED_REPLAY = "deferred_replay"


def _keeps_answers(request: Request) -> bool:
    route = request.scope.get("route")
    return isinstance(route, APIRoute) and any(
        d.call is keep_route_answers for d in route.dependant.dependencies
    )


def _replayed(kept: AnswerKept) -> None:
    """The request repeats a write: it makes no journal entry, and carries the first's."""
    draft = current_draft()
    draft.replayed, draft.replay_of = True, kept.answer.outbox_id


def _streamed(request: Request) -> bool:
    """The route reads its body as a stream (an upload): it is not read beforehand."""
    route = request.scope.get("route")
    return (
        isinstance(route, APIRoute)
        and route.body_field is None
        and bool((route.openapi_extra or {}).get("requestBody"))
    )


async def read_whole_body(request: Request) -> None:
    """Read the body before anything takes the request's digest (the user's signature,
    the idempotency key, the journal entry): routes without a body parameter would
    leave it unread (a parsed body, JSON or form, is read before any dependency). A
    streamed body (an upload) is left to its route."""
    route = request.scope.get("route")
    if isinstance(route, APIRoute) and route.body_field is None and not _streamed(request):
        await request.body()


#: ``<directory index of the signer's key>;<signed_at_ms>;<base64url Ed25519 signature>``
#: over the signed request digest (docs/PROTOCOL.md, section 13): the user's own proof
#: of the action, fresh and single-use.
SIGNATURE_HEADER = "uhs-signature"


#: ``<index>;<signed_at_ms>;<signature>``: a directory index (below 2^63), the time of
#: signing in milliseconds since the epoch (below 2^63) and 64 bytes in unpadded
#: base64url, nothing else (no sign, space or digit separator that ``int`` would take).
_SIGNATURE_FORMAT = re.compile(r"([0-9]{1,19});([0-9]{1,19});([A-Za-z0-9_-]{86})")
#: Today's two-part form, refused with its own message: it is replayable.
_OLD_SIGNATURE_FORMAT = re.compile(r"[0-9]{1,19};[A-Za-z0-9_-]{86}")


def _verify_signature(
    db: Session,
    ctx: AppContext,
    principal: Principal,
    request: Request,
    header: str,
    draft: JournalDraft,
) -> None:
    """Check the request's signature (fresh, single-use, by the user's current key) and
    mark the draft signed: its digest is then the signed one."""
    value = header.strip()
    if _OLD_SIGNATURE_FORMAT.fullmatch(value):
        raise SignatureRequired(
            "this UHS-Signature has no signing time: send <your key's directory index>;"
            "<signed_at_ms>;<base64url Ed25519 signature of the signed request digest> "
            "(PROTOCOL section 13); update your client"
        )
    shape = _SIGNATURE_FORMAT.fullmatch(value)
    try:
        if shape is None or int(shape[1]) >= 1 << 63 or int(shape[2]) >= 1 << 63:
            raise ValueError("not <index>;<signed_at_ms>;<signature>")
        index, signed_at_ms = int(shape[1]), int(shape[2])
        signature = b64u_decode(shape[3])
    except ValueError as exc:
        raise InvalidInput(
            "the UHS-Signature header is malformed: send <your key's directory index>;"
            "<signed_at_ms>;<base64url Ed25519 signature of the signed request digest>"
        ) from exc
    now_ms = int(ctx.now().timestamp() * 1000)
    if abs(now_ms - signed_at_ms) > SIGNATURE_FRESHNESS // timedelta(milliseconds=1):
        raise SignatureRequired(
            "this request was signed more than 10 minutes away from the server's time: "
            "check that your device's clock is right (date, time and time zone) and send "
            "it again; nothing was changed",
            # A client whose clock is wrong signs again at this time (13.0).
            extra={"server_time_ms": now_ms},
        )
    nonce = ""
    if request.method not in UNJOURNALED_METHODS:
        keys = request.headers.getlist(KEY_HEADER)
        if not keys:
            raise SignatureRequired(
                f"a signed change carries an {KEY_HEADER} (a fresh random key of 16 to 64 "
                "letters, digits, '-' or '_'), which its signature covers so that it is "
                "carried out once; nothing was changed"
            )
        nonce = parse_key(keys)
    draft.signed_at_ms, draft.nonce = signed_at_ms, nonce
    KeyDirectory(db, ctx).check_signature(
        principal.account, index, SignedRequest(draft.signed_digest()), signature
    )
    draft.signature = RequestSignature(index, signature)


#: RFC 9530's field: a structured dictionary of ``<algorithm>=:<base64 digest>:``.
CONTENT_DIGEST_HEADER = "content-digest"
_CONTENT_DIGEST_MAX = 1024
_DIGEST_MEMBER = re.compile(r"([a-z][a-z0-9_.*-]{0,31})=:([A-Za-z0-9+/]*={0,2}):")


def _declared_body_digest(request: Request) -> bytes | None:
    """The SHA-256 a streamed body declares in ``Content-Digest`` (RFC 9530; other
    algorithms are ignored), or None when it declares none."""
    lines = request.headers.getlist(CONTENT_DIGEST_HEADER)
    if not lines:
        return None
    field = ",".join(lines)
    malformed = InvalidInput(
        "the Content-Digest header is malformed: send sha-256=:<base64 of the body's "
        "SHA-256>: (RFC 9530)"
    )
    if len(field) > _CONTENT_DIGEST_MAX:
        raise malformed
    found: list[bytes] = []
    for member in field.split(","):
        shape = _DIGEST_MEMBER.fullmatch(member.strip())
        if shape is None:
            raise malformed
        if shape[1] == "sha-256":
            try:
                found.append(base64.b64decode(shape[2], validate=True))
            except binascii.Error as exc:
                raise malformed from exc
    if len(found) > 1 or (found and len(found[0]) != 32):
        raise malformed
    return found[0] if found else None


def check_streamed_body() -> None:
    """Refuse a streamed body, once read, whose SHA-256 (taken by the journal as it was
    read, audit/middleware.py) is not the one its ``Content-Digest`` declared, which
    its signature covers: the route stores nothing of it. The refusal is journaled as
    the request read, unsigned."""
    draft = current_draft()
    declared = draft.declared_body
    if declared is not None and not hmac.compare_digest(declared, draft.body.digest()):
        draft.declared_body, draft.signature = None, None
        raise InvalidInput(
            "the upload does not match its Content-Digest (the body changed after it was "
            "signed, or was cut): nothing was stored; send it again"
        )


def require_signature(request: Request) -> None:
    """R3: a change of health data or sharing carries its author's signature, checked
    (``get_principal``) before the route writes anything."""
    if request.method in UNJOURNALED_METHODS or current_draft().signature is not None:
        return
    raise SignatureRequired(
        "this request changes health data or sharing and must be signed by you: send "
        "UHS-Signature: <your key's directory index>;<signed_at_ms>;<base64url Ed25519 "
        "signature of the signed request digest> (PROTOCOL section 13). A client whose "
        "keys are locked unlocks them first; nothing was changed"
    )


Caller = Annotated[Principal, Depends(get_principal)]


async def keep_route_answers(
    request: Request,
    _: Caller,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=KEY_HEADER,
            description="A new random key per write (a UUID), the same for each retry of "
            "it: a retry of a write that was carried out is answered with the first "
            "answer (header Idempotent-Replayed) instead of being carried out again.",
        ),
    ] = None,
) -> None:
    kept = request.scope.get("state", {}).pop(_DEFERRED_REPLAY, None)
    if isinstance(kept, AnswerKept):
        _replayed(kept)
        raise kept
    write = pending_write(request.scope)
    if write is not None:
        write.keeps_answer = True


#: The dependency of the writes whose answer is kept for their idempotency key (every
#: signed-in write takes one, see ``get_principal``): those whose answers hold no
#: secret, since they are kept in the database for a day. Their router must use
#: ``AnswerKeepingRoute``.
REPLAYABLE = Depends(keep_route_answers)


class AnswerKeepingRoute(APIRoute):
    """A route whose answer is noted, before its transaction commits, for the
    idempotency key it was sent with (if any)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def keeping_handler(request: Request) -> Response:
            response = await handler(request)
            note_answer(request.scope, response)
            return response

        return keeping_handler


def require_log_reader(request: Request, db: Db, ctx: Ctx) -> None:
    """The logs' hash tiles are anyone's (outside verifiers, witnesses) unless the
    operator set ``UHS_PUBLIC_LOGS=false``: then they need a signed-in caller."""
    if not ctx.settings.public_logs:
        get_principal(request, db, ctx)


#: The dependency of the routes serving a log's tiles.
LOG_READER = Depends(require_log_reader)


async def require_health_data_access(request: Request, caller: Caller) -> None:
    """Refuse a practitioner whose professional identity is not verified, and a change
    without the user's signature (R3): applied to every route of the health-data
    routers (server/app.py), not route by route. Async, as ``keep_route_answers``: a
    check of what is loaded, no hop to the threadpool."""
    check_may_act_on_health_data(caller.account)
    require_signature(request)


#: The dependency of the routers that act on health data.
HEALTH_DATA = Depends(require_health_data_access)
