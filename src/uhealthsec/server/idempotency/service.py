"""Idempotency keys: a write retried after its answer was lost is answered with the
first answer instead of being carried out twice.

The client sends ``Idempotency-Key`` (draft-ietf-httpapi-idempotency-key-header) with
a write and the same key with each retry. Every signed-in write whose body is read
before it runs, or whose streamed body declares its digest (an upload), takes the key:
a row for it is written in the transaction of the change, so it exists exactly when
the change committed. A retry
finds either nothing (nothing was done: it is carried out) or the row: it is then
answered, not carried out, with the first answer where the route keeps it (the routes
of ``REPLAYABLE``, server/deps.py: their answers hold no secret), else with a problem
saying the write was done. Either way it carries the receipt of the first request's
journal entry. Keys are the caller's own: another account's key finds nothing.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.responses import Response
from starlette.types import Scope

from uhealthsec.server.errors import Conflict, InvalidInput, ServiceError
from uhealthsec.server.idempotency.models import KeptAnswer
from uhealthsec.server.problems import PROBLEM_JSON, problem, service_problem

logger = logging.getLogger(__name__)

KEY_HEADER = "Idempotency-Key"
#: Set on an answer that repeats a kept one.
REPLAYED_HEADER = "Idempotent-Replayed"
#: How long a key is kept: a client retries within minutes; a day covers a laptop
#: that slept through the answer.
KEPT_FOR = timedelta(hours=24)
#: Answers larger than this are not kept (a retry is told the write was done).
MAX_KEPT_ANSWER = 256 * 1024
#: A UUID, or any 16 to 64 characters of the base64url alphabet, bare or as the
#: draft writes it (a structured-field string, in double quotes).
_KEY = re.compile(r'"([A-Za-z0-9_-]{16,64})"|([A-Za-z0-9_-]{16,64})')
#: Where a request's write waits for its answer, in the request's scope state.
_STATE = "idempotent_write"


class KeyReused(ServiceError):
    """The key was sent before with another request (the draft's 422)."""

    status = 422
    title = "Idempotency key reused"


@dataclass(frozen=True)
class Answer:
    """A kept answer; ``body`` None where the route's answers are not kept."""

    status: int
    media_type: str | None
    body: bytes | None
    #: The journal entry staged with the change the answer reports.
    outbox_id: uuid.UUID | None


class AnswerKept(Exception):
    """Raised to answer a retried write (``replayed_answer``)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__("the write was carried out before: it is not carried out again")
        self.answer = answer


@dataclass
class IdempotentWrite:
    """A write sent with a key seen for the first time, until its transaction ends."""

    account_id: uuid.UUID
    key: str
    request_digest: bytes
    #: Its answer may be kept (the route is one of ``REPLAYABLE``).
    keeps_answer: bool = False
    answer: tuple[int, str, bytes] | None = None


def parse_key(values: list[str]) -> str:
    """The key of a request's ``Idempotency-Key`` field lines.

    :raises InvalidInput: the field is not one key (two lines make a list, RFC 8941).
    """
    match = _KEY.fullmatch(values[0].strip()) if len(values) == 1 else None
    if match is None:
        raise InvalidInput(
            f"the {KEY_HEADER} header must be one key of 16 to 64 letters, digits, '-' "
            "or '_' (a UUID will do), optionally in double quotes"
        )
    return match.group(1) or match.group(2)


def _answer(kept: KeptAnswer) -> Answer:
    body = None if kept.body is None else bytes(kept.body)
    return Answer(kept.status, kept.media_type, body, kept.outbox_id)


def _lookup(db: Session, account_id: uuid.UUID, key: str) -> KeptAnswer | None:
    return db.scalar(
        select(KeptAnswer).where(KeptAnswer.account_id == account_id, KeptAnswer.key == key)
    )


def _check_kept(kept: KeptAnswer, request_digest: bytes) -> None:
    if kept.request_digest != request_digest:
        raise KeyReused(
            f"this {KEY_HEADER} was sent before with another request: send each new "
            "request with a new key, and a retry with the key of the request it repeats"
        )
    raise AnswerKept(_answer(kept))


def begin_write(
    db: Session,
    scope: Scope,
    account_id: uuid.UUID,
    values: list[str],
    request_digest: bytes,
    now: datetime,
) -> None:
    """Look the key up before the write is carried out.

    :raises InvalidInput: the header is malformed.
    :raises KeyReused: the key came before with another request.
    :raises AnswerKept: the key came before with this request, which committed.
    """
    key = parse_key(values)
    kept = _lookup(db, account_id, key)
    if kept is not None and kept.created_at <= now - KEPT_FOR:
        # Expired: the key is free again (a sweeper may have removed the row already).
        db.execute(delete(KeptAnswer).where(KeptAnswer.id == kept.id))
        kept = None
    if kept is not None:
        _check_kept(kept, request_digest)
    scope.setdefault("state", {})[_STATE] = IdempotentWrite(account_id, key, request_digest)


def pending_write(scope: Scope) -> IdempotentWrite | None:
    write = scope.get("state", {}).get(_STATE)
    return write if isinstance(write, IdempotentWrite) else None


def note_answer(scope: Scope, response: Response) -> None:
    """Remember the answer of a write sent with a new key, before its transaction
    commits, if its route keeps answers; streamed or too large answers are not kept."""
    write = pending_write(scope)
    body = getattr(response, "body", None)
    if write is None or not write.keeps_answer or not isinstance(body, bytes):
        return
    if len(body) <= MAX_KEPT_ANSWER:
        media_type = response.headers.get("content-type", "application/octet-stream")
        write.answer = (response.status_code, media_type[:100], body)


def _kept(
    write: IdempotentWrite,
    answer: tuple[int, str | None, bytes | None],
    outbox_id: uuid.UUID | None,
    about: tuple[uuid.UUID | None, uuid.UUID | None],
    now: datetime,
) -> KeptAnswer:
    status, media_type, body = answer
    return KeptAnswer(
        account_id=write.account_id,
        key=write.key,
        request_digest=write.request_digest,
        status=status,
        media_type=media_type,
        body=body,
        outbox_id=outbox_id,
        patient_id=about[0],
        practice_id=about[1],
        created_at=now,
    )


def keep_answer(
    db: Session,
    scope: Scope,
    outbox_id: uuid.UUID | None,
    about: tuple[uuid.UUID | None, uuid.UUID | None],
    now: datetime,
) -> None:
    """Write the key's row in the request's transaction, beside its change: with the
    answer noted for it, else with the status the route answers on success; ``about``
    is the (patient, practice) the write concerned, if any.

    :raises Conflict: a request with the same key committed meanwhile (``replay_if_committed``
        then finds its answer).
    """
    write = pending_write(scope)
    if write is None:
        return
    status = getattr(scope.get("route"), "status_code", None) or 200
    media_type, body = None, None
    if write.answer is not None:
        status, media_type, body = write.answer
    kept = _kept(write, (status, media_type, body), outbox_id, about, now)
    try:
        with db.begin_nested():
            db.add(kept)
    except IntegrityError as exc:
        raise Conflict(
            f"a request with this {KEY_HEADER} is being carried out: retry in a moment "
            "to get its answer",
            headers={"Retry-After": "1"},
        ) from exc


def replay_if_committed(db: Session, scope: Scope, exc: BaseException, now: datetime) -> None:
    """After a keyed write was refused: if the same key committed meanwhile (an attempt
    sent before and still running when this one came, whose object or one-time code
    this one then met), this one is a retry of it and is answered as such. ``db`` is a
    session other than the refused request's, so that it sees what committed since that
    request began; for a refusal that commits what it counted (a wrong second factor),
    it is called before that commit, which answering it as a retry then rolls back.

    :raises AnswerKept: the key committed with this request.
    """
    write = pending_write(scope)
    if write is None or not isinstance(exc, ServiceError | IntegrityError):
        return
    try:
        kept = _lookup(db, write.account_id, write.key)
        if (
            kept is None
            or kept.request_digest != write.request_digest
            or kept.created_at <= now - KEPT_FOR
        ):
            return
        answer = _answer(kept)
    except SQLAlchemyError:  # the database gone too: the first refusal stands
        logger.warning("a refused keyed write could not look its key up again")
        return
    raise AnswerKept(answer) from exc


def keep_refusal(db: Session, scope: Scope, refusal: ServiceError, now: datetime) -> None:
    """Keep a signed write's final refusal as the answer to its key, in ``db`` (a session
    of its own, since the refused request's rolled back): its signature is then used
    up, and the same request sent again (a retry, or a captured copy) gets the refusal
    rather than being carried out once what refused it changed (PROTOCOL 13.0). A
    refusal that asks for a retry (409 with Retry-After, 429) is not kept."""
    write = pending_write(scope)
    retry_later = refusal.status == 429 or "Retry-After" in (refusal.headers or {})
    if write is None or retry_later or not 400 <= refusal.status < 500:
        return
    answer = service_problem(refusal)  # its status and document; not its headers
    db.add(
        _kept(write, (refusal.status, PROBLEM_JSON, bytes(answer.body)), None, (None, None), now)
    )
    try:
        db.commit()
    except IntegrityError:  # an attempt with the key committed meanwhile: it stands
        db.rollback()


def forget_patient_file(db: Session, patient_id: uuid.UUID, practice_id: uuid.UUID) -> None:
    """Remove the kept answers of writes about a patient's file in a practice, which is
    being destroyed: they may hold the keys the destruction erases (wrapped for their
    writer). Writes about the same patient in another practice keep theirs."""
    db.execute(
        delete(KeptAnswer).where(
            KeptAnswer.patient_id == patient_id,
            or_(KeptAnswer.practice_id == practice_id, KeptAnswer.practice_id.is_(None)),
        )
    )


def forget_account_answers(db: Session, account_id: uuid.UUID) -> None:
    """Remove every answer kept for the account's writes: after a rotation for a
    suspected compromise, they may hold keys wrapped to the former keys (a document's or
    a message's answer holds its writer's) that the re-wrap does not reach. The
    request removing them keeps its own, written when it commits."""
    db.execute(delete(KeptAnswer).where(KeptAnswer.account_id == account_id))


def purge_expired(db: Session, now: datetime) -> int:
    """Remove the keys kept longer than ``KEPT_FOR``; returns how many."""
    result = db.execute(delete(KeptAnswer).where(KeptAnswer.created_at <= now - KEPT_FOR))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def replayed_answer(_: object, exc: AnswerKept) -> Response:
    """The exception handler answering a retried write: with its kept answer, or with a
    problem saying it was done where the answer is not kept."""
    kept = exc.answer
    if kept.body is None:
        response: Response = problem(
            409,
            "this write was carried out before, when it was first sent with this "
            f"{KEY_HEADER}; its answer is not kept: read the result instead of sending it again",
            title="Already carried out",
        )
    else:
        response = Response(
            content=kept.body,
            status_code=kept.status,
            headers={"content-type": kept.media_type or "application/octet-stream"},
        )
    response.headers[REPLAYED_HEADER] = "true"
    return response
