"""200 MiB through the web application's crypto worker, both ways, in constant memory:
the page seals a stream it generates 1 MiB at a time and uploads each sealed piece as
it comes, Python opens the file; Python seals, the page fetches it as a stream and
opens it into a sink that checks each piece. The data is an AES-CTR keystream both
sides compute (tests/web/browser_app.py), so nothing large is stored or held whole.
Constant memory is the live memory of the page and its worker, measured after a
collection at three points of the stream, not growing with what has passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import load_vectors
from tests.web.browser_app import (
    CHROMIUM,
    MEASURING,
    PAGE_HELPERS,
    app_site,
    build_app,
    keystream,
)
from uhealthsec.crypto import envelope, wrap
from uhealthsec.crypto.keys import PublicKeys, UserKeys

SIZE = 200 << 20
# Where the sinks measure the live memory of the page and its worker (after a
# collection): if anything held what passed, the last would exceed the first by it.
MEASURE_AT = [16 << 20, 100 << 20, 190 << 20]
GROWTH_BOUND = 16 << 20


def measuring(tab: Any) -> None:
    tab.evaluate("marks => { window.uhsMeasureAt = marks; window.uhsMeasured = []; }", MEASURE_AT)


def live_memory_growth(tab: Any) -> int:
    measured = tab.evaluate("window.uhsMeasured")
    assert [m["at"] for m in measured] == MEASURE_AT
    return int(max(m["bytes"] for m in measured) - measured[0]["bytes"])


# Once through both paths first (and the keystore unlocked, which grows the worker's
# WebAssembly memory for Argon2id for good), so that the memory measured after is the
# work's own.
WARM_UP = """async ({ bundle, keystore, password }) => {
    const fromHex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
    const worker = window.uhealthsec.cryptoWorker;
    await worker.unlockWithPassword(fromHex(keystore), password);
    const { wrappedKeys } = await worker.seal({
        source: uhsLarge.source(32 << 20),
        sink: uhsLarge.uploader("warm-up.uhse"),
        recipients: [fromHex(bundle)],
    });
    const answer = await fetch("/files/warm-up.uhse");
    const sink = uhsLarge.checker().sink;
    await worker.open({ source: answer.body, sink, wrappedKey: wrappedKeys[0] });
}"""


class KeystreamReader:
    """A Readable of the first `size` keystream bytes."""

    def __init__(self, size: int) -> None:
        self.pieces = keystream(size)
        self.pending = memoryview(b"")

    def readinto(self, buffer: memoryview) -> int:
        if not self.pending:
            self.pending = memoryview(next(self.pieces, b""))
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


class KeystreamChecker:
    """A Writable that compares what it is given with the keystream."""

    def __init__(self, size: int) -> None:
        self.pieces = keystream(size)
        self.pending = b""
        self.written = 0

    def write(self, data: memoryview) -> int:
        view = bytes(data)
        offset = 0
        while offset < len(view):
            if not self.pending:
                self.pending = next(self.pieces)
            n = min(len(self.pending), len(view) - offset)
            assert view[offset : offset + n] == self.pending[:n], f"differs near {self.written}"
            self.pending = self.pending[n:]
            offset += n
            self.written += n
        return len(view)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    from playwright.sync_api import sync_playwright

    build_app()
    directory = tmp_path_factory.mktemp("large")
    with app_site(directory) as site, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=MEASURING)
        try:
            tab = browser.new_page()
            tab.goto(f"{site}/app/")
            tab.wait_for_selector("body[data-ready=true]", timeout=30_000)
            assert tab.evaluate("window.crossOriginIsolated")
            tab.evaluate(PAGE_HELPERS)
            vector = load_vectors("keystore.json")["vectors"][0]
            tab.evaluate(
                WARM_UP,
                {
                    "bundle": vector["public_bundle"],
                    "keystore": vector["keystore"],
                    "password": vector["password"],
                },
            )
            yield tab, directory
        finally:
            browser.close()


def test_the_browser_seals_200_mib_as_a_stream_and_python_opens_it(page: Any) -> None:
    tab, directory = page
    vector = load_vectors("keystore.json")["vectors"][0]
    measuring(tab)
    sealed = tab.evaluate(
        """async ({ size, bundle }) => {
                const fromHex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
                const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
                const result = await window.uhealthsec.cryptoWorker.seal({
                    source: uhsLarge.source(size),
                    sink: uhsLarge.uploader("web.uhse"),
                    recipients: [fromHex(bundle)],
                });
                return { wrapped: hex(result.wrappedKeys[0]), digest: hex(result.contentDigest) };
            }""",
        {"size": SIZE, "bundle": vector["public_bundle"]},
    )
    assert live_memory_growth(tab) < GROWTH_BOUND
    path = directory / "web.uhse"
    assert path.stat().st_size == envelope.envelope_size(SIZE)
    keys = UserKeys.decode(bytes.fromhex(vector["private_keys"]))
    with path.open("rb") as source:
        header = source.read(envelope.HEADER_SIZE)
        document_key = wrap.unwrap_document_key(bytes.fromhex(sealed["wrapped"]), keys, header)
        source.seek(0)
        checker = KeystreamChecker(SIZE)
        summary = envelope.decrypt_stream(document_key, source, checker)
    assert checker.written == SIZE
    assert summary.content_digest.hex() == sealed["digest"]


def test_python_seals_200_mib_and_the_browser_opens_it_as_a_stream(page: Any) -> None:
    tab, directory = page
    vector = load_vectors("keystore.json")["vectors"][0]
    document_key = envelope.generate_document_key()
    path = directory / "python.uhse"
    with path.open("wb") as sink:
        summary = envelope.encrypt_stream(document_key, KeystreamReader(SIZE), sink)
    header = _header(path)
    recipient = PublicKeys.decode(bytes.fromhex(vector["public_bundle"]))
    wrapped = wrap.wrap_document_key(document_key, recipient, header)
    measuring(tab)
    opened = tab.evaluate(
        """async (wrapped) => {
                const fromHex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
                const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
                const checker = uhsLarge.checker();
                const answer = await fetch("/files/python.uhse");
                const result = await window.uhealthsec.cryptoWorker.open({
                    source: answer.body, sink: checker.sink, wrappedKey: fromHex(wrapped),
                });
                return { ...checker.state, digest: hex(result.contentDigest) };
            }""",
        wrapped.hex(),
    )
    assert live_memory_growth(tab) < GROWTH_BOUND
    assert opened["mismatch"] is None
    assert opened["offset"] == SIZE
    assert opened["digest"] == summary.content_digest.hex()


def _header(path: Path) -> bytes:
    with path.open("rb") as source:
        return source.read(envelope.HEADER_SIZE)
