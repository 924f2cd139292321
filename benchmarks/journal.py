"""Journal throughput and verification speed.

    .venv/bin/python benchmarks/journal.py [--appends 5000] [--concurrency 64]
                                           [--entries 1000000] [--backends sqlite postgresql]

Appends: two server processes (as two API workers of one deployment) append to the
same journal at once, each from ``--concurrency`` asyncio tasks that behave like the
journal middleware's requests: submit one entry, await its receipt (index, signed
head, inclusion proof), repeat.
The rate is all entries over the time from the first submission to the last receipt.
SQLite is a file in a temporary directory; PostgreSQL is started with its default
durability settings (fsync on), unlike the test suite's throwaway server.

Verification: what `uhs journal verify` computes for a journal of ``--entries``
entries with a signed head every 1,000 entries — a leaf hash per entry, the roots at
each signed size, the heads' signatures — timed against SHA-256 of the same bytes,
once per entry (pyca's and hashlib's) and in one stream.

Over HTTP (``--http-entries``): a server (uvicorn, SQLite) whose journal holds that
many entries, written by the journal's writer in its largest batches; the SDK's
``JournalClient.verify`` from a device that never verified it before, checking the
checkpoints, then every signed head.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import median_seconds

from uhealthsec.crypto import merkle
from uhealthsec.crypto.checkpoint import Checkpoint, open_checkpoint
from uhealthsec.crypto.journal import ChainLink, JournalEntry, ObjectKind, Outcome


def sample_entry(i: int) -> JournalEntry:
    return JournalEntry(
        timestamp_ms=1_795_000_000_000 + i,
        actor=uuid.UUID(int=i + 1),
        action="records.content",
        outcome=Outcome.DONE,
        status=200,
        objects=(
            (ObjectKind.DOCUMENT, uuid.UUID(int=7 * i + 3)),
            (ObjectKind.PATIENT, uuid.UUID(int=i)),
        ),
        client="uhs-cli",
        request_digest=bytes(32),
        # Version 2: the patient named is linked in their chain (its first entry here).
        chain=(ChainLink(ObjectKind.PATIENT, uuid.UUID(int=i), sequence=0, previous=0),),
    )


# -- appends ------------------------------------------------------------------------------


def worker(database_url: str, data_dir: str, count: int, concurrency: int, start_at: float) -> None:
    from uhealthsec.server.app import build_context
    from uhealthsec.server.audit.writer import PendingEntry
    from uhealthsec.server.settings import Settings

    ctx = build_context(Settings(data_dir=Path(data_dir), database_url=database_url))
    ctx.journal.append(PendingEntry(sample_entry(0)))  # connections warm
    proof_lengths: list[int] = []
    counter = iter(range(count))

    # As the journal middleware does: each request is a task of the event loop that
    # submits its entry and awaits the receipt.
    async def one_request_stream() -> None:
        for i in counter:
            receipt = await ctx.journal.record(PendingEntry(sample_entry(i)))
            proof_lengths.append(len(receipt.proof))

    async def requests() -> None:
        await asyncio.gather(*(one_request_stream() for _ in range(concurrency)))

    time.sleep(max(0.0, start_at - time.time()))
    began = time.time()
    asyncio.run(requests())
    ended = time.time()
    ctx.close()
    print(json.dumps({"began": began, "ended": ended, "count": len(proof_lengths)}))


def appends(backend: str, count: int, concurrency: int) -> tuple[float, int, int]:
    from uhealthsec.server.app import build_context
    from uhealthsec.server.settings import Settings

    data_dir = Path(tempfile.mkdtemp(prefix="uhs-bench-journal-"))
    server = None
    if backend == "postgresql":
        from tests.postgres import PostgresServer

        server = PostgresServer(durable=True)
        server.start()
        server.create_database("bench")
        url = server.url("bench")
    else:
        url = f"sqlite:///{data_dir / 'journal.db'}"
    try:
        build_context(Settings(data_dir=data_dir, database_url=url)).close()  # migrate once
        start_at = time.time() + 3
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    url,
                    str(data_dir),
                    str(count),
                    str(concurrency),
                    str(start_at),
                ],
                stdout=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        results = [json.loads(p.communicate(timeout=600)[0]) for p in processes]
        ctx = build_context(Settings(data_dir=data_dir, database_url=url))
        with ctx.sessions() as db:
            from uhealthsec.server.audit.service import JournalService

            service = JournalService(db, ctx)
            head, _ = service.head(None)
            heads = len(service.heads(1, 10_000_000))
            size = head.size
            leaves = []
            for start in range(0, size, 10_000):
                leaves += service.leaf_hashes(start, min(size, start + 10_000))
            assert merkle.root_of(leaves) == head.root
        ctx.close()
    finally:
        if server is not None:
            server.stop()
    total = sum(r["count"] for r in results)
    elapsed = max(r["ended"] for r in results) - min(r["began"] for r in results)
    return total / elapsed, total, heads


ORIGIN = "bench.example/journal"


# -- verification -------------------------------------------------------------------------


def verification(count: int, rounds: int) -> dict[str, float]:
    entries = [sample_entry(i).encode() for i in range(count)]
    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    builder = merkle.RootBuilder()
    heads = []
    for i, data in enumerate(entries):
        builder.add(merkle.leaf_hash(data))
        if (i + 1) % 1000 == 0 or i + 1 == count:
            heads.append(Checkpoint(ORIGIN, i + 1, builder.root()).sign(key))

    def verify() -> None:
        check = merkle.RootBuilder()
        pending = iter(heads)
        head = open_checkpoint(next(pending), ORIGIN, public)
        for data in entries:
            check.add(merkle.leaf_hash(data))
            if check.size == head.size:
                assert check.root() == head.root
                following = next(pending, None)
                if following is not None:
                    head = open_checkpoint(following, ORIGIN, public)

    def per_entry_sha256() -> None:
        algorithm = hashes.SHA256()
        for data in entries:
            h = hashes.Hash(algorithm)
            h.update(data)
            h.finalize()

    def per_entry_hashlib() -> None:
        # The standard library's SHA-256, a call per entry: cheaper per call than pyca's.
        for data in entries:
            hashlib.sha256(data).digest()

    def stream_sha256() -> None:
        h = hashes.Hash(hashes.SHA256())
        for data in entries:
            h.update(data)
        h.finalize()

    return {
        "bytes": sum(len(e) for e in entries),
        "verify": median_seconds(verify, rounds),
        "per_entry": median_seconds(per_entry_sha256, rounds),
        "per_entry_hashlib": median_seconds(per_entry_hashlib, rounds),
        "stream": median_seconds(stream_sha256, rounds),
        "heads": len(heads),
    }


def verification_over_http(count: int) -> dict[str, float]:
    from exchange import Accounts, start

    from uhealthsec.client.journal import JournalClient
    from uhealthsec.server.app import build_context
    from uhealthsec.server.audit.writer import MAX_BATCH, PendingEntry
    from uhealthsec.server.settings import Settings

    data_dir = Path(tempfile.mkdtemp(prefix="uhs-bench-journal-http-"))
    ctx = build_context(Settings(data_dir=data_dir))
    began = time.perf_counter()
    for start_index in range(0, count, 10 * MAX_BATCH):
        futures = [
            ctx.journal.submit(PendingEntry(sample_entry(i)))
            for i in range(start_index, min(count, start_index + 10 * MAX_BATCH))
        ]
        for future in futures:
            future.result(timeout=600)
    written = time.perf_counter() - began
    ctx.close()
    server, url = start("api", data_dir)
    try:
        import httpx2

        http = httpx2.Client(base_url=url, timeout=600)
        device = Accounts(http, data_dir).device("auditor@bench.example")
        checkpoints = median_seconds(lambda: JournalClient(device.call).verify(), 3)
        every_head = median_seconds(lambda: JournalClient(device.call).verify(all_heads=True), 3)
        heads = JournalClient(device.call).verify(all_heads=True).heads
    finally:
        server.terminate()
    return {
        "written": written,
        "checkpoints": checkpoints,
        "every_head": every_head,
        "heads": heads,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=5000, help="per process")
    parser.add_argument("--concurrency", type=int, default=64, help="requests per process")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="verification rounds")
    parser.add_argument("--http-entries", type=int, default=0, help="verify over HTTP")
    parser.add_argument("--repeat", type=int, default=3, help="append runs per backend")
    parser.add_argument("--backends", nargs="*", default=["sqlite", "postgresql"])
    parser.add_argument("--worker", nargs=5)
    args = parser.parse_args()
    if args.worker:
        url, data_dir, count, concurrency, start_at = args.worker
        return worker(url, data_dir, int(count), int(concurrency), float(start_at))

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )
    for backend in args.backends:
        runs = [appends(backend, args.appends, args.concurrency) for _ in range(args.repeat)]
        rate, total, heads = sorted(runs)[len(runs) // 2]
        print(
            f"appends, {backend}, 2 processes x {args.concurrency} concurrent requests: "
            f"{rate:,.0f} entries/s with receipts, median of {len(runs)} runs "
            f"({', '.join(f'{r[0]:,.0f}' for r in runs)}; {total} entries, {heads} signed heads)"
        )
    if args.entries:
        v = verification(args.entries, args.rounds)
        rate = args.entries / v["verify"]
        print(
            f"verification of {args.entries:,} entries ({v['bytes'] / 2**20:.0f} MiB, "
            f"{v['heads']} signed heads): {v['verify']:.2f} s, {rate:,.0f} entries/s"
        )
        print(
            f"  SHA-256 once per entry: {v['per_entry']:.2f} s "
            f"-> x{v['per_entry'] / v['verify']:.2f}"
        )
        print(
            f"  SHA-256 once per entry (hashlib): {v['per_entry_hashlib']:.2f} s "
            f"-> x{v['per_entry_hashlib'] / v['verify']:.2f}"
        )
        print(
            f"  SHA-256 over all bytes in one stream: {v['stream']:.2f} s -> "
            f"x{v['stream'] / v['verify']:.2f}"
        )

    if args.http_entries:
        h = verification_over_http(args.http_entries)
        print(
            f"journal of {args.http_entries:,} entries written in {h['written']:.0f} s "
            f"({args.http_entries / h['written']:,.0f}/s); verify over HTTP, median of 3: "
            f"checkpoints {h['checkpoints']:.2f} s "
            f"({args.http_entries / h['checkpoints']:,.0f} entries/s), every one of the "
            f"{h['heads']:,} signed heads {h['every_head']:.2f} s"
        )


if __name__ == "__main__":
    main()
