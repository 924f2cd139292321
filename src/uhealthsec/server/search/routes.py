"""HTTP layer of the encrypted search indexes."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from uhealthsec.protocol.search import LOOKUP_PATH, UPDATES_PATH
from uhealthsec.server.deps import REPLAYABLE, AnswerKeepingRoute, Caller, Ctx, Db
from uhealthsec.server.search import schemas as s
from uhealthsec.server.search.models import SearchIndex
from uhealthsec.server.search.service import SearchService, Update

router = APIRouter(route_class=AnswerKeepingRoute, tags=["search"])


def _index_out(index: SearchIndex) -> s.IndexOut:
    return s.IndexOut(
        id=index.id,
        created_at=index.created_at,
        state_version=index.state_version,
        entries=index.entries,
    )


@router.post(
    "/search/indexes", status_code=201, response_model=s.IndexOut, dependencies=[REPLAYABLE]
)
def create_index(body: s.IndexIn, caller: Caller, db: Db, ctx: Ctx) -> s.IndexOut:
    """A new, empty index of yours, under an id your client drew."""
    return _index_out(SearchService(db, ctx).create(caller.account, body.id))


@router.get("/search/indexes", response_model=list[s.IndexOut])
def my_indexes(caller: Caller, db: Db, ctx: Ctx) -> list[s.IndexOut]:
    return [_index_out(i) for i in SearchService(db, ctx).mine(caller.account)]


@router.get("/search/indexes/{index_id}/state", response_model=s.StateOut)
def state(index_id: uuid.UUID, caller: Caller, db: Db, ctx: Ctx) -> s.StateOut:
    """Your client's sealed counters and their version."""
    index = SearchService(db, ctx).owned(caller.account, index_id)
    return s.StateOut(version=index.state_version, state=index.state)


@router.post(UPDATES_PATH, response_model=s.UpdateOut, dependencies=[REPLAYABLE])
def apply_update(body: s.UpdateIn, caller: Caller, db: Db, ctx: Ctx) -> s.UpdateOut:
    """New entries and your new sealed state, stored only if the state is still at
    ``previous_version`` (409 otherwise: another device updated the index)."""
    change = Update(
        previous_version=body.previous_version,
        state=body.state,
        entries=[(e.label, e.value) for e in body.entries],
        put_documents=[(d.label, d.keywords) for d in body.put_documents],
        remove_documents=list(body.remove_documents),
    )
    index = SearchService(db, ctx).update(caller.account, body.index_id, change)
    return s.UpdateOut(state_version=index.state_version, entries=index.entries)


@router.post(LOOKUP_PATH, response_model=s.LookupOut)
def lookup(body: s.LookupIn, caller: Caller, db: Db, ctx: Ctx) -> s.LookupOut:
    """The values stored under the labels, in their order (null where none is)."""
    return s.LookupOut(
        values=SearchService(db, ctx).lookup(caller.account, body.index_id, body.labels)
    )


@router.post("/search/documents", response_model=s.DocumentsOut)
def documents(body: s.DocumentsIn, caller: Caller, db: Db, ctx: Ctx) -> s.DocumentsOut:
    """The sealed keyword lists stored under the labels, in their order."""
    found = SearchService(db, ctx).documents(caller.account, body.index_id, body.labels)
    return s.DocumentsOut(keywords=found)
