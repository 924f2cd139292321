"""The /app/ mount against hostile paths and a changing disk: what leaves the asset
directory, what each answer is typed and cached as, and which policy it carries.

Requests go straight to the ASGI application with the path as sent on the wire
(an HTTP client would resolve the dot segments before sending them)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.web.builds import ensure_web_build
from uhealthsec.server import problems, web_app
from uhealthsec.server.headers import API_POLICY, APP_POLICY, SecurityHeaders
from uhealthsec.server.web_app import IMMUTABLE, REVALIDATE, WEB_ASSETS

#: A built file's name without its suffix: Vite's ``[name]-[hash]``.
#: Copied as they are into the build, beside index.html.
WEB_PUBLIC = Path(__file__).resolve().parents[2] / "web" / "public"
HASHED_NAME = re.compile(r"[\w.-]+-[A-Za-z0-9_-]{8,}")

INDEX = b'<!doctype html><script type="module" src="/app/assets/index-AbCdEf12.js"></script>'
SCRIPT = b"export const answer = 42;\n"
PROBLEM = "application/problem+json"


def _assets(root: Path) -> Path:
    directory = root / "web_assets"
    (directory / "assets").mkdir(parents=True)
    (directory / "index.html").write_bytes(INDEX)
    (directory / "assets" / "index-AbCdEf12.js").write_bytes(SCRIPT)
    (root / "secret.txt").write_text("outside the web application")
    return directory


def _app(directory: Path) -> FastAPI:
    """As app.py composes it: problems, the mount, infrastructure failures, headers."""
    app = FastAPI()
    problems.install(app)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    web_app.install(app, directory)
    app.add_middleware(problems.InfrastructureFailures)
    app.add_middleware(SecurityHeaders, hsts=False)
    return app


def _request(app: FastAPI, path: str, method: str = "GET", headers: dict[str, str] | None = None):
    """(status, headers, body) for `path` exactly as given, or the exception raised."""

    async def run():
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        received = False

        async def receive():
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.sleep(3600)

        answer: dict = {"body": b""}

        async def send(message):
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")

        await asyncio.wait_for(app(scope, receive, send), 10)
        return answer["status"], answer["headers"], answer["body"]

    return asyncio.run(run())


@pytest.fixture
def served(tmp_path: Path) -> tuple[FastAPI, Path]:
    directory = _assets(tmp_path)
    return _app(directory), directory


@pytest.mark.parametrize(
    "path",
    [
        "/app/../secret.txt",
        "/app/assets/../../secret.txt",
        "/app/%2e%2e/secret.txt",
        "/app/..%2fsecret.txt",
        "/app/..\\secret.txt",
        "/app/assets\\..\\..\\secret.txt",
        "/app//../secret.txt",
        "/app/assets/link.js",
        "/app/assets/",
        "/app/assets",
        "/app/absent.js",
    ],
)
def test_nothing_outside_the_assets_and_no_listing_every_refusal_a_problem_under_the_app_policy(
    served, path
):
    app, directory = served
    os.symlink(directory.parent / "secret.txt", directory / "assets" / "link.js")
    status, headers, body = _request(app, path)
    assert status == 404, (path, status, body)
    assert b"outside the web application" not in body
    assert headers["content-type"] == PROBLEM
    assert headers["content-security-policy"] == APP_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] != IMMUTABLE


def test_page_and_scripts_are_typed_revalidated_or_immutable_and_carry_the_app_policy(served):
    app, _ = served
    for path in ("/app/", "/app/index.html"):
        status, headers, body = _request(app, path)
        assert (status, body) == (200, INDEX)
        assert headers["content-type"].startswith("text/html")
        assert headers["cache-control"] == REVALIDATE
        assert headers["content-security-policy"] == APP_POLICY
    status, headers, body = _request(app, "/app/assets/index-AbCdEf12.js")
    assert (status, body) == (200, SCRIPT)
    assert headers["content-type"].split(";")[0] == "text/javascript"
    assert headers["cache-control"] == IMMUTABLE
    assert headers["x-content-type-options"] == "nosniff"
    # HEAD as GET without a body; other methods refused as problems.
    status, headers, body = _request(app, "/app/", "HEAD")
    assert (status, body, headers["cache-control"]) == (200, b"", REVALIDATE)
    for method in ("OPTIONS", "POST", "PUT", "DELETE"):
        status, headers, _ = _request(app, "/app/", method)
        assert status == 405 and headers["content-type"] == PROBLEM, method
        assert headers["content-security-policy"] == APP_POLICY
    # /app redirects to /app/; the API around the mount keeps its own policy.
    status, headers, _ = _request(app, "/app")
    assert status in (307, 308) and headers["location"].endswith("/app/")
    assert _request(app, "/health")[1]["content-security-policy"] == API_POLICY
    assert _request(app, "/application")[1]["content-security-policy"] == API_POLICY


def test_the_site_root_leads_to_the_app_and_the_api_paths_stay_theirs(served):
    app, _ = served
    status, headers, _ = _request(app, "/")
    assert (status, headers["location"]) == (302, "/app/")
    status, headers, body = _request(app, "/health")
    assert (status, body) == (200, b'{"status":"ok"}')
    assert headers["content-security-policy"] == API_POLICY


def test_the_app_without_its_slash_leads_to_this_server_whatever_host_is_asked_for(served):
    """The redirect of /app to /app/ is built from the request's Host header: a cache or
    proxy that forwards it unchecked hands the next people a Location on another
    origin, a copy of the sign-in page. The site root's redirect is relative; this one
    must not name another host either."""
    app, _ = served
    status, headers, _ = _request(app, "/app", headers={"Host": "sante-connect.example"})
    assert status in (301, 302, 307, 308)
    location = headers["location"]
    assert location.endswith("/app/") and "sante-connect.example" not in location, location


def test_a_revalidated_file_keeps_its_own_caching_rule(served):
    """A 304 replaces the cached headers (RFC 9111 4.3.4): index.html must stay
    revalidated and a hashed file immutable, not turn into no-store."""
    app, _ = served
    for path, rule in (("/app/", REVALIDATE), ("/app/assets/index-AbCdEf12.js", IMMUTABLE)):
        etag = _request(app, path)[1]["etag"]
        status, headers, _ = _request(app, path, headers={"If-None-Match": etag})
        assert status == 304
        assert headers["cache-control"] == rule, path


def test_assets_gone_after_start_are_answered_as_a_problem_not_a_traceback(tmp_path):
    """A rebuild empties web_assets/ (Vite's emptyOutDir) under a running server."""
    directory = _assets(tmp_path)
    app = _app(directory)
    shutil.rmtree(directory)
    try:
        status, headers, _ = _request(app, "/app/")
    except Exception as exc:
        pytest.fail(f"/app/ raised {exc!r} instead of answering")
    assert 400 <= status < 600
    assert headers["content-type"] == PROBLEM
    assert headers["content-security-policy"] == APP_POLICY


def test_assets_gone_are_a_503_logged_in_one_line_and_served_again_once_rebuilt(tmp_path, caplog):
    directory = _assets(tmp_path)
    app = _app(directory)
    assert _request(app, "/app/")[0] == 200
    shutil.rmtree(directory)
    with caplog.at_level("WARNING", logger=web_app.__name__):
        status, headers, body = _request(app, "/app/assets/index-AbCdEf12.js")
    assert status == 503
    assert headers["content-type"] == PROBLEM
    assert headers["retry-after"].isdigit()
    assert b'"status":503' in body
    lines = [r.getMessage() for r in caplog.records if r.name == web_app.__name__]
    assert len(lines) == 1 and "\n" not in lines[0] and "503" in lines[0]
    assert all(r.exc_info is None for r in caplog.records)
    (tmp_path / "secret.txt").unlink()
    _assets(tmp_path)
    status, headers, body = _request(app, "/app/assets/index-AbCdEf12.js")
    assert (status, body, headers["cache-control"]) == (200, SCRIPT, IMMUTABLE)


def test_the_built_app_names_only_hashed_scripts_and_nothing_else_is_served_from_assets():
    """What npm run build puts in web_assets/: index.html, the release manifest, the
    files of web/public/ (service worker, web app manifest, icons) and hashed files, no
    second page under assets/, no dotfile or source map beside them."""
    ensure_web_build("shipped")
    names = sorted(
        p.relative_to(WEB_ASSETS).as_posix() for p in WEB_ASSETS.rglob("*") if p.is_file()
    )
    public = WEB_PUBLIC.rglob("*")
    unhashed = {"index.html", "release.json"} | {
        p.relative_to(WEB_PUBLIC).as_posix() for p in public if p.is_file()
    }
    assert unhashed <= set(names)
    for name in names:
        if name in unhashed:
            continue
        assert name.startswith("assets/"), name
        stem, _, suffix = Path(name).name.rpartition(".")
        assert suffix in {"js", "svg", "css", "wasm"}, name
        # name-hash, the hash in base64url, so that it may itself hold a "-".
        assert HASHED_NAME.fullmatch(stem), name
    app = _app(WEB_ASSETS)
    for name in names:
        status, headers, _ = _request(app, f"/app/{name}")
        assert status == 200
        if name.endswith(".js"):
            assert headers["content-type"].split(";")[0] == "text/javascript"
