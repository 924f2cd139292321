"""Idempotency keys: a write retried after its answer was lost is answered with the
first answer instead of being carried out twice.

The client sends ``Idempotency-Key`` (draft-ietf-httpapi-idempotency-key-header) with
a write and the same key with each retry. On the routes that accept it (those whose
answers hold no secret and whose bodies are read before they run: ``REPLAYABLE`` in
server/deps.py), the answer is kept in the transaction of the change it answers, so
it exists exactly when the change committed: a retry finds either nothing (nothing was
done: it is carried out) or the kept answer (it is answered with it, with the receipt
of the first request's journal entry). Keys are the caller's own: another account's
key finds nothing.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import Response
from starlette.types import Scope

from uhealthsec.server.errors import Conflict, InvalidInput, ServiceError
from uhealthsec.server.idempotency.models import KeptAnswer

KEY_HEADER = "Idempotency-Key"
#: Set on an answer that repeats a kept one.
REPLAYED_HEADER = "Idempotent-Replayed"
#: How long an answer is kept: a client retries within minutes; a day covers a laptop
#: that slept through the answer.
KEPT_FOR = timedelta(hours=24)
#: Answers larger than this are not kept (none of the routes' answers come near).
MAX_KEPT_ANSWER = 256 * 1024
#: A UUID, or any 16 to 64 characters of the base64url alphabet; the draft's quoted
#: form (a structured-field string) is accepted too.
_KEY = re.compile(r'"([A-Za-z0-9_-]{16,64})"|([A-Za-z0-9_-]{16,64})')
#: Where a request's pending answer waits in its scope's state.
_STATE = "idempotent_write"


class KeyReused(ServiceError):
    """The key was sent before with another request (the draft's 422)."""

    status = 422
    title = "Idempotency key reused"


@dataclass(frozen=True)
class Answer:
    status: int
    media_type: str
    body: bytes
    #: The journal entry staged with the change the answer reports.
    outbox_id: uuid.UUID | None


class AnswerKept(Exception):
    """Raised to answer a retried write with its kept answer (``replayed_answer``)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__("the write was carried out before: its answer is repeated")
        self.answer = answer


@dataclass
class IdempotentWrite:
    """A write sent with a key seen for the first time; ``answer`` once it has one."""

    account_id: uuid.UUID
    key: str
    request_digest: bytes
    answer: tuple[int, str, bytes] | None = None


def parse_key(header: str) -> str:
    """:raises InvalidInput: the header is not a key."""
    match = _KEY.fullmatch(header.strip())
    if match is None:
        raise InvalidInput(
            f"the {KEY_HEADER} header must be 16 to 64 letters, digits, '-' or '_' "
            "(a UUID will do), optionally in double quotes"
        )
    return match.group(1) or match.group(2)


def begin_write(
    db: Session,
    scope: Scope,
    account_id: uuid.UUID,
    header: str,
    request_digest: bytes,
    now: datetime,
) -> None:
    """Look the key up before the write is carried out.

    :raises InvalidInput: the header is malformed.
    :raises KeyReused: the key came before with another request.
    :raises AnswerKept: the key came before with this request, which committed.
    """
    key = parse_key(header)
    kept = db.scalar(
        select(KeptAnswer).where(KeptAnswer.account_id == account_id, KeptAnswer.key == key)
    )
    if kept is not None and kept.created_at <= now - KEPT_FOR:
        db.delete(kept)  # expired: the key is free again
        db.flush()
        kept = None
    if kept is not None:
        if kept.request_digest != request_digest:
            raise KeyReused(
                f"this {KEY_HEADER} was sent before with another request: send each new "
                "request with a new key, and a retry with the key of the request it repeats"
            )
        raise AnswerKept(Answer(kept.status, kept.media_type, bytes(kept.body), kept.outbox_id))
    scope.setdefault("state", {})[_STATE] = IdempotentWrite(account_id, key, request_digest)


def note_answer(scope: Scope, response: Response) -> None:
    """Remember the answer of a write sent with a new key (before its transaction
    commits); answers that are streamed or too large are not kept."""
    write = scope.get("state", {}).get(_STATE)
    body = getattr(response, "body", None)
    if not isinstance(write, IdempotentWrite) or not isinstance(body, bytes):
        return
    if len(body) <= MAX_KEPT_ANSWER:
        media_type = response.headers.get("content-type", "application/octet-stream")
        write.answer = (response.status_code, media_type[:100], body)


def keep_answer(db: Session, scope: Scope, outbox_id: uuid.UUID | None, now: datetime) -> None:
    """Keep the answer noted for this request in its transaction, beside its change.

    :raises Conflict: a request with the same key committed meanwhile (the first
        attempt was still running when its retry came): the retry is not carried out.
    """
    write = scope.get("state", {}).get(_STATE)
    if not isinstance(write, IdempotentWrite) or write.answer is None:
        return
    status, media_type, body = write.answer
    try:
        with db.begin_nested():
            db.add(
                KeptAnswer(
                    account_id=write.account_id,
                    key=write.key,
                    request_digest=write.request_digest,
                    status=status,
                    media_type=media_type,
                    body=body,
                    outbox_id=outbox_id,
                    created_at=now,
                )
            )
    except IntegrityError as exc:
        raise Conflict(
            f"a request with this {KEY_HEADER} is being carried out: retry in a moment "
            "to get its answer",
            headers={"Retry-After": "1"},
        ) from exc


def purge_expired(db: Session, now: datetime) -> int:
    """Remove the answers kept longer than ``KEPT_FOR``; returns how many."""
    result = db.execute(delete(KeptAnswer).where(KeptAnswer.created_at <= now - KEPT_FOR))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def replayed_answer(_: object, exc: AnswerKept) -> Response:
    """The exception handler answering a retried write with its kept answer."""
    kept = exc.answer
    return Response(
        content=kept.body,
        status_code=kept.status,
        headers={"content-type": kept.media_type, REPLAYED_HEADER: "true"},
    )
