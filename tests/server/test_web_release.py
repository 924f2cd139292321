"""The web release log on each database: the server publishes the files it serves under
/app/ once (a restart with the same files appends nothing, a changed file one leaf),
and serves them with inclusion proofs in a signed checkpoint that a client accepts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.server_fixtures import BASE_URL
from uhealthsec.client.errors import LogRefused
from uhealthsec.client.logs import LogPin
from uhealthsec.client.web_release import verify_web_release
from uhealthsec.protocol.web_release import asset_leaf
from uhealthsec.server import web_app, web_release
from uhealthsec.server.app import create_app
from uhealthsec.server.storage.merkle_log import MerkleLog
from uhealthsec.server.web_release import (
    WEB_RELEASE_LOG,
    publish,
    release_assets,
    served_assets,
)

PAGE = b'<!doctype html><script type="module" src="/app/assets/index-AbCdEf12.js"></script>'


def _app_files(root: Path) -> Path:
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(PAGE)
    (root / "assets" / "index-AbCdEf12.js").write_bytes(b"export {};\n")
    return root


def _size(ctx) -> int:
    with ctx.sessions.begin() as db:
        return MerkleLog(db, WEB_RELEASE_LOG, ctx.log_key, 0).size()


def test_a_release_is_published_once_and_a_changed_file_adds_one_leaf(ctx, tmp_path):
    directory = _app_files(tmp_path / "app")
    assets = served_assets(directory)
    assert [(a.path, a.sha256) for a in assets] == [
        ("assets/index-AbCdEf12.js", hashlib.sha256(b"export {};\n").digest()),
        ("index.html", hashlib.sha256(PAGE).digest()),
    ]
    assert publish(ctx, assets) == 2
    assert publish(ctx, assets) == 0
    (directory / "index.html").write_bytes(PAGE + b"<!-- 2 -->")
    assert publish(ctx, served_assets(directory)) == 1
    assert _size(ctx) == 3
    assert asset_leaf("index.html", bytes(32)) == (
        b"uhealthsec-web-asset/1\n" + b"0" * 64 + b"  index.html\n"
    )


def test_the_served_files_come_with_proofs_a_client_accepts(ctx, tmp_path, monkeypatch):
    monkeypatch.setattr(web_app, "WEB_ASSETS", _app_files(tmp_path / "app"))
    with TestClient(create_app(ctx=ctx), base_url=BASE_URL) as http:
        check = verify_web_release(http, LogPin())
        assert (check.verified, check.changed, check.unlisted) == (
            ["assets/index-AbCdEf12.js", "index.html"],
            [],
            [],
        )
        head = http.get("/web-release/head").json()
        assert head["checkpoint"].startswith(check.pin.origin + "\n2\n")
        # Anyone's: no sign-in, as the page's first visit has none.
        answer = http.get("/web-release/assets", params={"since": 2})
        assert answer.status_code == 200
        [page] = [a for a in answer.json()["assets"] if a["path"] == "index.html"]
        assert page["sha256"] == hashlib.sha256(PAGE).hexdigest()
        refused = http.get("/web-release/assets", params={"since": 3})
        assert refused.status_code == 400
        assert refused.headers["content-type"] == "application/problem+json"


def test_a_build_is_hashed_once_per_process_and_a_new_build_is_published(
    ctx, tmp_path, monkeypatch
):
    directory = _app_files(tmp_path / "app")
    (directory / "release.json").write_bytes(b'{"release": "1"}')
    monkeypatch.setattr(web_app, "WEB_ASSETS", directory)
    hashed: list[Path] = []
    monkeypatch.setattr(
        web_release, "served_assets", lambda d: hashed.append(d) or served_assets(d)
    )
    create_app(ctx=ctx)
    create_app(ctx=ctx)
    assert hashed == [directory]
    assert _size(ctx) == 3
    # A new build writes a new release.json: its files are hashed again and published.
    (directory / "index.html").write_bytes(PAGE + b"<!-- 2 -->")
    (directory / "release.json").write_bytes(b'{"release": "2"}')
    create_app(ctx=ctx)
    assert hashed == [directory, directory]
    assert _size(ctx) == 5
    [page] = [a for a in release_assets(directory) if a.path == "index.html"]
    assert page.sha256 == hashlib.sha256(PAGE + b"<!-- 2 -->").digest()
    # Without a release.json nothing says which build it is: hashed each time.
    (directory / "release.json").unlink()
    release_assets(directory)
    release_assets(directory)
    assert len(hashed) == 4


@pytest.mark.parametrize("path", ["", "a\nb", "x" * 301])
def test_a_leaf_names_one_served_file(path):
    with pytest.raises(ValueError):
        asset_leaf(path, bytes(32))
    with pytest.raises(ValueError):
        asset_leaf("index.html", bytes(31))


def test_a_server_without_the_web_application_says_it_publishes_no_release(
    ctx, tmp_path, monkeypatch
):
    monkeypatch.setattr(web_app, "WEB_ASSETS", tmp_path / "not-built")
    with TestClient(create_app(ctx=ctx), base_url=BASE_URL) as http:
        for path in ("/web-release/head", "/web-release/assets"):
            answer = http.get(path)
            assert answer.status_code == 404
            assert answer.headers["content-type"] == "application/problem+json"
        with pytest.raises(LogRefused, match="publishes no web release log"):
            verify_web_release(http, LogPin())
