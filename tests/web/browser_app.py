"""The built web application in headless Chromium, for tests and benchmarks that move
more data than a page should hold: a loopback site that serves the app's files under
their policy, takes uploads piece by piece into a file and serves a file as a stream,
and a sampler of the renderer's resident memory (the page and its workers).

The app served is the build for tests (``npm run build:app-tests``, into web/build/app):
the shipped one, identical but for that, does not put its crypto worker's client on
``window``, where these pages drive it as ``window.uhealthsec.cryptoWorker``.
"""

from __future__ import annotations

import http.server
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.web.builds import BUILDS, ensure_web_build
from uhealthsec.server.headers import APP_POLICY

#: Where ``npm run build:app-tests`` puts the app with its worker's client on ``window``.
APP_FOR_TESTS = BUILDS["app"].directory
CHROMIUM = "/usr/bin/chromium"
#: Chromium's options for a page that measures its own memory (see PAGE_HELPERS).
MEASURING = ["--enable-blink-features=ForceEagerMeasureMemory"]
PIECE = 1 << 20

# Deterministic bytes on both sides, fast: the AES-256-CTR keystream of a fixed key
# from a zero counter block (Python: cryptography; the page: WebCrypto), so that no
# large fixture is stored and either side can check what the other wrote.
STREAM_KEY = bytes(range(32))

# gen(offset, length): those bytes of the keystream (offset a multiple of 16).
# source(size): a ReadableStream of the first `size` bytes, 1 MiB at a time.
# uploader(name): a WritableStream that POSTs each piece it is given to the site.
# checker(size): a WritableStream that compares what it is given with the keystream.
PAGE_HELPERS = """
(() => {
  const keyPromise = crypto.subtle.importKey(
    "raw", Uint8Array.from({ length: 32 }, (_, i) => i), "AES-CTR", false, ["encrypt"]
  );
  const gen = async (offset, length) => {
    const counter = new Uint8Array(16);
    new DataView(counter.buffer).setBigUint64(8, BigInt(offset / 16));
    const out = await crypto.subtle.encrypt(
      { name: "AES-CTR", counter, length: 64 }, await keyPromise, new Uint8Array(length)
    );
    return new Uint8Array(out);
  };
  const PIECE = 1 << 20;
  // The live memory of the page and its worker, after a collection, each time a sink
  // passes one of the offsets of window.uhsMeasureAt (Chromium is started with
  // ForceEagerMeasureMemory, so that the measure does not wait for a collection).
  window.uhsMeasured = [];
  const measure = async (before, after) => {
    for (const mark of window.uhsMeasureAt ?? []) {
      if (before < mark && after >= mark) {
        const { bytes } = await performance.measureUserAgentSpecificMemory();
        window.uhsMeasured.push({ at: mark, bytes });
      }
    }
  };
  window.uhsLarge = {
    gen,
    source: (size) => {
      let offset = 0;
      return new ReadableStream({
        async pull(controller) {
          if (offset >= size) return controller.close();
          const length = Math.min(PIECE, size - offset);
          controller.enqueue(await gen(offset, length));
          offset += length;
        },
      }, { highWaterMark: 1 });
    },
    uploader: (name) => {
      let offset = 0;
      return new WritableStream({
        async write(chunk) {
          // A Blob body: Chromium uploads it several times faster than a Uint8Array one.
          const answer = await fetch(`/upload?name=${name}&offset=${offset}`, {
            method: "POST", body: new Blob([chunk]),
          });
          if (!answer.ok) throw new Error(`upload refused: ${answer.status}`);
          await measure(offset, offset + chunk.length);
          offset += chunk.length;
        },
      });
    },
    checker: () => {
      const state = { offset: 0, mismatch: null };
      const sink = new WritableStream({
        async write(chunk) {
          const expected = await gen(state.offset, chunk.length);
          for (let i = 0; i < chunk.length; i++) {
            if (chunk[i] !== expected[i]) { state.mismatch ??= state.offset + i; break; }
          }
          await measure(state.offset, state.offset + chunk.length);
          state.offset += chunk.length;
        },
      });
      return { sink, state };
    },
  };
})();
"""


def keystream(size: int) -> Iterator[bytes]:
    """The bytes PAGE_HELPERS' gen gives, 1 MiB at a time."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.AES(STREAM_KEY), modes.CTR(bytes(16))).encryptor()
    zeros = bytes(PIECE)
    for offset in range(0, size, PIECE):
        yield encryptor.update(zeros[: min(PIECE, size - offset)])


def build_app() -> None:
    """Builds the app for tests into APP_FOR_TESTS, unless it is up to date."""
    ensure_web_build("app")


class _Site(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Small answers to many uploads: no waiting on delayed acknowledgements.
    disable_nagle_algorithm = True
    directory: Path

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/files/"):
            self._send_file(self.directory / Path(url.path).name, "application/octet-stream")
            return
        relative = url.path.removeprefix("/app/") or "index.html"
        path = (APP_FOR_TESTS / relative).resolve()
        if not url.path.startswith("/app/") or APP_FOR_TESTS.resolve() not in path.parents:
            self.send_error(404)
            return
        kinds = {".html": "text/html", ".js": "text/javascript", ".svg": "image/svg+xml"}
        self._send_file(path, kinds.get(path.suffix, "application/octet-stream"))

    def do_POST(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        target = self.directory / Path(query["name"][0]).name
        length = int(self.headers["content-length"])
        body = self.rfile.read(length)
        with target.open("ab" if int(query["offset"][0]) else "wb") as sink:
            assert sink.tell() == int(query["offset"][0])
            sink.write(body)
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def _send_file(self, path: Path, kind: str) -> None:
        if not path.is_file():
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(path.stat().st_size))
        self.send_header("content-security-policy", APP_POLICY)
        # Cross-origin isolated, so that the page may measure its own memory and its
        # worker's (performance.measureUserAgentSpecificMemory).
        self.send_header("cross-origin-opener-policy", "same-origin")
        self.send_header("cross-origin-embedder-policy", "require-corp")
        self.end_headers()
        with path.open("rb") as source:
            shutil.copyfileobj(source, self.wfile, PIECE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def app_site(directory: Path) -> Iterator[str]:
    """The app at /app/, files of `directory` at /files/<name>, uploads into it."""
    handler = type("Site", (_Site,), {"directory": directory})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _renderer_rss() -> int:
    """The resident memory of this process's Chromium renderers, in bytes."""
    total = 0
    for pid in _descendants(os.getpid()):
        try:
            if b"--type=renderer" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


class RendererMemory:
    """Samples the renderers' resident memory every 20 ms; `peak` is the highest seen."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _renderer_rss())
            time.sleep(0.02)

    def __enter__(self) -> RendererMemory:
        self.peak = _renderer_rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
