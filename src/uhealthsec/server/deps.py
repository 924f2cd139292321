"""FastAPI dependencies: the request's context, its one transaction, its caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from uhealthsec.server.audit.middleware import current_draft
from uhealthsec.server.auth.service import Principal, SessionService
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import NotAuthenticated
from uhealthsec.server.storage.db import transaction


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def get_db(ctx: Annotated[AppContext, Depends(get_ctx)]) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent."""
    with transaction(ctx.sessions) as session:
        yield session


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
    return principal


Caller = Annotated[Principal, Depends(get_principal)]
