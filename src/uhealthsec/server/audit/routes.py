"""HTTP layer of the journal."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse

from uhealthsec.crypto.journal import NOBODY
from uhealthsec.protocol.journal import MAX_LEAVES
from uhealthsec.server.audit import schemas as s
from uhealthsec.server.audit.export import fhir_bundle, json_line
from uhealthsec.server.audit.models import Cosignature
from uhealthsec.server.audit.refusals import journal_refusals
from uhealthsec.server.audit.service import HistoryItem, JournalService
from uhealthsec.server.deps import HEALTH_DATA, LOG_READER, Caller, Ctx, Db
from uhealthsec.server.observability import exposition_of
from uhealthsec.server.shield.http import may_read_metrics
from uhealthsec.server.storage.merkle_log import (
    JOURNAL_LOG,
    checkpoint_out,
    log_head_out,
    log_key_out,
)
from uhealthsec.server.storage.tiles import TILE_RESPONSES, serve_checkpoint, serve_tile

router = APIRouter(tags=["journal"])

Size = Annotated[int, Query(ge=1, le=2**62)]
Index = Annotated[int, Query(ge=0, le=2**62)]
Limit = Annotated[int, Query(ge=1, le=500)]
MAX_EXPORT = 10_000
Before = Annotated[int | None, Query(ge=0, le=2**62, description="entries before this index")]
AsOf = Annotated[
    int | None,
    Query(
        ge=1,
        le=2**62,
        description="only entries in the journal's tree of this size, each with its "
        "inclusion proof in it",
    ),
]
Nonce = Annotated[
    str | None,
    Query(
        min_length=22,
        max_length=64,
        pattern="^[A-Za-z0-9_-]+$",
        description="a random value of the client's: its request, hence the entry that "
        "journals it, is unlike any other (docs/PROTOCOL.md, 13.2)",
    ),
]


@router.get("/journal/head", response_model=s.LogHeadOut)
def head(
    caller: Caller,
    db: Db,
    ctx: Ctx,
    since: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    size: Annotated[
        int | None, Query(ge=1, le=2**62, description="this signed head, not the latest")
    ] = None,
) -> s.LogHeadOut:
    """The journal's latest signed checkpoint (or the one of ``size`` entries); with
    ``since``, the consistency proof from the checkpoint of that size you saw before."""
    journal = JournalService(db, ctx)
    if size is None:
        return log_head_out(journal.log, since)
    signed, proof = journal.head(since, size)
    return s.LogHeadOut(log_key=log_key_out(journal.log), checkpoint=signed.note, consistency=proof)


@router.get(
    "/journal/checkpoint",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}},
    dependencies=[LOG_READER],
)
def checkpoint(
    db: Db,
    ctx: Ctx,
    size: Annotated[
        int | None, Query(ge=1, le=2**62, description="this checkpoint, not the latest")
    ] = None,
) -> PlainTextResponse:
    """The journal's latest signed checkpoint (or the one of ``size`` entries) as a C2SP
    signed note, with a cosignature line for each listed witness that cosigned it
    (tlog-tiles' ``<prefix>/checkpoint``). Anyone's unless ``UHS_PUBLIC_LOGS=false``."""
    journal = JournalService(db, ctx)
    at = size if size is not None else journal.log.sign_head().size
    return serve_checkpoint(journal.cosigned_checkpoint(at), public=ctx.settings.public_logs)


@router.get("/journal/heads", response_model=list[s.CheckpointOut])
def heads(
    caller: Caller,
    db: Db,
    ctx: Ctx,
    from_size: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LEAVES)] = 1000,
    checkpoints: Annotated[
        bool, Query(description="only the heads at each multiple of 1,024 entries")
    ] = False,
) -> list[s.CheckpointOut]:
    """Signed checkpoints from a size on, smallest first: one per batch of entries, or
    only those at each multiple of 1,024 entries."""
    found = JournalService(db, ctx).heads(from_size, limit, checkpoints)
    return [checkpoint_out(h) for h in found]


@router.get("/journal/leaves", response_model=s.LeavesOut)
def leaves(
    caller: Caller,
    db: Db,
    ctx: Ctx,
    start: Index,
    end: Size,
) -> s.LeavesOut:
    """Leaf hashes of a range of entries, to recompute the tree (they reveal nothing)."""
    hashes = JournalService(db, ctx).leaf_hashes(start, end)
    return s.LeavesOut(start=start, hashes=b"".join(hashes))


@router.get(
    "/journal/tile/{tile_path:path}",
    response_class=Response,
    responses=TILE_RESPONSES,
    dependencies=[LOG_READER],
)
def tile(tile_path: str, db: Db, ctx: Ctx) -> Response:
    """A hash tile of the journal's tree, as C2SP tlog-tiles serves it:
    ``<L>/<N>[.p/<W>]`` (docs/PROTOCOL.md, 9.3). Anyone's unless the operator set
    ``UHS_PUBLIC_LOGS=false``; entry bundles are not served."""
    return serve_tile(db, JOURNAL_LOG, tile_path, public=ctx.settings.public_logs)


@router.get("/journal/entries", response_model=s.EntriesOut)
def entries(
    caller: Caller,
    db: Db,
    ctx: Ctx,
    start: Index,
    end: Size,
) -> s.EntriesOut:
    """(Witnesses) A range of entries, to check every subject's chain."""
    return s.EntriesOut(
        start=start, entries=JournalService(db, ctx).entries(caller.account, start, end)
    )


@router.get("/journal/entries/{index}", response_model=s.LogEntryOut)
def entry(
    index: Annotated[int, Path(ge=0, le=2**62)],
    tree_size: Size,
    caller: Caller,
    db: Db,
    ctx: Ctx,
) -> s.LogEntryOut:
    """An entry that concerns you, with its inclusion proof."""
    record, proof = JournalService(db, ctx).entry(caller.account, index, tree_size)
    return s.LogEntryOut(
        index=record.log_index, entry=record.entry, tree_size=tree_size, inclusion=proof
    )


@router.get("/journal/history", response_model=list[s.HistoryItemOut])
def history(
    caller: Caller,
    db: Db,
    ctx: Ctx,
    limit: Limit = 100,
    before: Before = None,
    tree_size: AsOf = None,
    nonce: Nonce = None,
) -> list[s.HistoryItemOut]:
    """A patient's access history: who read or changed what about them, and when."""
    items = JournalService(db, ctx).history(caller.account, limit, before, tree_size)
    return [_item(i) for i in items]


# The practice's activity names its patients: health data, like the records routers.
@router.get(
    "/practices/{practice_id}/journal",
    response_model=list[s.HistoryItemOut],
    dependencies=[HEALTH_DATA],
)
def practice_activity(
    practice_id: uuid.UUID,
    caller: Caller,
    db: Db,
    ctx: Ctx,
    limit: Limit = 100,
    before: Before = None,
    tree_size: AsOf = None,
    nonce: Nonce = None,
) -> list[s.HistoryItemOut]:
    """The practice's activity on its patients' data (admins)."""
    items = JournalService(db, ctx).practice_activity(
        caller.account, practice_id, limit, before, tree_size
    )
    return [_item(i) for i in items]


@router.post("/journal/cosignatures", status_code=201, response_model=s.CosignatureOut)
def cosign(body: s.CosignatureIn, caller: Caller, db: Db, ctx: Ctx) -> s.CosignatureOut:
    """A witness cosigns a checkpoint it verified (consistent with all it saw before)."""
    c, name = JournalService(db, ctx).add_cosignature(
        caller.account, body.size, body.witness_key, body.timestamp, body.signature
    )
    return _cosignature_out(c, name)


@router.get("/journal/cosignatures", response_model=list[s.CosignatureOut])
def cosignatures(caller: Caller, db: Db, ctx: Ctx, size: Size) -> list[s.CosignatureOut]:
    """The witnesses' cosignatures of the checkpoint of ``size`` entries."""
    return [_cosignature_out(c, name) for c, name in JournalService(db, ctx).cosignatures(size)]


def _cosignature_out(c: Cosignature, name: str | None) -> s.CosignatureOut:
    return s.CosignatureOut(
        size=c.size,
        witness_key=c.witness_key,
        witness_name=name,
        timestamp=c.timestamp or 0,
        signature=c.signature,
        received_at=c.received_at,
    )


ExportFormat = Annotated[
    Literal["fhir", "jsonl"],
    Query(description="fhir: a FHIR R4 Bundle of AuditEvent; jsonl: one JSON object a line"),
]
ExportLimit = Annotated[int, Query(ge=1, le=MAX_EXPORT)]
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/fhir+json": {}, "application/x-ndjson": {}}}
}


@router.get(
    "/journal/history/export",
    responses=EXPORT_RESPONSES,
)
def export_history(
    caller: Caller,
    db: Db,
    ctx: Ctx,
    format: ExportFormat = "fhir",
    limit: ExportLimit = 1000,
    before: Before = None,
) -> Response:
    """A patient's access history, exported."""
    items = JournalService(db, ctx).history(caller.account, limit, before)
    return _export(items, format, ctx.settings.issuer)


@router.get(
    "/practices/{practice_id}/journal/export",
    responses=EXPORT_RESPONSES,
)
def export_practice_activity(
    practice_id: uuid.UUID,
    caller: Caller,
    db: Db,
    ctx: Ctx,
    format: ExportFormat = "fhir",
    limit: ExportLimit = 1000,
    before: Before = None,
) -> Response:
    """A practice's activity, exported (admins)."""
    items = JournalService(db, ctx).practice_activity(caller.account, practice_id, limit, before)
    return _export(items, format, ctx.settings.issuer)


def _export(items: list[HistoryItem], format: str, site: str) -> Response:
    rows = [(i.index, i.data) for i in reversed(items)]  # oldest first
    if format == "jsonl":
        body = "".join(json_line(i, d) + "\n" for i, d in rows)
        return Response(body, media_type="application/x-ndjson")
    return Response(json.dumps(fhir_bundle(rows, site)), media_type="application/fhir+json")


def _item(item: HistoryItem) -> s.HistoryItemOut:
    e = item.entry
    return s.HistoryItemOut(
        index=item.index,
        at=datetime.fromtimestamp(e.timestamp_ms / 1000, UTC),
        action=e.action,
        outcome=e.outcome.name.lower(),
        actor_id=None if e.actor == NOBODY else e.actor,
        actor_name=item.actor.display_name if item.actor else None,
        actor_kind=item.actor.kind if item.actor else None,
        objects=[s.ObjectOut(kind=kind.name.lower(), id=oid) for kind, oid in e.objects],
        entry=item.data,
        inclusion=item.proof,
    )


@router.get("/journal/metrics", response_class=PlainTextResponse)
def journal_metrics(request: Request, db: Db, ctx: Ctx) -> PlainTextResponse:
    """Refusals counted in the rolling technical log (only a bounded few per account
    are in the journal, none of requests nobody signed in)."""
    may_read_metrics(request, ctx.settings.metrics_token.get_secret_value())
    return PlainTextResponse(
        exposition_of(journal_refusals(db)).decode(),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
