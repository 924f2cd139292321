"""A log's Merkle tree as C2SP tlog-tiles hash tiles (https://c2sp.org/tlog-tiles).

A tile of level ``L`` holds up to 256 consecutive hashes of tree level ``8 * L``: the
perfect subtrees of ``256**L`` leaves. Those are exactly rows of ``merkle_nodes``
(merkle_log.py), which stores every completed perfect subtree, so a tile is one range
read of stored hashes, nothing recomputed. A row exists once its subtree is complete,
hence a tile of width ``W`` exists in the current tree exactly when its ``W`` rows do.

Entry bundles (``tile/entries/...``) are not served: the leaves are journal entries
and directory entries, personal data each served only to whom may read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from uhealthsec.server.errors import InvalidInput, NotFound
from uhealthsec.server.storage.merkle_log import MerkleNode

#: Hashes in a full tile; a tile of level L holds hashes of tree level 8 * L.
TILE_WIDTH = 256
TILE_HEIGHT = 8
MAX_LEVEL = 63
#: No log holds 2**63 leaves (a node's index is a signed 64-bit column): a tile that
#: starts at or past it is in no tree, and is refused before any read.
LEAF_LIMIT = 2**63
#: Groups of three digits in an index below 2**55 (a level-0 tile starting below 2**63).
MAX_GROUPS = 6

#: How long a full tile (its hashes never change) and a partial one may be cached.
FULL_TILE_CACHE = "max-age=31536000, immutable"
PARTIAL_TILE_CACHE = "max-age=60"

#: The OpenAPI description of a tile route's answer.
TILE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "the tile: its hashes, 32 bytes each, concatenated",
        "content": {"application/octet-stream": {}},
    }
}

_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_ELEMENT = re.compile(r"x?[0-9]{3}")


@dataclass(frozen=True)
class Tile:
    level: int
    index: int
    #: 256 for a full tile, 1 to 255 for a partial one (``.p/<W>``).
    width: int = TILE_WIDTH

    @property
    def partial(self) -> bool:
        return self.width < TILE_WIDTH

    def path(self) -> str:
        """The tile's path below ``<prefix>/tile/``."""
        digits = f"{self.index:d}"
        digits = "0" * (-len(digits) % 3) + digits
        groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
        encoded = "/".join([*("x" + g for g in groups[:-1]), groups[-1]])
        suffix = f".p/{self.width}" if self.partial else ""
        return f"{self.level}/{encoded}{suffix}"


class EntryBundleRefused(NotFound):
    """Entry bundles are not served: the leaves are personal data."""


def parse_tile_path(path: str) -> Tile:
    """A tile from its path below ``<prefix>/tile/``: ``<L>/<N>[.p/<W>]``, in the one
    encoding the specification allows (400 otherwise; 404 for entry bundles)."""
    if path == "entries" or path.startswith("entries/"):
        raise EntryBundleRefused(
            "entry bundles are not served: the log's entries are personal data, each "
            "served only to whom may read it; the hash tiles prove the tree"
        )
    parts = path.split("/")
    width = TILE_WIDTH
    if len(parts) >= 3 and parts[-2].endswith(".p"):
        if not _DECIMAL.fullmatch(parts[-1]):
            raise InvalidInput("a partial tile's width is a decimal number without leading zeros")
        width = int(parts[-1])
        if not 1 <= width < TILE_WIDTH:
            raise InvalidInput("a partial tile's width is 1 to 255")
        parts = [*parts[:-2], parts[-2][: -len(".p")]]
    if len(parts) < 2 or not _DECIMAL.fullmatch(parts[0]) or len(parts[0]) > 2:
        raise InvalidInput("a tile path is <level>/<index>[.p/<width>]")
    level = int(parts[0])
    if level > MAX_LEVEL:
        raise InvalidInput(f"a tile's level is 0 to {MAX_LEVEL}")
    elements = parts[1:]
    if not all(_ELEMENT.fullmatch(e) for e in elements):
        raise InvalidInput("a tile's index is written in groups of three digits: x001/x234/067")
    if len(elements) > MAX_GROUPS:
        raise NotFound("no log is that large: a tile's index is below 2**55")
    index = int("".join(e.removeprefix("x") for e in elements))
    tile = Tile(level, index, width)
    if tile.path() != path:  # x on the last group, none before it, or x000 first
        raise InvalidInput(
            "a tile's index is written in groups of three digits, each but the last "
            f"starting with x and the first not x000 (this tile is {tile.path()})"
        )
    return tile


def read_tile(db: Session, log: str, tile: Tile) -> bytes:
    """The tile's hashes, concatenated, read in one query; NotFound unless the current
    tree holds every one of them."""
    level = TILE_HEIGHT * tile.level
    first = tile.index * TILE_WIDTH
    if (first + tile.width) << level > LEAF_LIMIT:
        raise NotFound(f"the {log} log has no tile {tile.path()}")
    hashes = db.scalars(
        select(MerkleNode.hash)
        .where(
            MerkleNode.log == log,
            MerkleNode.level == level,
            MerkleNode.index.between(first, first + tile.width - 1),
        )
        .order_by(MerkleNode.index)
    ).all()
    if len(hashes) != tile.width:
        raise NotFound(
            f"the {log} log has no tile {tile.path()} yet: its tree is smaller than the "
            "tile (read the log's signed head for its size)"
        )
    return b"".join(hashes)


def serve_tile(db: Session, log: str, path: str, *, public: bool) -> Response:
    """A tile's answer. Shared caches may keep a tile only when anyone may read it
    (else "private": it was answered to a signed-in caller)."""
    tile = parse_tile_path(path)
    body = read_tile(db, log, tile)
    scope = "public" if public else "private"
    cache = f"{scope}, {PARTIAL_TILE_CACHE if tile.partial else FULL_TILE_CACHE}"
    return Response(body, media_type="application/octet-stream", headers={"Cache-Control": cache})


def serve_checkpoint(note: str, *, public: bool) -> PlainTextResponse:
    """A signed checkpoint's answer (``<prefix>/checkpoint``): it changes with every
    append, so no cache may keep it without asking again."""
    cache = "no-cache" if public else "private, no-cache"
    return PlainTextResponse(note, headers={"Cache-Control": cache})
