"""The client side of a search in the browser's code against the Python SDK's.

    .venv/bin/python benchmarks/web_search.py [--runs 7]

For one keyword updated 1, 1,000 and 40,000 times: the median time to derive its
labels and open the values the server would answer (Mitra's Search, PROTOCOL 18.2),
in the web worker's TypeScript (web/src/protocol/search.ts, under Node 20: the same
JavaScript the worker runs) and in the SDK's Python (crypto/search.py); and the
analyser over a text of 4,000 words (16,000 word occurrences) in both. The server's
lookup and the network are not included: benchmarks/search.py measures those.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import cpu_name

from tests.web.node_jobs import job_runner
from uhealthsec.crypto import search
from uhealthsec.protocol.search_text import document_keywords

SIZES = (1, 1_000, 40_000)
WORDS = 4_000


def python_search(updates: int, runs: int) -> float:
    keys = search.IndexKeys.derive(bytes([1]) * 32)
    counters = search.Counters()
    values = [
        counters.update(keys, search.Op.ADD, "lombalg", uuid.UUID(int=i))[1] for i in range(updates)
    ]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        counters.search_labels(keys, "lombalg")
        found = search.resolve(keys, "lombalg", values)
        times.append((time.perf_counter() - start) * 1000)
        assert len(found) == updates
    return statistics.median(times)


def python_analyser(runs: int) -> float:
    text = " ".join(f"lombalgies chroniques kinésithérapie séance{i % 500}" for i in range(WORDS))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        document_keywords(
            texts=["Compte rendu", text],
            names=["Camille Petit", "Dr Claire Martin"],
            dates=[date(2026, 11, 27)],
        )
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    print(
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Node {node}; "
        f"load average at start {load}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    with tempfile.TemporaryDirectory() as folder:
        run = job_runner("search_bench", Path(folder))
        jobs = [{"updates": n, "runs": runs} for n in SIZES] + [{"words": WORDS, "runs": runs}]
        browser = [float(value) for ok, value in run(jobs) if ok]
    print("| what | browser (TypeScript, Node) | SDK (Python) | ratio |")
    print("|---|---|---|---|")
    for n, ms in zip(SIZES, browser, strict=False):
        python = python_search(n, runs)
        print(f"| search, {n:,} results | {ms:.2f} ms | {python:.2f} ms | {ms / python:.1f}x |")
    python = python_analyser(runs)
    print(
        f"| analyser, {WORDS:,} x 4 words | {browser[-1]:.2f} ms | {python:.2f} ms | "
        f"{browser[-1] / python:.2f}x |"
    )
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
