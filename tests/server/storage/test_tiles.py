"""The logs served as C2SP tlog-tiles hash tiles (docs/PROTOCOL.md, 9.3).

The tiles are checked by a reader written from the specification alone (its path
encoding, its widths, its definition of a tile's hashes), not with the server's Merkle
code: from the tiles of the current size it recomputes the root and inclusion proofs,
which must match the head the log signed, and the level-0 tiles must hold the hashes
of the very leaves appended.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from tests.conftest import served_checkpoint
from tests.server_fixtures import (
    BASE_URL,
    DATABASES,
    Clock,
    Outbox,
    Users,
    fresh_database,
    make_settings,
)
from uhealthsec.client.api import AuthClient
from uhealthsec.crypto import merkle
from uhealthsec.crypto.checkpoint import Checkpoint
from uhealthsec.server.app import build_context, create_app
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import NotFound
from uhealthsec.server.storage.merkle_log import (
    JOURNAL_LOG,
    KEY_DIRECTORY_LOG,
    MerkleLog,
    MerkleLogState,
)
from uhealthsec.server.storage.tiles import Tile, parse_tile_path, read_tile

PREFIXES = {"/journal": JOURNAL_LOG, "/keys": KEY_DIRECTORY_LOG}
#: Appended to each log besides what signing a user in wrote: 1,300 leaves, batches
#: ending inside tiles and on their edges.
BATCHES = [1, 200, 55, 300, 256, 7, 481]


# -- a tile reader written from the specification ----------------------------------------


def sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01", left, right)


def encode_index(n: int) -> str:
    """<N> as zero-padded 3-digit path elements, all but the last starting with x."""
    groups = [f"{n % 1000:03d}"]
    while n >= 1000:
        n //= 1000
        groups.append(f"x{n % 1000:03d}")
    return "/".join(reversed(groups))


def largest_power_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@dataclass
class TileReader:
    client: TestClient
    prefix: str
    size: int
    headers: dict[str, str] = field(default_factory=dict)
    fetched: dict[tuple[int, int], list[bytes]] = field(default_factory=dict)

    def tile(self, level: int, n: int) -> list[bytes]:
        """The n-th tile of a level for this tree size: full, or the partial tile of
        floor(size / 256**level) mod 256 hashes."""
        if (level, n) not in self.fetched:
            width = min(256, self.size // 256**level - n * 256)
            assert width > 0, "no such tile in this tree"
            url = f"{self.prefix}/tile/{level}/{encode_index(n)}"
            if width < 256:
                url += f".p/{width}"
            response = self.client.get(url, headers=self.headers)
            assert response.status_code == 200, (url, response.text)
            assert response.headers["content-type"] == "application/octet-stream"
            assert len(response.content) == 32 * width
            body = response.content
            self.fetched[level, n] = [body[i : i + 32] for i in range(0, len(body), 32)]
        return self.fetched[level, n]

    def perfect(self, height: int, index: int) -> bytes:
        """MTH of the 2**height leaves from index * 2**height: hashes of the tile level
        below it, hashed up the rest of the way."""
        level, rest = divmod(height, 8)
        first = index << rest
        n, offset = divmod(first, 256)
        hashes = self.tile(level, n)[offset : offset + (1 << rest)]
        assert len(hashes) == 1 << rest
        while len(hashes) > 1:
            hashes = [node(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def mth(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) as RFC 6962 defines it."""
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            return self.perfect(n.bit_length() - 1, start // n)
        k = largest_power_below(n)
        return node(self.mth(start, start + k), self.mth(start + k, end))

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        """PATH(m, D[start:end]) as RFC 6962 defines it."""
        if end - start == 1:
            return []
        k = largest_power_below(end - start)
        if m - start < k:
            return [*self.path(m, start, start + k), self.mth(start + k, end)]
        return [*self.path(m, start + k, end), self.mth(start, start + k)]


def root_from_path(leaf: bytes, m: int, start: int, end: int, path: list[bytes]) -> bytes:
    """The root a PATH leads to, following the same recursion."""
    if end - start == 1:
        assert not path
        return leaf
    k = largest_power_below(end - start)
    if m - start < k:
        return node(root_from_path(leaf, m, start, start + k, path[:-1]), path[-1])
    return node(path[-1], root_from_path(leaf, m, start + k, end, path[:-1]))


# -- one server for the module, its logs grown past several tiles ------------------------


@dataclass
class Served:
    ctx: AppContext
    client: TestClient
    #: A signed-in user's Authorization header.
    headers: dict[str, str]
    #: Leaves appended by the test, by log and index.
    leaves: dict[str, dict[int, bytes]]


def append(ctx: AppContext, log_name: str, batches: list[int]) -> dict[int, bytes]:
    appended: dict[int, bytes] = {}
    for count in batches:
        batch = [secrets.token_bytes(40) for _ in range(count)]
        with ctx.sessions.begin() as db:
            log = MerkleLog(db, log_name, ctx.log_key, 1)
            first = log.append(batch)
            log.sign_head()
        appended.update(enumerate(batch, start=first))
    return appended


@pytest.fixture(scope="module", params=DATABASES)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("tiles")
    with fresh_database(request, request.param, directory) as url:
        clock = Clock()
        ctx = build_context(make_settings(directory, url), clock=clock, migrate_schema=False)
        try:
            with TestClient(create_app(ctx=ctx), base_url=BASE_URL) as client:
                sdk = AuthClient(client)
                users = Users(sdk, Outbox(ctx.settings.outbox_dir), clock, ctx)
                user = users.signed_in("tiles@example.org")
                leaves = {name: append(ctx, name, BATCHES) for name in PREFIXES.values()}
                yield Served(ctx, client, sdk.bearer(user.tokens), leaves)
        finally:
            ctx.close()


def signed_head(served: Served, prefix: str) -> Checkpoint:
    answer = served.client.get(f"{prefix}/head", headers=served.headers)
    assert answer.status_code == 200, answer.text
    head = served_checkpoint(answer.json(), prefix.strip("/"))
    # The same signed note, served without sign-in beside the tiles.
    note = served.client.get(f"{prefix}/checkpoint")
    assert note.status_code == 200 and note.text == answer.json()["checkpoint"]
    return head


# -- tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_tiles_prove_the_signed_head_and_the_leaves_appended(served: Served, prefix):
    head = signed_head(served, prefix)
    appended = served.leaves[PREFIXES[prefix]]
    size = head.size
    assert size > max(appended) and size > 5 * 256
    reader = TileReader(served.client, prefix, size)

    assert reader.mth(0, size) == head.root
    # Level 0 holds the leaves' hashes; a level-1 hash is the MTH of a full level-0 tile.
    for index, leaf in appended.items():
        assert reader.tile(0, index // 256)[index % 256] == sha256(b"\x00", leaf)
    for n, value in enumerate(reader.tile(1, 0)):
        assert value == reader.mth(n * 256, (n + 1) * 256)
    assert sorted(reader.fetched) == [
        *((0, n) for n in range(size // 256 + 1)),
        (1, 0),
    ]

    for index in (min(appended), 255, 256, 1023, 1024, size - 257, size - 1):
        leaf = sha256(b"\x00", appended[index])
        path = reader.path(index, 0, size)
        assert root_from_path(leaf, index, 0, size, path) == head.root
        merkle.verify_inclusion(leaf, index, size, path, head.root)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_full_and_partial_tiles_follow_the_specification(served: Served, prefix):
    size = signed_head(served, prefix).size
    last, width = divmod(size, 256)
    assert 1 < width < 255

    full = served.client.get(f"{prefix}/tile/0/000")
    assert full.status_code == 200 and len(full.content) == 8192
    assert full.headers["content-type"] == "application/octet-stream"
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"

    partial = served.client.get(f"{prefix}/tile/0/{encode_index(last)}.p/{width}")
    assert partial.status_code == 200 and len(partial.content) == 32 * width
    assert partial.headers["cache-control"] == "public, max-age=60"
    # The partial tile of an earlier, smaller tree is this one's beginning; the partial
    # tile of a width now complete still answers what it held.
    earlier = served.client.get(f"{prefix}/tile/0/{encode_index(last)}.p/{width - 1}")
    assert earlier.content == partial.content[:-32]
    beginning = served.client.get(f"{prefix}/tile/0/000.p/10")
    assert beginning.status_code == 200 and beginning.content == full.content[: 10 * 32]
    level1 = served.client.get(f"{prefix}/tile/1/000.p/{size // 256}")
    assert level1.status_code == 200 and len(level1.content) == 32 * (size // 256)

    # Nothing the tree does not hold: a full tile where only a partial one exists, a
    # partial one wider than the tree, tiles past the end or above the top.
    for absent in (
        f"0/{encode_index(last)}",
        f"0/{encode_index(last)}.p/{width + 1}",
        f"0/{encode_index(last + 1)}.p/1",
        "1/000",
        f"1/000.p/{size // 256 + 1}",
        "2/000.p/1",
        "63/000.p/1",
        "0/x999/x999/x999/999",
        "7/x999/x999/x999/x999/x999/999",
    ):
        answer = served.client.get(f"{prefix}/tile/{absent}")
        assert answer.status_code == 404, absent
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    [
        "",
        "0",
        "00/000",
        "01/000",
        "64/000",
        "-1/000",
        "a/000",
        "0/0",
        "0/00",
        "0/0000",
        "0/x001",
        "0/x1/000",
        "0/001/000",
        "0/x000/001",
        "0/x001/x234/67",
        "0/000/",
        "0/000.p",
        "0/000.p/",
        "0/000.p/0",
        "0/000.p/256",
        "0/000.p/05",
        "0/000.p/+5",
        "0/000.p/5/",
        "0/000.P/5",
        "0/\u0661\u0662\u0663",
        "1/x001.p/5",
    ],
)
def test_malformed_tile_paths_are_refused(served: Served, path):
    for prefix in PREFIXES:
        answer = served.client.get(f"{prefix}/tile/{path}")
        assert answer.status_code in (400, 404), (prefix, path)
        assert answer.headers["content-type"] == "application/problem+json"
        if path and path != "0":  # a path that says enough to be told what is wrong
            assert answer.status_code == 400, (prefix, path)


@pytest.mark.parametrize("path", ["entries/000", "entries/x001/000.p/5", "entries"])
def test_entry_bundles_are_not_served(served: Served, path):
    for prefix in PREFIXES:
        answer = served.client.get(f"{prefix}/tile/{path}")
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
        assert "personal data" in answer.json()["detail"]


def test_without_public_logs_a_tile_needs_a_signed_in_caller(served: Served):
    settings = served.ctx.settings
    journal_size = signed_head(served, "/journal").size
    served.ctx.settings = settings.model_copy(update={"public_logs": False})
    try:
        for prefix in PREFIXES:
            refused = served.client.get(f"{prefix}/tile/0/000")
            assert refused.status_code == 401
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.headers["www-authenticate"] == "Bearer"
            answer = served.client.get(f"{prefix}/tile/0/000", headers=served.headers)
            assert answer.status_code == 200 and len(answer.content) == 8192
            # Answered to a signed-in caller: no shared cache may keep it.
            assert answer.headers["cache-control"] == "private, max-age=31536000, immutable"
            assert "uhs-journal-entry" not in answer.headers
            # The checkpoint beside them likewise.
            assert served.client.get(f"{prefix}/checkpoint").status_code == 401
            note = served.client.get(f"{prefix}/checkpoint", headers=served.headers)
            assert note.status_code == 200 and note.headers["cache-control"] == "private, no-cache"
    finally:
        served.ctx.settings = settings
    # Tile reads are verification reads: never journaled, signed in or not.
    public = served.client.get("/journal/tile/0/000", headers=served.headers)
    assert public.status_code == 200 and "uhs-journal-entry" not in public.headers
    assert signed_head(served, "/journal").size == journal_size


def test_a_tree_of_256_leaves_is_one_full_tile_and_a_partial_tile_above(served: Served):
    """The specification's example, on a log of its own, read from storage directly."""
    ctx = served.ctx
    with ctx.sessions.begin() as db:
        db.add(MerkleLogState(name="tiles-example", size=0, frontier=b"", origin="t.example/x"))
    leaves = append(ctx, "tiles-example", [100, 156])
    with ctx.sessions() as db:
        level0 = read_tile(db, "tiles-example", Tile(0, 0))
        level1 = read_tile(db, "tiles-example", Tile(1, 0, 1))
        for absent in (Tile(0, 1, 1), Tile(1, 0), Tile(1, 0, 2), Tile(2, 0, 1)):
            with pytest.raises(NotFound):
                read_tile(db, "tiles-example", absent)
    assert level0 == b"".join(sha256(b"\x00", leaves[i]) for i in range(256))
    hashes = [level0[i : i + 32] for i in range(0, len(level0), 32)]
    while len(hashes) > 1:
        hashes = [node(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    assert level1 == hashes[0]


@pytest.mark.parametrize(
    ("tile", "path"),
    [
        (Tile(0, 0), "0/000"),
        (Tile(0, 1234067), "0/x001/x234/067"),
        (Tile(1, 1000, 5), "1/x001/000.p/5"),
        (Tile(63, 999, 255), "63/999.p/255"),
        (Tile(2, 2**47), "2/x140/x737/x488/x355/328"),
    ],
)
def test_tile_paths_are_encoded_as_the_specification_writes_them(tile: Tile, path):
    assert tile.path() == path
    assert parse_tile_path(path) == tile
    assert encode_index(tile.index) == path.split("/", 1)[1].split(".p")[0]
