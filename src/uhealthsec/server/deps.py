"""FastAPI dependencies: the request's context, its one transaction, its caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from uhealthsec.crypto.journal import RequestSignature, SignedRequest
from uhealthsec.protocol.encoding import b64u_decode
from uhealthsec.server.accounts.service import check_may_act_on_health_data
from uhealthsec.server.audit.middleware import (
    JournalDraft,
    current_draft,
    in_journaled_request,
    request_draft,
)
from uhealthsec.server.audit.outbox import stage
from uhealthsec.server.auth.service import Principal, SessionService
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import InvalidInput, NotAuthenticated
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.storage.db import transaction


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def get_db(request: Request, ctx: Annotated[AppContext, Depends(get_ctx)]) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent; a change
    commits with its journal entry staged beside it (audit/outbox.py)."""
    draft = request_draft()
    try:
        with transaction(ctx.sessions) as session:
            yield session
            if draft is not None:
                stage(session, request.scope, draft, ctx.now())
    except BaseException:
        if draft is not None:  # nothing staged was committed: journal what happened
            draft.outbox_id = None
        raise


Ctx = Annotated[AppContext, Depends(get_ctx)]
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
    signature = request.headers.get(SIGNATURE_HEADER)
    if signature is not None and in_journaled_request():
        draft.signature = _verified_signature(db, ctx, principal, signature, draft)
    return principal


#: ``<directory index of the signer's key>;<base64url Ed25519 signature>`` over the
#: request digest (docs/PROTOCOL.md, section 13): the user's own proof of the action.
SIGNATURE_HEADER = "uhs-signature"


def _verified_signature(
    db: Session, ctx: AppContext, principal: Principal, header: str, draft: JournalDraft
) -> RequestSignature:
    index_text, _, signature_text = header.partition(";")
    try:
        index = int(index_text)
        signature = b64u_decode(signature_text.strip())
    except ValueError as exc:
        raise InvalidInput("the UHS-Signature header is malformed") from exc
    KeyDirectory(db, ctx).check_signature(
        principal.account, index, SignedRequest(draft.request_digest()), signature
    )
    return RequestSignature(index, signature)


Caller = Annotated[Principal, Depends(get_principal)]


def require_log_reader(request: Request, db: Db, ctx: Ctx) -> None:
    """The logs' hash tiles are anyone's (outside verifiers, witnesses) unless the
    operator set ``UHS_PUBLIC_LOGS=false``: then they need a signed-in caller."""
    if not ctx.settings.public_logs:
        get_principal(request, db, ctx)


#: The dependency of the routes serving a log's tiles.
LOG_READER = Depends(require_log_reader)


def require_health_data_access(caller: Caller) -> None:
    """Refuse a practitioner whose professional identity is not verified: applied to
    every route of the health-data routers (server/app.py), not route by route."""
    check_may_act_on_health_data(caller.account)


#: The dependency of the routers that act on health data.
HEALTH_DATA = Depends(require_health_data_access)
