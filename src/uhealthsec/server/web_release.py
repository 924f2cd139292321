"""The web release log: at startup the server appends the SHA-256 of every file it
serves under /app/ (path and hash, docs/PROTOCOL.md "Web release log") to a Merkle log
with signed checkpoints, the same component and key as the key directory and the
journal, and serves it read-only to anyone: ``uhs web verify`` checks that what a
server gives browsers is what its log holds, so that code served to some people only
would have to be published for all to see.

A leaf is known by its hash (the log's level-0 nodes): a file already published, by
this process or an earlier one, is not appended again, so the log needs no table of
its own. The files are hashed once, at startup: a file changed on disk afterwards is
served but no longer matches the log, which is what a verifier is there to notice.
A process that creates several applications (tests, workers) hashes a build once: the
hashes are kept by directory and by the digest of the build's release.json, which
every build writes anew.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from uhealthsec.crypto import merkle
from uhealthsec.protocol.logs import LogHeadOut
from uhealthsec.protocol.web_release import (
    RELEASE_MANIFEST,
    WEB_RELEASE_LOG,
    WebAssetOut,
    WebReleaseOut,
    asset_leaf,
)
from uhealthsec.server.context import AppContext
from uhealthsec.server.deps import Ctx, Db
from uhealthsec.server.errors import NotFound
from uhealthsec.server.storage.merkle_log import (
    MerkleLog,
    MerkleLogState,
    MerkleNode,
    log_head_out,
    log_key_out,
)

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/web-release", tags=["web release log"])
Since = Annotated[int | None, Query(ge=1, le=2**62)]


@dataclass(frozen=True)
class ServedAsset:
    #: Relative to /app/, with "/" between directories.
    path: str
    sha256: bytes

    @property
    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(asset_leaf(self.path, self.sha256))


def served_assets(directory: Path) -> list[ServedAsset]:
    """Every file served from ``directory`` (regular files: the mount follows no link),
    by path."""
    return [
        ServedAsset(
            path.relative_to(directory).as_posix(), hashlib.sha256(path.read_bytes()).digest()
        )
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not path.is_symlink()
    ]


#: The files of each build hashed by this process, by (directory, release.json's SHA-256).
_hashed_builds: dict[tuple[Path, bytes], tuple[ServedAsset, ...]] = {}
_hashed_builds_lock = threading.Lock()


def release_assets(directory: Path) -> list[ServedAsset]:
    """``served_assets(directory)``, hashed once per build in this process: a build is
    known by its release.json; a directory without one is hashed each time."""
    try:
        build = (
            directory.resolve(),
            hashlib.sha256((directory / RELEASE_MANIFEST).read_bytes()).digest(),
        )
    except FileNotFoundError:
        return served_assets(directory)
    with _hashed_builds_lock:
        assets = _hashed_builds.get(build)
        if assets is None:
            assets = _hashed_builds[build] = tuple(served_assets(directory))
    return list(assets)


def _log(db: Session, ctx: AppContext) -> MerkleLog:
    return MerkleLog(db, WEB_RELEASE_LOG, ctx.log_key, int(ctx.now().timestamp() * 1000))


def _indexes(db: Session, assets: list[ServedAsset]) -> dict[bytes, int]:
    """The log's index of each asset's leaf that it holds, by leaf hash."""
    hashes = list({a.leaf_hash for a in assets})
    rows = db.execute(
        select(MerkleNode.hash, MerkleNode.index).where(
            MerkleNode.log == WEB_RELEASE_LOG, MerkleNode.level == 0, MerkleNode.hash.in_(hashes)
        )
    ).all()
    return {bytes(h): i for h, i in rows}


def publish(ctx: AppContext, assets: list[ServedAsset]) -> int:
    """Append the assets the log does not hold yet, and sign the head; returns how many
    were appended. Several processes starting at once queue on the log's lock."""
    try:
        with ctx.sessions.begin() as db:
            if db.get(MerkleLogState, WEB_RELEASE_LOG) is None:
                db.add(MerkleLogState(name=WEB_RELEASE_LOG, size=0))
    except IntegrityError:  # created by another process at the same moment
        pass
    with ctx.sessions.begin() as db:
        log = _log(db, ctx)
        log.set_origin(f"{ctx.settings.resolved_log_origin()}/{WEB_RELEASE_LOG}")
        known = _indexes(db, assets)
        missing: dict[bytes, bytes] = {}
        for asset in assets:
            if asset.leaf_hash not in known:
                missing.setdefault(asset.leaf_hash, asset_leaf(asset.path, asset.sha256))
        if missing:
            log.append(list(missing.values()), list(missing))
        log.sign_head()
    return len(missing)


def install(app: FastAPI, ctx: AppContext) -> None:
    """Publish the files the web application is served from (web_app.install ran
    first) and serve the log; without a built application there is nothing to log,
    and its routes answer 404."""
    directory: Path | None = getattr(app.state, "web_assets", None)
    app.state.web_release = None
    app.include_router(router)
    if directory is None:
        return
    assets = release_assets(directory)
    appended = publish(ctx, assets)
    logger.info(
        "web release log: %d files served under /app/, %d newly published", len(assets), appended
    )
    app.state.web_release = assets


def _served(request: Request) -> list[ServedAsset]:
    served: list[ServedAsset] | None = request.app.state.web_release
    if served is None:
        raise NotFound("this server serves no web application, so it publishes no web release")
    return served


@router.get("/head", response_model=LogHeadOut)
def head(request: Request, db: Db, ctx: Ctx, since: Since = None) -> LogHeadOut:
    """The web release log's latest signed checkpoint with its key; with ``since``, the
    consistency proof from the one of that size the client saw before. Anyone's: it
    describes the code served to everyone."""
    _served(request)
    return log_head_out(_log(db, ctx), since)


@router.get("/assets", response_model=WebReleaseOut)
def assets(request: Request, db: Db, ctx: Ctx, since: Since = None) -> WebReleaseOut:
    """Every file this server serves under /app/ with its SHA-256, each with its
    inclusion proof in the latest signed checkpoint (returned with the log's key and,
    with ``since``, the consistency proof from that size)."""
    served = _served(request)
    log = _log(db, ctx)
    checkpoint, consistency = log.proven_head(since)
    indexes = _indexes(db, served)
    proofs = log.inclusion_proofs(sorted(set(indexes.values())), checkpoint.size)
    return WebReleaseOut(
        log_key=log_key_out(log),
        checkpoint=checkpoint.note,
        consistency=consistency,
        assets=[
            WebAssetOut(
                path=a.path,
                sha256=a.sha256.hex(),
                index=indexes[a.leaf_hash],
                inclusion=proofs[indexes[a.leaf_hash]],
            )
            for a in served
        ],
    )
