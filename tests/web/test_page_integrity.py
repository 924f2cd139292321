"""The page as shipped protects its own code: every script and style index.html names
carries the Subresource Integrity of the file served, so that Chromium refuses one
changed on the way; the release manifest gives every file's hash (the crypto worker's,
which no tag can carry); the application installs (web app manifest) and its service
worker keeps only the application's own files, so that it opens offline while no API
answer ever reaches a cache."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.web.browser_app import CHROMIUM
from tests.web.served_app import build_shipped_app, served_app

#: A tag of index.html that names a script or a style, and its address.
NAMED_CODE = re.compile(
    r'<(?:script[^>]*\ssrc="(?P<src>[^"]+)"|link[^>]*\srel="(?:stylesheet|modulepreload)"'
    r'[^>]*\shref="(?P<href>[^"]+)")[^>]*>'
)
#: Requests no cache may hold: the API, signed in or not.
API_PATHS = ["/health", "/journal/head", "/keys/head", "/documents", "/auth/sessions"]


def _get(url: str, **kwargs: object) -> httpx2.Response:
    # A guard against a hang, not a speed check: a loaded machine stalled one past 5 s.
    return httpx2.get(url, timeout=60, **kwargs)  # type: ignore[arg-type]


def _sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[str]:
    build_shipped_app()
    with served_app(tmp_path_factory.mktemp("page"), sqlite_template) as url:
        yield url


def test_every_script_the_page_names_carries_the_integrity_of_the_file_served(site):
    page = _get(f"{site}/app/").text
    named = [m.group(0) for m in NAMED_CODE.finditer(page)]
    assert named, page
    for tag in named:
        src = re.search(r'\s(?:src|href)="([^"]+)"', tag).group(1)
        integrity = re.search(r'\sintegrity="([^"]+)"', tag)
        assert integrity, tag
        assert integrity.group(1) == _sri(_get(f"{site}{src}").content), tag
    # The release manifest: every file served, the crypto worker's too, with its hashes.
    release = _get(f"{site}/app/release.json").json()
    paths = {f["path"] for f in release["files"]}
    assert {"index.html", "sw.js", "manifest.webmanifest"} <= paths
    assert any(re.fullmatch(r"assets/worker-[\w-]+\.js", p) for p in paths), paths
    for file in release["files"]:
        served = _get(f"{site}/app/{file['path']}").content
        assert file["sha256"] == hashlib.sha256(served).hexdigest(), file["path"]
        assert file["integrity"] == _sri(served), file["path"]


def test_a_script_changed_on_the_way_is_refused_and_the_page_does_not_start(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

            def tamper(route):
                answer = route.fetch()
                route.fulfill(response=answer, body=answer.body() + b"\n;console.log(1);")

            page.route(re.compile(r".*/app/assets/index-[\w-]+\.js$"), tamper)
            page.goto(f"{site}/app/")
            page.wait_for_load_state("load")
            started = page.evaluate("document.body.dataset.ready ?? null")
        finally:
            browser.close()
    assert started is None
    assert any("integrity" in e for e in errors), errors


def test_the_app_installs_from_a_french_manifest_with_a_maskable_icon(site):
    page = _get(f"{site}/app/").text
    assert '<link rel="manifest" href="/app/manifest.webmanifest">' in page
    answer = _get(f"{site}/app/manifest.webmanifest")
    assert answer.headers["content-type"] == "application/manifest+json"
    manifest = answer.json()
    assert manifest["lang"] == "fr"
    assert (manifest["start_url"], manifest["scope"], manifest["display"]) == (
        "/app/",
        "/app/",
        "standalone",
    )
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["theme_color"])
    purposes = {icon["purpose"] for icon in manifest["icons"]}
    assert purposes == {"any", "maskable"}
    for icon in manifest["icons"]:
        served = _get(f"{site}/app/{icon['src']}")
        assert served.status_code == 200
        assert served.headers["content-type"] == icon["type"]
    sizes = {icon["sizes"] for icon in manifest["icons"] if icon["type"] == "image/png"}
    assert {"192x192", "512x512"} <= sizes


LIST_CACHES = """
async () => {
  const kept = {};
  for (const name of await caches.keys()) {
    kept[name] = (await (await caches.open(name)).keys()).map((r) => r.url);
  }
  return kept;
}
"""


def test_the_service_worker_keeps_the_app_for_offline_use_and_no_api_answer(site):
    from playwright.sync_api import sync_playwright

    release = _get(f"{site}/app/release.json").json()
    shell = sorted(
        f"{site}/app/{f['path']}"
        for f in release["files"]
        if f["path"] == "index.html" or f["path"].startswith("assets/")
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{site}/app/")
            page.wait_for_selector("body[data-ready=true]", timeout=30_000)
            scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.active && r.scope)")
            # A function, not an expression: polling an expression evaluates it, which the
            # page's CSP refuses (no 'unsafe-eval').
            page.wait_for_function("() => navigator.serviceWorker.controller !== null")
            # Asked by the page under the worker's control, signed in or not: the
            # browser passes them on, and the worker keeps none.
            statuses = page.evaluate(
                "async (paths) => Promise.all(paths.map(async (p) => (await fetch(p)).status))",
                API_PATHS,
            )
            kept = page.evaluate(LIST_CACHES)
            # Offline, the application still opens and its crypto worker starts.
            context.set_offline(True)
            page.reload()
            page.wait_for_selector("body[data-ready=true]", timeout=30_000)
            # Nothing to check its files against: said so, not taken for a tampered page.
            page.wait_for_selector("body[data-release]", timeout=30_000)
            offline_check = page.evaluate("document.body.dataset.release")
            offline_api = page.evaluate("fetch('/health').then(() => 'answered', () => 'failed')")
        finally:
            browser.close()
    assert scope == f"{site}/app/"
    assert 200 in statuses
    assert list(kept) == [f"uhealthsec-app-{release['release']}"], kept
    [urls] = kept.values()
    assert sorted(urls) == shell
    assert offline_api == "failed"
    assert offline_check == "offline"
