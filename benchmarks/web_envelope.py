"""The web client's envelope in headless Chromium, against raw WebCrypto and Python.

    .venv/bin/python benchmarks/web_envelope.py               # 1 MiB, 100 MiB, 1 GiB
    .venv/bin/python benchmarks/web_envelope.py --sizes 1 100

Builds the web application for tests (``npm run build:app-tests --prefix web``), serves
it from loopback (tests/web/browser_app.py) and drives Debian's Chromium through
Playwright. For each size, on the same deterministic bytes (an AES-CTR keystream, 1 MiB pieces):

- **seal**: the crypto worker seals a generated stream into a sink that drops it;
  **raw AES-GCM seal**: the page encrypts the same pieces with WebCrypto AES-256-GCM
  and a counter nonce, nothing else (the limit);
- **open**: the worker opens an envelope fetched from the site as a stream;
  **raw AES-GCM open**: the page decrypts the same number of fetched 1 MiB + 16
  pieces (sealed raw by Python);
- **Python**: ``uhealthsec.crypto.envelope`` seals then opens the same bytes in
  memory-to-null streams, in this process;
- the renderer's peak resident memory (page and worker) during the seal runs and the
  open runs (each size's runs of the envelope and of its limit take turns);
- the raw seal's stages alone: the page's source drained, and AES-GCM on one piece.

Then the keystore unlock at the default Argon2id parameters and the hybrid (X-Wing)
wrap per recipient, by difference between a seal to 1 and to 51 recipients. Medians
of --runs (1 for 1 GiB). Prints a Markdown report for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from timing import cpu_name

from tests.web.browser_app import (
    CHROMIUM,
    PAGE_HELPERS,
    RendererMemory,
    app_site,
    build_app,
    keystream,
)
from uhealthsec.crypto import envelope, wrap
from uhealthsec.crypto.keys import UserKeys
from uhealthsec.crypto.keystore import create_keystore

MIB = 1 << 20
PASSWORD = "benchmark password, not a secret"

BENCH_JS = """
(() => {
  const fromHex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
  const drop = () => new WritableStream();
  const time = async (work) => {
    const t0 = performance.now();
    await work();
    return performance.now() - t0;
  };
  const rawKey = crypto.subtle.importKey(
    "raw", new Uint8Array(32).fill(7), "AES-GCM", false, ["encrypt", "decrypt"]
  );
  const nonce = (i) => {
    const n = new Uint8Array(12);
    new DataView(n.buffer).setUint32(8, i);
    return n;
  };
  // Pieces of exactly `size` bytes (the last shorter) from a byte stream.
  async function* pieces(stream, size) {
    const reader = stream.getReader();
    let held = new Uint8Array(0);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const joined = new Uint8Array(held.length + value.length);
      joined.set(held); joined.set(value, held.length);
      let offset = 0;
      for (; joined.length - offset >= size; offset += size) {
        yield joined.subarray(offset, offset + size);
      }
      held = joined.slice(offset);
    }
    if (held.length) yield held;
  }
  const w = () => window.uhealthsec.cryptoWorker;
  window.bench = {
    unlock: (keystore, password) => time(() => w().unlockWithPassword(fromHex(keystore), password)),
    seal: (size, bundle, copies = 1) => time(() => w().seal({
      source: uhsLarge.source(size),
      sink: drop(),
      recipients: Array.from({ length: copies }, () => fromHex(bundle)),
    })),
    open: (name, wrapped) => time(async () => w().open({
      source: (await fetch(`/files/${name}`)).body, sink: drop(), wrappedKey: fromHex(wrapped),
    })),
    rawSeal: (size) => time(async () => {
      const key = await rawKey;
      const reader = uhsLarge.source(size).getReader();
      for (let i = 0; ; i++) {
        const { value, done } = await reader.read();
        if (done) break;
        await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce(i) }, key, value);
      }
    }),
    rawOpen: (name) => time(async () => {
      const key = await rawKey;
      let i = 0;
      for await (const piece of pieces((await fetch(`/files/${name}`)).body, (1 << 20) + 16)) {
        await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce(i++) }, key, piece);
      }
    }),
    // rawSeal's two stages alone: the page's source drained, and the cipher on one piece.
    source: (size) => time(async () => {
      const reader = uhsLarge.source(size).getReader();
      while (!(await reader.read()).done);
    }),
    cipher: (size) => time(async () => {
      const key = await rawKey;
      const piece = await uhsLarge.gen(0, 1 << 20);
      for (let i = 0; i < size >> 20; i++) {
        await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce(i) }, key, piece);
      }
    }),
  };
})();
"""


class NullSink:
    def write(self, data: memoryview) -> int:
        return len(data)


class KeystreamSource:
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


def _machine() -> str:
    cpu = cpu_name()
    system = f"Linux {platform.release()}, Python {platform.python_version()}"
    return f"{cpu}, {os.cpu_count()} CPUs, {system}"


def _size_name(size: int) -> str:
    return f"{size >> 30} GiB" if size >= 1 << 30 else f"{size >> 20} MiB"


COLUMNS = [
    "size",
    "seal",
    "raw AES-GCM seal",
    "seal / raw",
    "open",
    "raw AES-GCM open",
    "open / raw",
    "Python seal",
    "Python open",
    "renderer peak RSS (seal, open)",
]


def _rate(size: int, seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms ({size / MIB / seconds:.0f} MiB/s)"


def _prepare(directory: Path, size: int, keys: UserKeys) -> tuple[str, str, float, float]:
    """The envelope and raw files for `size`; Python's own seal and open times (s)."""
    document_key = envelope.generate_document_key()
    path = directory / f"envelope-{size}"
    started = time.perf_counter()
    with path.open("wb") as sink:
        envelope.encrypt_stream(document_key, KeystreamSource(size), sink)
    python_seal = time.perf_counter() - started
    with path.open("rb") as source:
        header = source.read(envelope.HEADER_SIZE)
        source.seek(0)
        started = time.perf_counter()
        envelope.decrypt_stream(document_key, source, NullSink())
        python_open = time.perf_counter() - started
    wrapped = wrap.wrap_document_key(document_key, keys.public(), header)
    raw = AESGCM(bytes(32 * [7]))
    with (directory / f"raw-{size}").open("wb") as sink:
        for i, piece in enumerate(keystream(size)):
            sink.write(raw.encrypt(b"\0" * 8 + i.to_bytes(4, "big"), piece, None))
    return path.name, wrapped.hex(), python_seal, python_open


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 1024], help="MiB")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    build_app()
    load_before = os.getloadavg()[0]
    made = create_keystore(PASSWORD)
    keys, bundle = made.keys, made.keys.public().encode().hex()
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as temporary, app_site(Path(temporary)) as site:
        directory = Path(temporary)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            page = browser.new_page()
            page.goto(f"{site}/app/")
            page.wait_for_selector("body[data-ready=true]", timeout=30_000)
            page.evaluate(PAGE_HELPERS)
            page.evaluate(BENCH_JS)

            def median(expression: str, arg: Any, runs: int) -> float:
                return statistics.median(page.evaluate(expression, arg) / 1000 for _ in range(runs))

            def medians(measures: list[tuple[str, Any]], runs: int) -> list[float]:
                """Each measure's median, their runs taking turns: a load that comes and
                goes on a shared machine weighs on the envelope and its limit alike."""
                times: list[list[float]] = [[] for _ in measures]
                for _ in range(runs):
                    for taken, (expression, arg) in zip(times, measures, strict=True):
                        taken.append(page.evaluate(expression, arg) / 1000)
                return [statistics.median(taken) for taken in times]

            unlock = median(
                "([k, p]) => bench.unlock(k, p)", [made.keystore.encode().hex(), PASSWORD], 3
            )
            one = median("b => bench.seal(1024, b, 1)", bundle, 7)
            many = median("b => bench.seal(1024, b, 51)", bundle, 7)
            wrap_each = (many - one) / 50
            stages = [
                "| size | page source alone | AES-GCM alone | raw AES-GCM seal |",
                "|---|---|---|---|",
            ]
            rows.append("| " + " | ".join(COLUMNS) + " |")
            rows.append("|" + "---|" * len(COLUMNS))
            for mib in args.sizes:
                size = mib * MIB
                runs = 1 if size >= 1 << 30 else args.runs
                name, wrapped, python_seal, python_open = _prepare(directory, size, keys)
                with RendererMemory() as sealing:
                    raw_seal, seal, source, cipher = medians(
                        [
                            ("s => bench.rawSeal(s)", size),
                            ("([s, b]) => bench.seal(s, b)", [size, bundle]),
                            ("s => bench.source(s)", size),
                            ("s => bench.cipher(s)", size),
                        ],
                        runs,
                    )
                with RendererMemory() as opening:
                    raw_open, opened = medians(
                        [
                            ("n => bench.rawOpen(n)", f"raw-{size}"),
                            ("([n, w]) => bench.open(n, w)", [name, wrapped]),
                        ],
                        runs,
                    )
                stages.append(
                    f"| {_size_name(size)} | {_rate(size, source)} | {_rate(size, cipher)}"
                    f" | {_rate(size, raw_seal)} |"
                )
                cells = [
                    _size_name(size),
                    _rate(size, seal),
                    _rate(size, raw_seal),
                    f"{raw_seal / seal:.2f}x",
                    _rate(size, opened),
                    _rate(size, raw_open),
                    f"{raw_open / opened:.2f}x",
                    _rate(size, python_seal),
                    _rate(size, python_open),
                    f"{sealing.peak >> 20} MiB, {opening.peak >> 20} MiB",
                ]
                rows.append("| " + " | ".join(cells) + " |")
                for leftover in directory.iterdir():
                    if leftover.name.endswith(str(size)):
                        leftover.unlink()
            browser.close()
    load = f"1-minute load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    print(f"Machine: {_machine()}; Chromium 156 headless; {date.today().isoformat()}; {load}.\n")
    print(
        f"`.venv/bin/python benchmarks/web_envelope.py --sizes {' '.join(map(str, args.sizes))}`\n"
    )
    print("\n".join(rows))
    print("\n" + "\n".join(stages))
    print(f"\nKeystore unlock, Argon2id m=64 MiB t=3 p=1, median of 3: {unlock * 1000:.0f} ms")
    print(
        "Hybrid (X-Wing) wrap per recipient, (seal to 51 - seal to 1) / 50, medians of 7:"
        f" {wrap_each * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
