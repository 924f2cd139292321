"""HTTP layer of secure messaging."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from uhealthsec.crypto.manifest import Reader, decode_readers
from uhealthsec.protocol.records import RewrappedOut
from uhealthsec.server.auth.service import SessionService
from uhealthsec.server.deps import REPLAYABLE, AnswerKeepingRoute, Caller, Ctx, Db
from uhealthsec.server.errors import InvalidInput
from uhealthsec.server.messaging import schemas as s
from uhealthsec.server.messaging.service import (
    MessageView,
    MessagingService,
    NewMessage,
    SignedMembership,
    ThreadView,
)
from uhealthsec.server.storage.positions import Position

router = APIRouter(route_class=AnswerKeepingRoute, prefix="/threads", tags=["messaging"])


@router.post("", status_code=201, response_model=s.ThreadOut, dependencies=[REPLAYABLE])
def create_thread(body: s.ThreadIn, caller: Caller, db: Db, ctx: Ctx) -> s.ThreadOut:
    """Start a conversation with practitioners, or between practitioners and a patient
    whose file their practice holds."""
    service = MessagingService(db, ctx)
    signed = body.membership
    membership = SignedMembership(
        signed.nonce,
        [Reader(m.account_id, m.email) for m in signed.members],
        signed.signer_key_index,
        signed.signature,
    )
    thread = service.create_thread(caller.account, body.participant_ids, membership)
    return _thread_out(service.view(caller.account, thread.id))


@router.get("", response_model=list[s.ThreadOut])
def threads(
    request: Request,
    response: Response,
    caller: Caller,
    db: Db,
    ctx: Ctx,
    limit: Annotated[int | None, Query(ge=1, le=200)] = None,
    after: Annotated[str | None, Query(max_length=60)] = None,
) -> list[s.ThreadOut]:
    """Your conversations, most recent first, with unread counts: all of them, or
    `limit` at a time, the `Link` header's `next` giving the next page's `after`."""
    position = Position.parse(after) if after is not None else None
    views, following = MessagingService(db, ctx).threads(caller.account, limit, position)
    if following is not None:
        next_page = request.url.include_query_params(limit=limit, after=following.token())
        response.headers["Link"] = f'<{next_page}>; rel="next"'
    return [_thread_out(v) for v in views]


@router.get("/{thread_id}", response_model=s.ThreadOut)
def thread(thread_id: uuid.UUID, caller: Caller, db: Db, ctx: Ctx) -> s.ThreadOut:
    return _thread_out(MessagingService(db, ctx).view(caller.account, thread_id))


@router.post(
    "/{thread_id}/messages", status_code=201, response_model=s.MessageOut, dependencies=[REPLAYABLE]
)
def post_message(
    thread_id: uuid.UUID, body: s.MessageIn, caller: Caller, db: Db, ctx: Ctx
) -> s.MessageOut:
    """A message encrypted and signed on your device, its key wrapped for everyone in
    the thread."""
    keys = {k.recipient_id: k.wrapped_key for k in body.keys}
    if len(keys) != len(body.keys):
        raise InvalidInput("each recipient appears once")
    service = MessagingService(db, ctx)
    message = service.post(
        caller.account,
        thread_id,
        NewMessage(body.id, body.body_envelope, body.signature, body.signer_key_index, keys),
    )
    [view] = [v for v in service.messages(caller.account, thread_id, message.seq - 1, 1)]
    return _message_out(view)


@router.get("/{thread_id}/messages", response_model=list[s.MessageOut])
def messages(
    thread_id: uuid.UUID,
    caller: Caller,
    db: Db,
    ctx: Ctx,
    after: Annotated[int, Query(ge=0, le=2**62, description="messages after this one")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[s.MessageOut]:
    return [
        _message_out(v)
        for v in MessagingService(db, ctx).messages(caller.account, thread_id, after, limit)
    ]


@router.post("/{thread_id}/rewraps", response_model=RewrappedOut, dependencies=[REPLAYABLE])
def rewrap(
    thread_id: uuid.UUID, body: s.MessageRewrapsIn, caller: Caller, db: Db, ctx: Ctx
) -> RewrappedOut:
    """After a rotation, replace your own wrapped keys of this thread's messages that
    your former keys open with keys wrapped on your device to your current keys
    (docs/PROTOCOL.md, 10.6). Needs a recent second factor."""
    SessionService(db, ctx).require_recent_mfa(caller)
    keys = [(k.message_id, k.wrapped_key) for k in body.keys]
    return RewrappedOut(
        versions=MessagingService(db, ctx).rewrap_mine(caller.account, thread_id, keys)
    )


@router.post("/{thread_id}/read", status_code=204, dependencies=[REPLAYABLE])
def mark_read(thread_id: uuid.UUID, body: s.ReadIn, caller: Caller, db: Db, ctx: Ctx) -> None:
    """Read receipt: you have read the thread up to message ``seq``."""
    MessagingService(db, ctx).mark_read(caller.account, thread_id, body.seq)


def _thread_out(view: ThreadView) -> s.ThreadOut:
    t = view.thread
    return s.ThreadOut(
        id=t.id,
        created_at=t.created_at,
        last_seq=t.last_seq,
        last_message_at=t.last_message_at,
        unread=view.unread,
        participants=[
            s.ParticipantOut(
                account_id=a.id,
                email=a.email,
                display_name=a.display_name,
                kind=a.kind,
                read_seq=p.read_seq,
            )
            for p, a in view.participants
        ],
        membership=[
            s.MembershipOut(
                seq=m.seq,
                actor_id=m.actor_id,
                signer_key_index=m.signer_key_index,
                nonce=m.nonce,
                previous=m.previous,
                members=[
                    s.MemberIO(account_id=r.account_id, email=r.email)
                    for r in decode_readers(m.members)
                ],
                signature=m.signature,
            )
            for m in view.membership
        ],
    )


def _message_out(view: MessageView) -> s.MessageOut:
    m = view.message
    return s.MessageOut(
        id=m.id,
        seq=m.seq,
        sender_id=m.sender_id,
        body_envelope=m.body_envelope,
        signature=m.signature,
        signer_key_index=m.signer_key_index,
        created_at=m.created_at,
        wrapped_key=view.wrapped_key,
        read_by=view.read_by,
    )
