"""Sending and receiving in the web application, against the Python SDK, on one server.

    .venv/bin/python benchmarks/web_exchange.py          # 1 and 100 MiB, 1,000 documents
    .venv/bin/python benchmarks/web_exchange.py --sizes 1 --documents 100 --rounds 3

Builds the application as shipped (``npm run build``) and for tests (``npm run
build:app-tests``, whose crypto worker's client is ``window.uhealthsec.cryptoWorker``),
then starts ``uhs-server serve --init --demo`` (SQLite, embedded defaults) on loopback,
serving the build for tests, and drives Debian's Chromium through Playwright:

- **page weight**: the files the shipped index.html loads before the crypto worker
  (the page, its styles, its scripts and what they import), raw and gzip -9;
- **inbox**: Dr Martin sends Paul Durand --documents small documents with the SDK (in
  threads, timed); then, for each round, a fresh browser context opens /app/, Paul signs
  in through the form (password and TOTP; the keystore unlocked in the worker) and the
  time to the inbox table holding every document is taken. Where the time goes: the
  worker's ``inbox`` operation alone, the server's listing alone (GET /documents
  pages through the SDK's session, then one page of 1, 50 and 200), and Dr Martin's
  ``signIn`` and ``finishSignIn`` through the worker;
- **exchange**: for each size, the browser (Dr Martin's page, ``sendDocument`` from a
  stream generated in the page; Paul's page, ``openDocument`` into a sink that counts)
  against the Python SDK in this process (``ExchangeClient.send`` from a file on
  /dev/shm, ``fetch`` to one): medians of --rounds after a first round that is not
  counted (the browser's checks the bytes received against the keystream).

Prints a Markdown report for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx2
import pyotp
from timing import cpu_name

from tests.serving import serve_process
from tests.web.browser_app import APP_FOR_TESTS, CHROMIUM, PAGE_HELPERS, build_app, keystream
from tests.web.served_app import build_shipped_app
from uhealthsec.client.api import AuthClient, Tokens
from uhealthsec.client.exchange import ExchangeClient
from uhealthsec.crypto.keystore import unlock_with_password
from uhealthsec.server import web_app
from uhealthsec.server.demo import DEMO_PASSWORD

MIB = 1 << 20
DR_MARTIN = "dr.martin@demo.test"
PAUL_DURAND = "kine.durand@demo.test"
PATIENT = "camille.petit@demo.test"
#: Refreshed before the server's access tokens expire (a run takes minutes).
TOKEN_AGE_S = 240

# `uhs-server serve`, serving the build for tests instead of the shipped one.
SERVE_BUILD_FOR_TESTS = (
    "import sys; from pathlib import Path; from uhealthsec.server import web_app; "
    "web_app.WEB_ASSETS = Path(sys.argv.pop(1)); "
    "from uhealthsec.server.cli import main; main()"
)

# send(args): sendDocument from a stream of the keystream, timed in the page.
# open(id, size, check): openDocument into a sink that counts (or checks) the bytes, timed
# until the sink has taken the last one.
# inbox(): the worker's inbox operation alone, timed.
BENCH_JS = """
(() => {
  const worker = window.uhealthsec.cryptoWorker;
  window.uhsBench = {
    send: async (args) => {
      // The readers as the send screen reviews them, before the timing starts.
      const { recipients } = await worker.call("previewRecipients", { emails: args.to });
      const t0 = performance.now();
      const { document } = await worker.call("sendDocument", {
        ...args, readers: recipients, source: uhsLarge.source(args.size),
      });
      return { id: document.id, ms: performance.now() - t0 };
    },
    open: async (id, size, check) => {
      const t0 = performance.now();
      let received = 0, closed;
      const done = new Promise((resolve) => { closed = resolve; });
      const counting = new WritableStream({
        write(chunk) { received += chunk.length; },
        close() { closed(); },
      });
      const checking = check ? uhsLarge.checker() : null;
      await worker.call("openDocument", { id, sink: checking ? checking.sink : counting });
      if (checking) {
        while (checking.state.offset < size) await new Promise((r) => setTimeout(r, 5));
      } else {
        await done;
      }
      return {
        ms: performance.now() - t0,
        received: checking ? checking.state.offset : received,
        mismatch: checking ? checking.state.mismatch : null,
      };
    },
    inbox: async () => {
      const t0 = performance.now();
      const { documents } = await worker.call("inbox", {});
      return { ms: performance.now() - t0, count: documents.length };
    },
  };
})();
"""


class Totp:
    """Codes of time steps each account has not used yet: the server accepts a step
    once, and the one before or after the current one; a later step waits."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.last: dict[str, int] = {}

    def code(self, email: str) -> str:
        now = int(time.time()) // 30
        step = max(now - 1, self.last.get(email, now - 2) + 1)
        while step > int(time.time()) // 30 + 1:
            time.sleep(1)
        self.last[email] = step
        return str(pyotp.TOTP(self.secrets[email]).at(step * 30))


@contextmanager
def demo_server(home: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``uhs-server serve --init --demo`` in ``home``: its address and the demo
    accounts' TOTP secrets, which it prints."""
    command = [sys.executable, "-c", SERVE_BUILD_FOR_TESTS, str(APP_FOR_TESTS)]
    with serve_process(home, "--demo", command=command, timeout=120) as (url, output):
        secrets = dict(re.findall(r"(\S+@demo\.test)\b.*?\b([A-Z2-7]{32})\b", output.read_text()))
        assert set(secrets) == {DR_MARTIN, PAUL_DURAND, PATIENT}, output.read_text()
        yield url, secrets


class SdkDevice:
    """A demo account signed in with the Python SDK, its access token refreshed as it ages."""

    def __init__(self, url: str, email: str, totp: Totp) -> None:
        self.http = httpx2.Client(base_url=url, timeout=600)
        self.auth = AuthClient(self.http)
        login = self.auth.start_login(email, DEMO_PASSWORD, {"totp_code": totp.code(email)})
        self.tokens = self.auth.authorize(login, "benchmark")
        self.issued = time.monotonic()
        self.lock = threading.Lock()
        keys = unlock_with_password(self.auth.keystore(self.tokens), DEMO_PASSWORD)
        self.client = ExchangeClient(self.http, self._access_token, keys)

    def _access_token(self) -> str:
        with self.lock:
            if time.monotonic() - self.issued > TOKEN_AGE_S:
                self.tokens = self.auth.refresh(self.tokens)
                self.issued = time.monotonic()
            tokens: Tokens = self.tokens
            return tokens.access_token


def page_weight() -> list[tuple[str, int, int]]:
    """The shipped build's files a first visit loads before the crypto worker: index.html,
    what it names (scripts, styles, icon, manifest) and the modules those scripts import;
    not the worker's chunk (started by ``new Worker``) nor WebAssembly."""
    root = web_app.WEB_ASSETS
    html = (root / "index.html").read_text()
    named = re.findall(r'<(?:script|link)\b[^>]*\s(?:src|href)="/app/([^"]+)"', html)
    files, todo = ["index.html"], list(named)
    while todo:
        name = todo.pop(0)
        if name in files:
            continue
        files.append(name)
        if name.endswith(".js"):
            text = (root / name).read_text()
            # Static imports only: `import"./x.js"`, `from"./x.js"` (Vite's output).
            for found in re.findall(r'(?:from|import)\s*"\./([^"]+\.js)"', text):
                todo.append(str(Path(name).parent / found))
    rows = []
    for name in files:
        data = (root / name).read_bytes()
        rows.append((name, len(data), len(gzip.compress(data, compresslevel=9))))
    return rows


def fetched_on_first_visit(browser: Any, url: str) -> list[tuple[str, str, int]]:
    """What Chromium fetches opening /app/ in a fresh context until the application is
    ready (the build served: the one for tests): path, kind and body bytes."""
    context = browser.new_context()
    page = context.new_page()
    seen: list[Any] = []
    page.on("response", lambda response: seen.append(response))
    page.goto(f"{url}/app/")
    page.wait_for_selector("body[data-ready='true']", timeout=60_000)
    page.wait_for_timeout(1000)
    fetched = []
    for response in seen:
        try:
            size = len(response.body())
        except Exception:  # a redirect or a response the browser did not keep
            size = -1
        path = response.url.removeprefix(url)
        fetched.append((path, response.request.resource_type, size))
    context.close()
    return fetched


def make_documents(martin: SdkDevice, file_id: str, count: int, work: Path) -> float:
    note = work / "note.txt"
    note.write_text("Compte rendu de séance.\n" * 20, encoding="utf-8")

    def send(index: int) -> None:
        martin.client.send(
            note, patient_file_id=file_id, to=[PAUL_DURAND], title=f"Compte rendu {index:04d}"
        )

    begin = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, range(count)))
    return time.perf_counter() - begin


def signed_in_page(
    browser: Any, url: str, email: str, totp: Totp, expected: int
) -> tuple[Any, dict[str, float]]:
    """A fresh context: open /app/, sign in through the form, wait for the inbox table
    with ``expected`` rows. The times are seconds from the start of page.goto."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="fr-FR")
    page = context.new_page()
    begin = time.perf_counter()
    page.goto(f"{url}/app/")
    page.wait_for_selector("body[data-ready='true']", timeout=60_000)
    ready = time.perf_counter() - begin
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    code = page.get_by_label("Code à 6 chiffres de votre application d'authentification")
    code.wait_for(timeout=120_000)
    asked = time.perf_counter() - begin
    before_code = time.perf_counter()
    code.fill(totp.code(email))
    waited = time.perf_counter() - before_code  # a fresh TOTP step may have to come
    page.get_by_role("button", name="Valider").click()
    page.wait_for_function(
        "(n) => document.querySelectorAll('table.documents tbody tr').length === n",
        arg=expected,
        timeout=600_000,
        polling=50,
    )
    shown = time.perf_counter() - begin - waited
    page.evaluate(PAGE_HELPERS)
    page.evaluate(BENCH_JS)
    return page, {"ready": ready, "asked": asked, "shown": shown}


def machine() -> str:
    cpu = cpu_name()
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{chromium.strip()}, {platform.system()} {platform.release()}"
    )


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[1, 100], help="MiB")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per size")
    parser.add_argument("--large-rounds", type=int, default=3, help="for 100 MiB and more")
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--inbox-rounds", type=int, default=3)
    parser.add_argument("--no-build", action="store_true", help="use the builds already made")
    args = parser.parse_args()

    if not args.no_build:
        build_shipped_app()
        build_app()
    print(f"{date.today().isoformat()}, machine: {machine()}")
    print(f"load before: {uptime()}")
    print()
    rows = page_weight()
    print("First page load, the shipped build (`npm run build`), before the crypto worker:")
    print()
    print("| file | bytes | gzip -9 bytes |")
    print("|---|---:|---:|")
    for name, raw, packed in rows:
        print(f"| {name} | {raw:,} | {packed:,} |")
    page = [row for row in rows if row[0] == "index.html" or row[0].endswith((".css", ".js"))]
    print(
        f"| **index.html + CSS + JS** | **{sum(r[1] for r in page):,}** "
        f"| **{sum(r[2] for r in page):,}** |"
    )
    print(f"| everything named | {sum(r[1] for r in rows):,} | {sum(r[2] for r in rows):,} |")
    worker = sorted((web_app.WEB_ASSETS / "assets").glob("worker-*.js"))
    for path in worker:
        data = path.read_bytes()
        print(
            f"\n(not counted: the crypto worker's chunk {path.name}, {len(data):,} bytes, "
            f"{len(gzip.compress(data, compresslevel=9)):,} gzip -9)"
        )
    print()
    sys.stdout.flush()

    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="uhs-web-exchange-"))
    files = Path(tempfile.mkdtemp(prefix="uhs-web-exchange-files-", dir="/dev/shm"))
    try:
        with demo_server(work) as (url, secrets), sync_playwright() as playwright:
            totp = Totp(secrets)
            martin = SdkDevice(url, DR_MARTIN, totp)
            paul = SdkDevice(url, PAUL_DURAND, totp)
            practice = martin.client.call("GET", "/practices").json()[0]["id"]
            file_id = martin.client.patient_file(practice, PATIENT)["id"]
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                run(args, browser, url, totp, martin, paul, file_id, files)
            finally:
                browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(files, ignore_errors=True)
    print()
    print(f"load after: {uptime()}")


def run(
    args: argparse.Namespace,
    browser: Any,
    url: str,
    totp: Totp,
    martin: SdkDevice,
    paul: SdkDevice,
    file_id: str,
    files: Path,
) -> None:
    print("What Chromium fetched on a first visit (the build for tests, as served):")
    print()
    for path, kind, size in fetched_on_first_visit(browser, url):
        print(f"- {path} ({kind}): {size:,} bytes")
    print()
    setup_s = make_documents(martin, file_id, args.documents, files)
    print(
        f"Setup: {args.documents} documents sent by Dr Martin to Paul Durand with the "
        f"Python SDK, 4 threads: {setup_s:.1f} s ({args.documents / setup_s:.1f} documents/s)"
    )
    print()
    timings = []
    page = None
    for _ in range(args.inbox_rounds):
        if page is not None:
            page.context.close()
        page, times = signed_in_page(browser, url, PAUL_DURAND, totp, args.documents)
        timings.append(times)
    assert page is not None
    worker_ms = [page.evaluate("uhsBench.inbox()")["ms"] for _ in range(args.inbox_rounds)]

    def server_listing() -> None:
        for offset in range(0, args.documents + 200, 200):
            listed = paul.client.call("GET", "/documents", params={"limit": 200, "offset": offset})
            listed.raise_for_status()
            if len(listed.json()) < 200:
                return

    listing = []
    for _ in range(args.inbox_rounds):
        begin = time.perf_counter()
        server_listing()
        listing.append(time.perf_counter() - begin)
    # The server's listing by page size: its cost per document listed.
    per_page = {}
    for limit in (1, 50, 200):
        samples = []
        for _ in range(args.inbox_rounds):
            begin = time.perf_counter()
            paul.client.call("GET", "/documents", params={"limit": limit}).raise_for_status()
            samples.append(time.perf_counter() - begin)
        per_page[limit] = statistics.median(samples)
    print(
        f"Paul Durand's inbox, {args.documents} documents, medians of {args.inbox_rounds} "
        "fresh browser contexts (sign-in through the form included):"
    )
    print()
    print("| step | s |")
    print("|---|---:|")
    ready = statistics.median([t["ready"] for t in timings])
    asked = statistics.median([t["asked"] for t in timings])
    shown = statistics.median([t["shown"] for t in timings])
    print(f"| page.goto to the application ready (worker started) | {ready:.2f} |")
    print(f"| ... to the second factor asked (password, proof of work) | {asked:.2f} |")
    print(f"| ... to the table with {args.documents} rows (TOTP, unlock, inbox) | {shown:.2f} |")
    print(f"| the worker's `inbox` alone, signed in | {statistics.median(worker_ms) / 1000:.2f} |")
    listed = statistics.median(listing)
    print(f"| the server's listing alone (GET /documents pages, SDK) | {listed:.2f} |")
    for limit, seconds in per_page.items():
        print(f"| the server's listing alone, one page of {limit} | {seconds:.3f} |")
    print()
    sys.stdout.flush()

    # The exchange: Paul's page is the last one signed in; Dr Martin's is signed in
    # through the worker's operations.
    martin_page = browser.new_context().new_page()
    martin_page.goto(f"{url}/app/")
    martin_page.wait_for_selector("body[data-ready='true']", timeout=60_000)
    martin_page.evaluate(PAGE_HELPERS)
    martin_page.evaluate(BENCH_JS)
    sign_in_ms = martin_page.evaluate(
        """async ({ email, password }) => {
          const t0 = performance.now();
          await window.uhealthsec.cryptoWorker.call("signIn", { email, password });
          return performance.now() - t0;
        }""",
        {"email": DR_MARTIN, "password": DEMO_PASSWORD},
    )
    finish_ms = martin_page.evaluate(
        """async (totp) => {
          const t0 = performance.now();
          await window.uhealthsec.cryptoWorker.call("finishSignIn", { totp });
          return performance.now() - t0;
        }""",
        totp.code(DR_MARTIN),
    )
    print(
        f"Dr Martin's sign-in through the worker alone: signIn {sign_in_ms / 1000:.2f} s "
        f"(prelogin, auth secret, proof of work, password), finishSignIn "
        f"{finish_ms / 1000:.2f} s (TOTP, tokens, keystore unlocked, account proven)"
    )
    print()
    print(
        f"Exchange, Dr Martin to Paul Durand: medians of {args.rounds} ({args.large_rounds} "
        "from 100 MiB) after one round not counted; MiB/s = size / time:"
    )
    print()
    print(
        "| size | browser send s | SDK send s | browser receive s | SDK receive s "
        "| send MiB/s browser / SDK | receive MiB/s browser / SDK "
        "| browser/SDK send, receive |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mib in args.sizes:
        rounds = args.large_rounds if mib >= 100 else args.rounds
        exchange_size(mib, rounds, martin_page, page, martin, paul, file_id, files)


def exchange_size(
    mib: int,
    rounds: int,
    martin_page: Any,
    paul_page: Any,
    martin: SdkDevice,
    paul: SdkDevice,
    file_id: str,
    files: Path,
) -> None:
    size = mib * MIB
    source = files / f"keystream-{mib}.bin"
    with source.open("wb") as sink:
        for piece in keystream(size):
            sink.write(piece)
    send_args = {
        "patientFileId": file_id,
        "to": [PAUL_DURAND],
        "title": f"Banc d'essai {mib} Mio",
        "filename": f"essai-{mib}.bin",
        "mediaType": "application/octet-stream",
        "size": size,
    }
    browser_send, browser_receive, sdk_send, sdk_receive = [], [], [], []
    for round_ in range(rounds + 1):
        sent = martin_page.evaluate("(a) => uhsBench.send(a)", send_args)
        opened = paul_page.evaluate(
            "([id, size, check]) => uhsBench.open(id, size, check)", [sent["id"], size, round_ == 0]
        )
        assert opened["received"] == size and opened["mismatch"] is None, opened
        begin = time.perf_counter()
        document = martin.client.send(source, patient_file_id=file_id, to=[PAUL_DURAND])
        sent_s = time.perf_counter() - begin
        received = files / "received.bin"
        begin = time.perf_counter()
        paul.client.fetch(document, received, replace=True)
        received_s = time.perf_counter() - begin
        if round_ == 0:
            assert received.stat().st_size == size
            continue
        browser_send.append(sent["ms"] / 1000)
        browser_receive.append(opened["ms"] / 1000)
        sdk_send.append(sent_s)
        sdk_receive.append(received_s)
    bs, ss = statistics.median(browser_send), statistics.median(sdk_send)
    br, sr = statistics.median(browser_receive), statistics.median(sdk_receive)
    print(
        f"| {mib} MiB | {bs:.3f} | {ss:.3f} | {br:.3f} | {sr:.3f} "
        f"| {mib / bs:.1f} / {mib / ss:.1f} | {mib / br:.1f} / {mib / sr:.1f} "
        f"| {ss / bs:.2f}, {sr / br:.2f} |"
    )
    sys.stdout.flush()
    source.unlink()


if __name__ == "__main__":
    main()
