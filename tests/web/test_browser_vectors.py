"""The web client's vector tests (web/test/) in headless Chromium.

The same test files that run under Node (``npm test --prefix web``) are bundled
for a browser by Vite (web/vite.browser-tests.config.ts) and run in Debian's
Chromium through Playwright, from a page served on 127.0.0.1 (a secure context,
which WebCrypto needs; a ``data:`` URL is not one). Each vector file is fetched by
the page before the tests are imported, so the browser reads the very files the
Python implementation is tested against.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.builds import BUILDS, ROOT, WEB, ensure_web_build

VECTORS = ROOT / "tests" / "vectors"
BUNDLE = BUILDS["browser-tests"].directory / "tests.js"
CHROMIUM = "/usr/bin/chromium"

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>U-HealthSec web client: vector tests</title>
<script type="module">
window.runVectorTests = async (names) => {
  const texts = await Promise.all(
    names.map(async (name) => [name, await (await fetch(`/vectors/${name}`)).text()])
  );
  globalThis.__UHS_VECTORS__ = Object.fromEntries(texts);
  // Debian's Chromium has WebCrypto's X-Wing: its tests run both backends, not only the fallback.
  globalThis.__UHS_EXPECT_NATIVE_XWING__ = true;
  const { run } = await import("/tests.js");
  return run();
};
</script>
"""


class Site(http.server.SimpleHTTPRequestHandler):
    """The page, the test bundle and the vector files, from 127.0.0.1 only."""

    def do_GET(self) -> None:
        if self.path == "/":
            self._send(PAGE.encode(), "text/html; charset=utf-8")
        elif self.path == "/tests.js":
            self._send(BUNDLE.read_bytes(), "text/javascript")
        elif self.path.startswith("/vectors/") and self.path.removeprefix("/vectors/") in {
            p.name for p in VECTORS.glob("*.json")
        }:
            self._send(
                (VECTORS / self.path.removeprefix("/vectors/")).read_bytes(), "application/json"
            )
        else:
            self.send_error(404)

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    # Built here as well as by `npm test`, so that this test always runs the current
    # sources, also when pytest is run alone.
    ensure_web_build("browser-tests")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


NODE_ONLY = "// Node only:"


def test_every_test_file_is_in_the_browser_bundle() -> None:
    """test/browser/all_tests.ts lists each web/test/*.test.ts: a file left out would
    pass under Node and never run in the browser."""
    listed = (WEB / "test" / "browser" / "all_tests.ts").read_text()
    for path in (WEB / "test").glob("*.test.ts"):
        # A test that reads the repository's own files, or drives Node's mocked clock,
        # says so on its first line and runs under Node only.
        node_only = path.read_text().startswith(NODE_ONLY)
        assert (f'import "../{path.stem}.js";' in listed) != node_only, path.name


def test_vector_tests_pass_in_chromium(site: str) -> None:
    from playwright.sync_api import sync_playwright

    names = sorted(p.name for p in VECTORS.glob("*.json"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            page.goto(site)
            assert page.evaluate("window.isSecureContext")
            results = page.evaluate("names => window.runVectorTests(names)", names)
        finally:
            browser.close()
    node_tests = sum(
        text.count("\ntest(")
        for path in (WEB / "test").glob("*.test.ts")
        if not (text := path.read_text()).startswith(NODE_ONLY)
    )
    assert len(results) == node_tests, "every Node test runs in the browser too"
    failed = [f"{r['name']}: {r.get('error')}" for r in results if not r["passed"]]
    assert not failed, "\n".join(failed)
