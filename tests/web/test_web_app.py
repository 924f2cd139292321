"""The web application as ``uhs-server serve`` serves it: built by Vite into the
server package, at /app/ under a strict content security policy, hashed files cached
for good; the page boots in Chromium under that policy, and its crypto worker keeps
every private key and document key off the page's main thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.conftest import load_vectors
from tests.serving import HTTP_TIMEOUT, serve_process
from tests.web.browser_app import app_site, build_app
from tests.web.builds import ensure_web_build
from uhealthsec.crypto import envelope, wrap
from uhealthsec.crypto.keys import UserKeys
from uhealthsec.server.headers import APP_POLICY
from uhealthsec.server.web_app import IMMUTABLE, WEB_ASSETS

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``npm run build``, then ``uhs-server serve`` on a fresh data directory."""
    ensure_web_build("shipped")
    home = tmp_path_factory.mktemp("web-app")
    with serve_process(home) as (url, _):
        yield url


def test_the_app_is_served_under_a_strict_policy_and_its_hashed_files_cached_for_good(server):
    page = httpx2.get(f"{server}/app/", timeout=HTTP_TIMEOUT)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert policy == APP_POLICY
    for directive in (
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types default",
    ):
        assert directive in policy
    # The page names the current files: it is revalidated, never kept blindly.
    assert page.headers["cache-control"] == "no-cache"
    hashed = sorted(p.name for p in (WEB_ASSETS / "assets").iterdir())
    assert any(name.startswith("worker-") for name in hashed), hashed
    for name in hashed:
        asset = httpx2.get(f"{server}/app/assets/{name}", timeout=HTTP_TIMEOUT)
        assert asset.status_code == 200
        assert asset.headers["cache-control"] == IMMUTABLE
        assert asset.headers["content-security-policy"] == APP_POLICY
    # The API keeps its own policy; a file that is not there is a problem like any other.
    assert (
        "default-src 'none'"
        in httpx2.get(f"{server}/health", timeout=HTTP_TIMEOUT).headers["content-security-policy"]
    )
    missing = httpx2.get(f"{server}/app/assets/absent.js", timeout=HTTP_TIMEOUT)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["cache-control"] != IMMUTABLE


def test_without_a_build_app_is_not_mounted_and_says_so(tmp_path, caplog):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from uhealthsec.server import problems, web_app

    app = FastAPI()
    problems.install(app)
    with caplog.at_level(logging.WARNING, logger="uhealthsec.server.web_app"):
        web_app.install(app, tmp_path)
    assert "npm run build --prefix web" in caplog.text
    answer = TestClient(app).get("/app/")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


# Before the application runs: every message the page receives from a worker, and
# every policy violation, kept where the test can read them.
RECORDER = """
window.__received = [];
window.__violations = [];
document.addEventListener(
  "securitypolicyviolation", (e) => window.__violations.push(e.violatedDirective)
);
const NativeWorker = window.Worker;
window.Worker = class extends NativeWorker {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (event) => window.__received.push(event.data));
  }
};
"""

# Unlocks the keystore, seals 3 chunks + 5 bytes from a Blob's stream to itself and to a
# second recipient, opens it again, signs; returns everything the page saw, in hex.
DRIVE = """
async ({ keystore, password, otherBundle }) => {
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const fromHex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
  const everything = (v) =>
    v instanceof Uint8Array ? hex(v)
    : Array.isArray(v) ? v.map(everything).join(" ")
    : v !== null && typeof v === "object" ? Object.values(v).map(everything).join(" ")
    : String(v);
  const collect = () => {
    const parts = [];
    const sink = new WritableStream({ write: (c) => { parts.push(c.slice()); } });
    return { sink, blob: () => new Blob(parts) };
  };
  const worker = window.uhealthsec.cryptoWorker;
  const unlocked = await worker.unlockWithPassword(fromHex(keystore), password);
  const bundle = hex(unlocked.bundle);
  const plaintext = Uint8Array.from({ length: 3 * (1 << 20) + 5 }, (_, i) => (i * 31 + 7) & 0xff);
  const sealed = collect();
  const seal = await worker.seal({
    source: new Blob([plaintext]).stream(),
    sink: sealed.sink,
    recipients: [fromHex(bundle), fromHex(otherBundle)],
  });
  const envelope = new Uint8Array(await sealed.blob().arrayBuffer());
  const opened = collect();
  const open = await worker.open({
    source: new Blob([envelope]).stream(),
    sink: opened.sink,
    wrappedKey: seal.wrappedKeys[0].slice(),
  });
  const roundTrip = hex(new Uint8Array(await opened.blob().arrayBuffer())) === hex(plaintext);
  const signed = await worker.sign("document", new Uint8Array(32).fill(1));
  await worker.lock();
  let lockedRefusal = null;
  try {
    await worker.sign("document", new Uint8Array(32));
  } catch (e) {
    lockedRefusal = e.identifier;
  }
  return {
    roundTrip,
    lockedRefusal,
    bundle,
    envelope: hex(envelope),
    wrappedForOther: hex(seal.wrappedKeys[1]),
    digestsAgree: hex(open.contentDigest) === hex(seal.contentDigest),
    signature: hex(signed.signature),
    received: everything(window.__received),
    // What the page's API object holds itself.
    apiState: everything(Object.values(worker)) + JSON.stringify(Object.keys(worker)),
  };
}
"""


TRUSTED_TYPES_PROBE = """
() => {
  const outcomes = [];
  for (const attempt of [
    () => document.body.insertAdjacentHTML("beforeend", "<img src=x>"),
    () => new Worker("data:text/javascript,postMessage(1)"),
  ]) {
    try {
      attempt();
      outcomes.push("accepted");
    } catch (e) {
      outcomes.push(e.name);
    }
  }
  return outcomes;
}
"""


def test_the_shipped_page_boots_under_trusted_types_and_exposes_no_worker(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.add_init_script(RECORDER)
            page.goto(f"{server}/app/")
            page.wait_for_selector("body[data-ready=true]", timeout=30_000)
            violations = page.evaluate("window.__violations")
            errors_at_boot = list(errors)
            exposed = page.evaluate("typeof window.uhealthsec")
            # Trusted Types are enforced: markup and a foreign worker are refused.
            refused = page.evaluate(TRUSTED_TYPES_PROBE)
        finally:
            browser.close()
    assert not errors_at_boot, errors_at_boot
    assert violations == []
    assert exposed == "undefined"
    assert refused == ["TypeError", "TypeError"], refused


def test_the_page_boots_and_its_worker_keeps_private_keys_off_the_main_thread(tmp_path):
    """Driven through the build for tests (the shipped one keeps its worker's client
    off ``window``), served under the same policy."""
    from playwright.sync_api import sync_playwright

    vector = load_vectors("keystore.json")["vectors"][0]
    secrets = UserKeys.decode(bytes.fromhex(vector["private_keys"]))
    other = UserKeys.generate()
    build_app()
    with app_site(tmp_path) as site, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.add_init_script(RECORDER)
            page.goto(f"{site}/app/")
            page.wait_for_selector("body[data-ready=true]", timeout=30_000)
            seen = page.evaluate(
                DRIVE,
                {
                    "keystore": vector["keystore"],
                    "password": vector["password"],
                    "otherBundle": other.public().encode().hex(),
                },
            )
            violations = page.evaluate("window.__violations")
        finally:
            browser.close()
    assert not errors, errors
    assert violations == []
    assert seen["roundTrip"] and seen["digestsAgree"]
    assert seen["bundle"] == vector["public_bundle"]
    assert seen["lockedRefusal"] == "locked"

    # What the browser sealed for the other recipient opens in Python with that
    # recipient's keys: the worker's document key really exists, outside the page.
    data = bytes.fromhex(seen["envelope"])
    document_key = wrap.unwrap_document_key(
        bytes.fromhex(seen["wrappedForOther"]), other, data[: envelope.HEADER_SIZE]
    )
    plaintext = bytes((i * 31 + 7) & 0xFF for i in range(3 * (1 << 20) + 5))
    assert envelope.decrypt(document_key, data) == plaintext

    # Neither a private key nor that document key ever reached the main thread.
    reachable = seen["received"] + seen["apiState"]
    assert "wrappedKeys" not in seen["apiState"]
    encoded = secrets.encode()
    # The three private keys as the keystore holds them (PROTOCOL 5.2).
    for secret in (encoded[1:33], encoded[33:65], encoded[65:97]):
        assert secret.hex() not in reachable
    assert document_key.hex() not in reachable


# Unlocks, describes what the worker holds (the app-tests build's describeKeys: kinds and
# flags, never a key), opens the envelope once per wrapped key, locks, describes again,
# and tries one more open.
HELD_KEYS = """
async ({ keystore, password, envelope, wrappedKeys }) => {
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const fromHex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
  const worker = window.uhealthsec.cryptoWorker;
  const describe = () => worker.call("describeKeys", {});
  const open = async (wrappedKey) => {
    const parts = [];
    const sink = new WritableStream({ write: (c) => { parts.push(c.slice()); } });
    const source = new Blob([fromHex(envelope)]).stream();
    await worker.open({ source, sink, wrappedKey: fromHex(wrappedKey) });
    return hex(new Uint8Array(await new Blob(parts).arrayBuffer()));
  };
  const before = await describe();
  await worker.unlockWithPassword(fromHex(keystore), password);
  const held = await describe();
  const opened = [];
  for (const wrappedKey of wrappedKeys) opened.push(await open(wrappedKey));
  await worker.lock();
  const after = await describe();
  let refusal = null;
  try {
    await open(wrappedKeys[0]);
  } catch (e) {
    refusal = e.identifier;
  }
  const supports = SubtleCrypto.supports;
  const nativeXWing = typeof supports === "function" &&
    ["importKey", "encapsulateBits", "decapsulateBits"]
      .every((op) => supports.call(SubtleCrypto, op, "MLKEM768-X25519"));
  return { before, held, opened, after, refusal, nativeXWing };
}
"""


def test_the_worker_holds_non_extractable_keys_that_open_what_python_sealed_and_a_lock_drops_them(
    tmp_path,
):
    from playwright.sync_api import sync_playwright

    vector = load_vectors("keystore.json")["vectors"][0]
    recipient = UserKeys.decode(bytes.fromhex(vector["private_keys"])).public()
    plaintext = bytes((i * 13 + 5) & 0xFF for i in range(70_000))
    document_key = envelope.generate_document_key()
    data = envelope.encrypt(document_key, plaintext, chunk_log2=16)
    header = data[: envelope.HEADER_SIZE]
    wrapped_keys = [
        wrap.wrap_document_key(document_key, recipient, header, suite).hex()
        for suite in (wrap.WrapSuite.HYBRID, wrap.WrapSuite.CLASSICAL)
    ]
    build_app()
    with app_site(tmp_path) as site, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            page.goto(f"{site}/app/")
            page.wait_for_selector("body[data-ready=true]", timeout=30_000)
            seen = page.evaluate(
                HELD_KEYS,
                {
                    "keystore": vector["keystore"],
                    "password": vector["password"],
                    "envelope": data.hex(),
                    "wrappedKeys": wrapped_keys,
                },
            )
        finally:
            browser.close()

    nothing = {"unlocked": False, "signing": None, "x25519": None, "xwing": None}
    assert seen["before"] == nothing
    held = seen["held"]
    assert held["unlocked"] is True
    assert held["signing"] == {
        "kind": "CryptoKey",
        "algorithm": "Ed25519",
        "extractable": False,
        "usages": ["sign"],
    }
    assert held["x25519"] == {
        "kind": "CryptoKey",
        "algorithm": "X25519",
        "extractable": False,
        "usages": ["deriveBits"],
    }
    # Debian's Chromium has WebCrypto's X-Wing; without it the seed's bytes stay in the worker.
    assert seen["nativeXWing"], "this Chromium has no native X-Wing"
    assert held["xwing"] == {
        "kind": "CryptoKey",
        "algorithm": "MLKEM768-X25519",
        "extractable": False,
        "usages": ["decapsulateBits"],
    }
    # Both suites' wrapped keys, made by Python, open through those CryptoKeys.
    assert seen["opened"] == [plaintext.hex(), plaintext.hex()]
    assert seen["after"] == nothing
    assert seen["refusal"] == "locked"
