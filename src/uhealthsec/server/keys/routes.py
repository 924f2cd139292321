"""HTTP layer of the key directory."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import PlainTextResponse

from uhealthsec.server.deps import LOG_READER, Caller, Ctx, Db
from uhealthsec.server.keys import schemas as s
from uhealthsec.server.keys.service import KeyDirectory, ProvenEntry
from uhealthsec.server.storage.merkle_log import KEY_DIRECTORY_LOG, log_head_out
from uhealthsec.server.storage.tiles import TILE_RESPONSES, serve_checkpoint, serve_tile

router = APIRouter(prefix="/keys", tags=["key directory"])

TreeSize = Annotated[int, Query(ge=1, le=2**62, description="size of the tree to prove against")]


@router.get("/head", response_model=s.LogHeadOut)
def head(
    caller: Caller,
    db: Db,
    ctx: Ctx,
    since: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> s.LogHeadOut:
    """The directory's latest signed tree head; with ``since``, the consistency proof
    from the head of that size the client saw before."""
    return log_head_out(KeyDirectory(db, ctx).log, since)


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}},
    dependencies=[LOG_READER],
)
def checkpoint(db: Db, ctx: Ctx) -> PlainTextResponse:
    """The directory's latest signed checkpoint, as a C2SP signed note (tlog-tiles'
    ``<prefix>/checkpoint``). Anyone's unless ``UHS_PUBLIC_LOGS=false``."""
    note = KeyDirectory(db, ctx).log.sign_head().note
    return serve_checkpoint(note, public=ctx.settings.public_logs)


@router.get("/entries", response_model=s.DirectoryEntryOut)
def lookup(
    caller: Caller,
    db: Db,
    ctx: Ctx,
    email: Annotated[str, Query(min_length=3, max_length=320)],
    tree_size: TreeSize,
) -> s.DirectoryEntryOut:
    """The newest keys published for an address, with their inclusion proof."""
    return _entry_out(KeyDirectory(db, ctx).lookup(caller.account, email, tree_size))


@router.post("/lookups", response_model=s.DirectoryLookupsOut)
def lookup_many(
    body: s.DirectoryLookupsIn, caller: Caller, db: Db, ctx: Ctx
) -> s.DirectoryLookupsOut:
    """The newest keys of up to 1,000 addresses, each with its proofs, all against one
    tree: null for an address the single lookup answers 404 for."""
    found = KeyDirectory(db, ctx).lookup_many(caller.account, body.emails, body.tree_size)
    return s.DirectoryLookupsOut(
        tree_size=body.tree_size,
        entries=[None if proven is None else _entry_out(proven) for proven in found],
    )


@router.get("/entries/{index}", response_model=s.DirectoryEntryOut)
def entry(
    index: Annotated[int, Path(ge=0, le=2**62)],
    caller: Caller,
    db: Db,
    ctx: Ctx,
    tree_size: TreeSize,
) -> s.DirectoryEntryOut:
    """One leaf by its position in the log: an entry (a document names its signer's
    entry) or a map commitment."""
    return _entry_out(KeyDirectory(db, ctx).entry(caller.account, index, tree_size))


@router.get(
    "/tile/{tile_path:path}",
    response_class=Response,
    responses=TILE_RESPONSES,
    dependencies=[LOG_READER],
)
def tile(tile_path: str, db: Db, ctx: Ctx) -> Response:
    """A hash tile of the directory's tree, as C2SP tlog-tiles serves it:
    ``<L>/<N>[.p/<W>]`` (docs/PROTOCOL.md, 9.3). Anyone's unless the operator set
    ``UHS_PUBLIC_LOGS=false``; entry bundles are not served."""
    return serve_tile(db, KEY_DIRECTORY_LOG, tile_path, public=ctx.settings.public_logs)


def _entry_out(proven: ProvenEntry) -> s.DirectoryEntryOut:
    mapped = proven.map
    return s.DirectoryEntryOut(
        index=proven.index,
        entry=proven.leaf,
        tree_size=proven.tree_size,
        inclusion=proven.proof,
        chain=[
            s.ChainLinkOut(
                index=link.index, entry=link.leaf, inclusion=link.proof, rotation=link.rotation
            )
            for link in proven.chain
        ],
        map=None
        if mapped is None
        else s.MapProofOut(
            commitment=mapped.commitment,
            commitment_inclusion=mapped.commitment_proof,
            value=mapped.value.encode(),
            depth=mapped.proof.depth,
            present=mapped.proof.present,
            siblings=list(mapped.proof.siblings),
        ),
    )
