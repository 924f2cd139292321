"""What solving the shield's proof of work costs a browser and native code: ALTCHA v1
(SHA-256, the former challenges) against v2 (Argon2id, 8 MiB), at each cost level.

    (cd benchmarks/proof_of_work_browser && npm ci)
    PYTHONPATH=src .venv/bin/python benchmarks/proof_of_work.py [--rounds 5]

The same challenges, issued as the server issues them (a secret number in [0, cost]
for v1, a secret counter in [cost / 2, cost] for v2), are solved by:

- the Python client's solver: ``altcha.solve_challenge_v1`` (the former client) for
  v1, ``uhealthsec.client.proof_of_work.solve`` for v2;
- a tight native loop: hashlib SHA-256 over a copied prefix state for v1, argon2-cffi's
  ``hash_secret_raw`` for v2 (what an attacker without a GPU runs);
- Debian's Chromium, headless, driven by Playwright, on a page served from
  http://127.0.0.1 (WebCrypto needs a secure context): WebCrypto SHA-256 awaited
  number after number for v1 (as the ALTCHA widget does), hash-wasm's Argon2id (npm,
  pinned in benchmarks/proof_of_work_browser/package-lock.json) for v2.

Prints the median solving time per level and solver, the time per try, and the
browser/native ratio: how far ahead of a person's browser an attacker's native code
starts. Needs ``apt-get install chromium`` and ``pip install -e '.[dev]'``
(playwright). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import os
import platform
import secrets
import statistics
import struct
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import altcha
from argon2.low_level import Type, hash_secret_raw

from uhealthsec.client.proof_of_work import solve
from uhealthsec.server.shield import challenges
from uhealthsec.server.shield.challenges import ChallengeBook
from uhealthsec.server.shield.service import COSTS

HERE = Path(__file__).resolve().parent
HASH_WASM = HERE / "proof_of_work_browser" / "node_modules" / "hash-wasm" / "dist"
CHROMIUM = "/usr/bin/chromium"
#: The former v1 costs (largest secret number) of levels 1, 2 and 3.
V1_COSTS = (20_000, 1_000_000, 4_000_000)
V2_COSTS = COSTS[1:]
KEY = secrets.token_bytes(32)
SUBJECT = "5" * 32

PAGE = """<!doctype html>
<meta charset="utf-8">
<script src="/hash-wasm/argon2.umd.min.js"></script>
<script>
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text) => Uint8Array.from(text.match(/../g) || [], (h) => parseInt(h, 16));

// ALTCHA v1 as the widget solves it: one awaited WebCrypto digest per number.
async function solveV1(challenge) {
  const encoder = new TextEncoder();
  const started = performance.now();
  for (let n = 0; n <= challenge.maxnumber; n++) {
    const digest = await crypto.subtle.digest("SHA-256", encoder.encode(challenge.salt + n));
    if (hex(new Uint8Array(digest)) === challenge.challenge) {
      return {number: n, ms: performance.now() - started};
    }
  }
  return null;
}

// ALTCHA v2, Argon2id: nonce || uint32_be(counter) as the password.
async function solveV2(challenge) {
  const p = challenge.parameters;
  const nonce = unhex(p.nonce), salt = unhex(p.salt);
  const password = new Uint8Array(nonce.length + 4);
  password.set(nonce);
  const view = new DataView(password.buffer);
  const started = performance.now();
  for (let counter = 0; counter < 2 ** 16; counter++) {
    view.setUint32(nonce.length, counter);
    const key = await hashwasm.argon2id({
      password, salt, iterations: p.cost, memorySize: p.memoryCost,
      parallelism: p.parallelism, hashLength: p.keyLength, outputType: "hex",
    });
    if (key.startsWith(p.keyPrefix)) {
      return {counter, derivedKey: key, ms: performance.now() - started};
    }
  }
  return null;
}
</script>
"""


class Site(http.server.SimpleHTTPRequestHandler):
    """The page and hash-wasm's dist files, from 127.0.0.1 only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(HASH_WASM), **kwargs)

    def do_GET(self) -> None:
        if self.path == "/":
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if not self.path.startswith("/hash-wasm/"):
            self.send_error(404)
            return
        self.path = self.path.removeprefix("/hash-wasm")
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


# -- challenges -------------------------------------------------------------------------


def v1_challenge(cost: int) -> dict[str, Any]:
    issued = altcha.create_challenge_v1(
        algorithm="SHA-256", max_number=cost, hmac_key=KEY, params={"cost": str(cost)}
    )
    return {
        "algorithm": "SHA-256",
        "challenge": issued.challenge,
        "maxnumber": cost,
        "salt": issued.salt,
        "signature": issued.signature,
    }


def v2_challenge(cost: int) -> dict[str, Any]:
    return ChallengeBook(KEY).issue("login", SUBJECT, cost, datetime.now(UTC))


# -- native solvers (each returns the number of tries) ----------------------------------


def v1_client(challenge: dict[str, Any]) -> int:
    found = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], "SHA-256", challenge["maxnumber"]
    )
    assert found is not None
    return found.number + 1


def v1_tight(challenge: dict[str, Any]) -> int:
    prefix = hashlib.sha256(challenge["salt"].encode())
    target = bytes.fromhex(challenge["challenge"])
    for number in range(challenge["maxnumber"] + 1):
        attempt = prefix.copy()
        attempt.update(str(number).encode())
        if attempt.digest() == target:
            return number + 1
    raise AssertionError("no solution")


def v2_client(challenge: dict[str, Any]) -> int:
    import base64
    import json

    return json.loads(base64.b64decode(solve(challenge)))["solution"]["counter"] + 1


def v2_tight(challenge: dict[str, Any]) -> int:
    p = challenge["parameters"]
    nonce, salt, prefix = (bytes.fromhex(p[k]) for k in ("nonce", "salt", "keyPrefix"))
    for counter in range(2**16):
        key = hash_secret_raw(
            nonce + struct.pack(">I", counter),
            salt,
            time_cost=p["cost"],
            memory_cost=p["memoryCost"],
            parallelism=p["parallelism"],
            hash_len=p["keyLength"],
            type=Type.ID,
        )
        if key.startswith(prefix):
            return counter + 1
    raise AssertionError("no solution")


def timed(solver: Any, challenge: dict[str, Any]) -> tuple[float, int]:
    began = time.perf_counter()
    tries = solver(challenge)
    return time.perf_counter() - began, tries


# -- the run ----------------------------------------------------------------------------


def run(rounds: int) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{server.server_port}/")
        assert page.evaluate("typeof hashwasm.argon2id") == "function"
        assert page.evaluate("window.isSecureContext")
        for version, costs, make, native in (
            ("v1", V1_COSTS, v1_challenge, {"client": v1_client, "tight": v1_tight}),
            ("v2", V2_COSTS, v2_challenge, {"client": v2_client, "tight": v2_tight}),
        ):
            for level, cost in enumerate(costs, start=1):
                issued = [make(cost) for _ in range(rounds)]
                samples: dict[str, list[tuple[float, int]]] = {
                    "client": [],
                    "tight": [],
                    "browser": [],
                }
                for challenge in issued:
                    for name, solver in native.items():
                        samples[name].append(timed(solver, challenge))
                    found = page.evaluate(f"solve{version.upper()}", challenge)
                    tries = found["number"] + 1 if version == "v1" else found["counter"] + 1
                    assert tries == samples["tight"][-1][1], (found, samples["tight"][-1])
                    samples["browser"].append((found["ms"] / 1000, tries))
                row = {"version": version, "level": level, "cost": cost}
                for name, values in samples.items():
                    row[name] = statistics.median(seconds for seconds, _ in values)
                    # Time per try over all rounds: the rate, whatever the numbers drawn.
                    row[name + "_per_try"] = sum(s for s, _ in values) / sum(n for _, n in values)
                rows.append(row)
                print(
                    f"{version} level {level} (cost {cost:,}): "
                    + ", ".join(
                        f"{name} {row[name]:.3f} s ({row[name + '_per_try'] * 1e6:,.1f} µs/try)"
                        for name in samples
                    ),
                    flush=True,
                )
        version_text = browser.version
        browser.close()
    server.shutdown()
    print(f"Chromium {version_text}")
    return rows


def report(rows: list[dict[str, Any]], phone_factor: float) -> None:
    print()
    print(
        "| ALTCHA | level (cost) | Python client | tight native loop | desktop Chromium "
        f"| phone (x{phone_factor:g}, assumed) | browser / native loop |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for row in rows:
        ratio = row["browser_per_try"] / row["tight_per_try"]
        print(
            f"| {row['version']} | {row['level']} ({row['cost']:,}) | {row['client']:.3f} s "
            f"| {row['tight']:.3f} s | {row['browser']:.3f} s "
            f"| {row['browser'] * phone_factor:.2f} s | x{ratio:.1f} |"
        )
    print()
    print("| ALTCHA | per try: Python client | tight native loop | desktop Chromium |")
    print("|---|---:|---:|---:|")
    for version in ("v1", "v2"):
        mine = [r for r in rows if r["version"] == version]
        cells = [
            statistics.median(r[name + "_per_try"] for r in mine) * 1e6
            for name in ("client", "tight", "browser")
        ]
        print(f"| {version} | " + " | ".join(f"{c:,.1f} µs" for c in cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="challenges per level")
    parser.add_argument(
        "--phone-factor",
        type=float,
        default=4.0,
        help="how much slower a phone's browser is assumed to be than desktop Chromium",
    )
    args = parser.parse_args()
    if not (HASH_WASM / "argon2.umd.min.js").exists():
        sys.exit("hash-wasm missing: (cd benchmarks/proof_of_work_browser && npm ci)")
    cpu = subprocess.run(
        ["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    print(
        f"machine: {platform.machine()} {cpu}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}; "
        f"v2: Argon2id {challenges.MEMORY_KIB} KiB, t={challenges.TIME_COST}, "
        f"p={challenges.PARALLELISM}; {args.rounds} challenges per level"
    )
    report(run(args.rounds), args.phone_factor)


if __name__ == "__main__":
    main()
