"""What API requests cost on the server as the data grows (issue 22).

    .venv/bin/python benchmarks/api.py directory [--sizes 1000 10000 100000] [--lookups 50]
                                                 [--backends sqlite postgresql]
    .venv/bin/python benchmarks/api.py inbox [--sizes 100 1000 10000]
                                             [--backends sqlite postgresql]
    .venv/bin/python benchmarks/api.py http [--workers 1 2] [--seconds 30] [--rounds 1]
                                            [--connections 32] [--readers 100]
                                            [--backends sqlite postgresql] [--before SRC]
                                            [--profile FOLDER [--profile-format svg]]

``directory``: a key directory of each size (one entry per practitioner, written
straight to the database, the map of accounts committed at the end as the server
does), then lookups by address of random accounts, each in its own session as a
request has, timed in process (the server's time, no HTTP): the whole lookup (the
record, the visibility rule, the inclusion proofs of the entry and of the map
commitment, the map proof) and, alone, the read of the stored hashes the two proofs
need, and the part of a lookup spent in its SQL statements (the database's time:
what would grow if a lookup scanned). Median of ``--lookups`` lookups, with the SQL
statements of one lookup.
The map of accounts is built once per process and size (section 10.4), before the
timings, as a running server has it.

``inbox``: a reader with that many documents shared with them (one version each, from
one author, in one patient file; written straight to the database), then what
``GET /documents`` does on the server for the first page of 50 (the listing and the
answer's models, no HTTP), and for the whole inbox a page of 200 at a time as the SDK
walks it (``all_documents``): the time and the SQL statements. Median of 5 for the
first page, one walk for the whole inbox.

``http``: the cost of one whole request, over HTTP on loopback: ``uhs-server serve
--workers N`` (each process its own context, as deployed, access log on) answering
``GET /health``, an authenticated ``GET /accounts/me`` and a journaled
``GET /documents?limit=50`` (50 documents shared with each reader), loaded by ``wrk``
(one thread, ``--connections`` connections, ``--seconds`` each, after 2 s of warming)
in its own process; in the same rounds, a bare FastAPI application
(benchmarks/bare_api.py: the same three paths answering constant JSON, ``/health``
async, the two others sync as the API's routes are) served by the same serving code
and workers; with ``--before SRC``, the API of another source tree too. Each request
carries one of ``--readers`` tokens in turn (rows and tokens made straight in the
database), so that no reader passes the journaled reads' allowance per minute
(audit/refusals.py) and every answer is a 200 (any other is reported). Reported:
req/s, p50 and p99, and the server processes' CPU time per request (from /proc: on a
shared machine, the figure that other work disturbs least); the journal's mean batch
(entries, milliseconds) from the API's metrics; medians of ``--rounds``.
``--profile FOLDER`` samples the API's processes with py-spy during each case.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.server.records.bulk import share_documents
from uhealthsec.crypto.directory import AccountKindCode, DirectoryEntry
from uhealthsec.crypto.keys import UserKeys
from uhealthsec.protocol.oauth import CLI_CLIENT_ID
from uhealthsec.server.accounts.models import Account, AccountKind, AccountStatus
from uhealthsec.server.app import build_context
from uhealthsec.server.auth.models import Session
from uhealthsec.server.context import AppContext
from uhealthsec.server.keys.models import DirectoryRecord
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.records import routes as records_routes
from uhealthsec.server.settings import Settings
from uhealthsec.server.storage.db import insert_rows

#: Rows written per transaction while filling.
FILL_BATCH = 20_000


@contextmanager
def database(backend: str) -> Iterator[AppContext]:
    """A migrated database of ``backend`` in a temporary directory, and its context."""
    data_dir = Path(tempfile.mkdtemp(prefix="uhs-bench-api-"))
    server = None
    if backend == "postgresql":
        from tests.postgres import PostgresServer

        server = PostgresServer()
        server.start()
        server.create_database("bench")
        url = server.url("bench")
    else:
        url = f"sqlite:///{data_dir / 'api.db'}"
    ctx = build_context(Settings(data_dir=data_dir, database_url=url))
    try:
        yield ctx
    finally:
        ctx.close()
        if server is not None:
            server.stop()


@contextmanager
def timing_statements(engine: Engine) -> Iterator[list[float]]:
    """The seconds each SQL statement run on ``engine`` inside the block took, from
    its execution to the cursor's return (the database's part, with the driver's)."""
    took: list[float] = []

    def start(conn, _cursor, _statement, _params, _context, _many) -> None:
        conn.info["statement_began"] = time.perf_counter()

    def end(conn, _cursor, _statement, _params, _context, _many) -> None:
        took.append(time.perf_counter() - conn.info.pop("statement_began"))

    event.listen(engine, "before_cursor_execute", start)
    event.listen(engine, "after_cursor_execute", end)
    try:
        yield took
    finally:
        event.remove(engine, "before_cursor_execute", start)
        event.remove(engine, "after_cursor_execute", end)


@contextmanager
def counting_statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements run on ``engine`` inside the block."""
    statements: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _many) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def median_ms(action: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


# -- the key directory ---------------------------------------------------------------------


def fill_directory(ctx: AppContext, size: int) -> list[str]:
    """``size`` practitioners, each with one entry in the key directory; their addresses."""
    bundle = UserKeys.generate().public()
    now = datetime.now(UTC)
    emails = [f"p{i:07d}@example.org" for i in range(size)]
    for start in range(0, size, FILL_BATCH):
        part = emails[start : start + FILL_BATCH]
        accounts = [
            {
                "id": uuid.uuid4(),
                "email": email,
                "display_name": email,
                "kind": AccountKind.PRACTITIONER,
                "status": AccountStatus.ACTIVE,
                "password_hash": "unused",
                "keystore": b"unused",
                "public_keys": bundle.encode(),
                "key_fingerprint": bundle.fingerprint(),
                "created_at": now,
            }
            for email in part
        ]
        entries = [
            DirectoryEntry(
                account_id=a["id"],
                key_version=1,
                kind=AccountKindCode.PRACTITIONER,
                email=a["email"],
                bundle=a["public_keys"],
            ).encode()
            for a in accounts
        ]
        with ctx.sessions.begin() as db:
            insert_rows(db, Account.__table__, accounts)
            directory = KeyDirectory(db, ctx)
            first = directory.log.append(entries)
            insert_rows(
                db,
                DirectoryRecord.__table__,
                [
                    {
                        "log_index": first + i,
                        "account_id": a["id"],
                        "key_version": 1,
                        "email": a["email"],
                        "entry": entry,
                        "created_at": now,
                    }
                    for i, (a, entry) in enumerate(zip(accounts, entries, strict=True))
                ],
            )
    with ctx.sessions.begin() as db:  # the map of every entry, as a publication commits
        KeyDirectory(db, ctx).commit_map()
    return emails


def directory(backend: str, size: int, lookups: int) -> tuple[float, float, float, float, int]:
    """Milliseconds: filling (per 1,000 entries), a whole lookup, the read of its proofs'
    hashes, the SQL statements' part of a lookup; and the SQL statements of one lookup."""
    with database(backend) as ctx:
        began = time.perf_counter()
        emails = fill_directory(ctx, size)
        fill = (time.perf_counter() - began) * 1000 / (size / 1000)
        chosen = random.Random(size).sample(emails, min(lookups, size))
        with ctx.sessions() as db:
            tree_size = KeyDirectory(db, ctx).log.size()
            viewers = {
                e: db.query(Account).filter_by(email=e).one() for e in chosen
            }  # signed in: the account is at hand before the lookup
            for viewer in viewers.values():
                db.expunge(viewer)
        turn = iter(chosen * 2)

        def lookup() -> None:
            email = next(turn)
            with ctx.sessions() as db:
                found = KeyDirectory(db, ctx).lookup(viewers[email], email, tree_size)
            assert found.map is not None and found.map.value.index == found.index

        positions = iter(random.Random(1).sample(range(size), min(lookups, size)) * 2)

        def proofs() -> None:
            with ctx.sessions() as db:
                KeyDirectory(db, ctx).log.inclusion_proofs(
                    [next(positions), tree_size - 1], tree_size
                )

        lookup()  # warm: connections, statement caches
        whole = median_ms(lookup, len(chosen) - 1)
        node_read = median_ms(proofs, len(chosen))
        in_database = []
        for _ in range(len(chosen) - 1):
            with timing_statements(ctx.engine) as took:
                lookup()
            in_database.append(sum(took) * 1000)
        with counting_statements(ctx.engine) as statements:
            lookup()
        return fill, whole, node_read, statistics.median(in_database), len(statements)


# -- the inbox -----------------------------------------------------------------------------


def fill_inbox(ctx: AppContext, size: int) -> Account:
    """A reader with ``size`` documents shared with them; the reader."""
    reader = Account(
        email="reader@example.org",
        display_name="Reader",
        kind=AccountKind.PRACTITIONER,
        status=AccountStatus.ACTIVE,
        password_hash="unused",
        keystore=b"unused",
        public_keys=b"unused",
        key_fingerprint=bytes(32),
        created_at=datetime.now(UTC),
    )
    with ctx.sessions.begin() as db:
        db.add(reader)
    share_documents(ctx, reader.id, size)
    with ctx.sessions() as db:
        found = db.get(Account, reader.id)
        assert found is not None
        db.expunge(found)
    return found


def inbox(backend: str, size: int) -> tuple[float, int, float, float, int, int]:
    """The first page of 50: milliseconds and SQL statements; the whole inbox, 200 at a
    time: milliseconds, of them this process's CPU, SQL statements, documents listed."""
    with database(backend) as ctx:
        reader = fill_inbox(ctx, size)

        def page(limit: int, after: str | None) -> tuple[list[object], str | None]:
            with ctx.sessions() as db:
                return records_routes.documents_page(reader, db, ctx, limit, after)

        page(50, None)  # warm: connections, statement caches
        first = median_ms(lambda: page(50, None), 5)
        with counting_statements(ctx.engine) as statements:
            page(50, None)
        first_statements = len(statements)

        listed = 0
        began, cpu = time.perf_counter(), time.process_time()
        with counting_statements(ctx.engine) as statements:
            after: str | None = None
            while True:
                documents, after = page(200, after)
                listed += len(documents)
                if after is None:
                    break
        whole = (time.perf_counter() - began) * 1000
        cpu = (time.process_time() - cpu) * 1000
        return first, first_statements, whole, cpu, len(statements), listed


# -- one whole request, over HTTP --------------------------------------------------------

#: The paths of ``http``, each with what it is called in the report.
HTTP_CASES = (
    ("/health", "GET /health"),
    ("/accounts/me", "GET /accounts/me"),
    ("/documents?limit=50", "GET /documents?limit=50"),
)
BENCHMARKS = Path(__file__).resolve().parent
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_readers(ctx: AppContext, count: int, documents: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """``count`` verified practitioners, each with ``documents`` documents shared with
    them and a session: their account and session ids."""
    now = datetime.now(UTC)
    readers = []
    for i in range(count):
        reader = Account(
            email=f"reader{i}@example.org",
            display_name=f"Reader {i}",
            kind=AccountKind.PRACTITIONER,
            status=AccountStatus.ACTIVE,
            password_hash="unused",
            keystore=b"unused",
            public_keys=b"unused",
            key_fingerprint=bytes(32),
            created_at=now,
            email_verified_at=now,
            identity_verified_at=now,
        )
        session = Session(
            client_id=CLI_CLIENT_ID,
            expires_at=now + timedelta(days=1),
            auth_time=now,
            amr="pwd otp",
        )
        with ctx.sessions.begin() as db:
            db.add(reader)
            db.flush()
            session.account_id = reader.id
            db.add(session)
        share_documents(ctx, reader.id, documents)
        readers.append((reader.id, session.id))
    return readers


def access_tokens(ctx: AppContext, readers: list[tuple[uuid.UUID, uuid.UUID]]) -> list[str]:
    """A fresh access token of each reader's session (as the token endpoint issues;
    they live minutes: made again for each server)."""
    now = datetime.now(UTC)
    return [
        ctx.keyring.issue(
            account_id=account_id,
            session_id=session_id,
            client_id=CLI_CLIENT_ID,
            auth_time=now,
            amr=("pwd", "otp"),
            scope="",
            issuer=ctx.settings.issuer,
            now=now,
        )[0]
        for account_id, session_id in readers
    ]


@contextmanager
def serving(
    command: list[str], port: int, env: dict[str, str], log: Path
) -> Iterator[tuple[str, int]]:
    """``command`` in its own process (its output in ``log``) until it answers /health:
    its address and process id."""
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                    probe.sendall(b"GET /health HTTP/1.0\r\n\r\n")
                    if b" 200 " in probe.recv(100):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=60)


def api_command(port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        *("-m", "uhealthsec.server.cli", "serve", "--port", str(port)),
        *("--workers", str(workers)),
    ]


def bare_command(port: int, workers: int) -> list[str]:
    return [sys.executable, "-c", "import bare_api; bare_api.main()", str(port), str(workers)]


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) used so far by process ``pid`` and its children (the
    workers of ``--workers N``), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        process, parent = int(stat.parent.name), int(fields[1])
        if pid in (process, parent):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def wrk(url: str, tokens: list[str], seconds: int, connections: int, work: Path) -> dict:
    """Requests per second, p50 and p99 in milliseconds, answers other than 2xx/3xx."""
    script = work / "tokens.lua"
    listed = ",".join(f'"{t}"' for t in tokens)
    script.write_text(
        f"local tokens = {{{listed}}}\n"
        "local n = math.random(#tokens)\n"
        "request = function()\n"
        "  n = n % #tokens + 1\n"
        '  return wrk.format(nil, nil, {["Authorization"] = "Bearer " .. tokens[n]})\n'
        "end\n"
    )
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    out = result.stdout

    def latency(percent: str) -> float:
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert found, out
        return float(found.group(1)) * _UNITS[found.group(2)]

    answered = re.search(r"(\d+) requests in", out)
    assert answered, out
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rate, out
    refused = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rate": float(rate.group(1)),
        "p50": latency("50"),
        "p99": latency("99"),
        "requests": int(answered.group(1)),
        "non_2xx": int(refused.group(1)) if refused else 0,
        "errors": errors.group(0) if errors else "",
    }


#: py-spy's output formats, by the file's suffix.
PROFILE_FORMATS = {"svg": "flamegraph", "txt": "raw", "json": "speedscope"}


def profiling(pid: int, seconds: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` and its worker processes for ``seconds``, into ``output``
    (a flame graph, collapsed stacks or speedscope, by its suffix)."""
    spy = Path(sys.executable).parent / "py-spy"
    form = PROFILE_FORMATS[output.suffix.lstrip(".")]
    return subprocess.Popen(
        [
            *(str(spy), "record", "--subprocesses", "-r", "200", "-d", str(seconds)),
            *("-p", str(pid), "-o", str(output), "--format", form, "--nonblocking"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def share(part: float, whole: float) -> str:
    """``part / whole`` as a ratio, or "n/a" when nothing was answered."""
    return f"{part / whole:.2f}x" if whole else "n/a"


def journal_batches(url: str) -> tuple[float, float] | None:
    """The journal's batches so far, from the server's metrics (loopback may read
    them): mean entries per batch, mean milliseconds per batch."""
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as probe:
        probe.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        text = b""
        while chunk := probe.recv(65536):
            text += chunk
    values = {}
    for name in ("entries_sum", "entries_count", "seconds_sum", "seconds_count"):
        found = re.search(rf"^uhs_journal_batch_{name} ([\d.e+]+)$", text.decode(), re.M)
        if found is None:
            return None
        values[name] = float(found.group(1))
    if not values["entries_count"]:
        return None
    return (
        values["entries_sum"] / values["entries_count"],
        values["seconds_sum"] / values["seconds_count"] * 1000,
    )


def http(
    backend: str,
    workers: list[int],
    seconds: int,
    connections: int,
    readers: int,
    rounds: int,
    before: Path | None,
    profiles: Path | None,
    profile_format: str = "svg",
) -> None:
    """Each round starts each server (the API before, if given, the API, the bare
    application) at each number of workers and loads each path; medians of the
    rounds."""
    work = Path(tempfile.mkdtemp(prefix="uhs-bench-http-"))
    sources = {"api": BENCHMARKS.parent / "src", "bare": BENCHMARKS.parent / "src"}
    if before is not None:
        sources = {"before": before, **sources}
    with database(backend) as ctx:
        sessions = make_readers(ctx, readers, 50)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("UHS_")}
        environment.update(
            UHS_DATA_DIR=str(ctx.settings.data_dir),
            UHS_DATABASE_URL=ctx.settings.resolved_database_url,
        )
        runs: dict[tuple[str, int, str], list[dict]] = {}
        for _ in range(rounds):
            for count in workers:
                for kind, src in sources.items():
                    command = bare_command if kind == "bare" else api_command
                    port = free_port()
                    log = work / f"{kind}-{count}.log"
                    served_env = {**environment, "PYTHONPATH": f"{src}:{BENCHMARKS}"}
                    tokens = access_tokens(ctx, sessions)
                    with serving(command(port, count), port, served_env, log) as (url, pid):
                        for path, _ in HTTP_CASES:
                            wrk(url + path, tokens, 2, connections, work)  # warm
                            spy = None
                            if profiles is not None and kind != "bare":
                                name = re.sub(r"\W+", "-", path).strip("-")
                                out = f"{backend}-{kind}-{count}w-{name}.{profile_format}"
                                spy = profiling(pid, seconds, profiles / out)
                            cpu = cpu_seconds(pid)
                            measured = wrk(url + path, tokens, seconds, connections, work)
                            cpu = cpu_seconds(pid) - cpu
                            measured["cpu_ms"] = cpu * 1000 / max(1, measured["requests"])
                            if spy is not None:
                                spy.wait()
                            runs.setdefault((kind, count, path), []).append(measured)
                            print(f"  {kind} workers={count} {path}: {measured}", file=sys.stderr)
                        if kind != "bare":
                            batches = journal_batches(url)
                            if batches is not None:
                                print(
                                    f"  {kind} workers={count} journal: {batches[0]:.1f} "
                                    f"entries a batch, {batches[1]:.1f} ms a batch",
                                    file=sys.stderr,
                                    flush=True,
                                )
    shutil.rmtree(work, ignore_errors=True)
    results = {
        key: {
            m: statistics.median(r[m] for r in measured) for m in ("rate", "p50", "p99", "cpu_ms")
        }
        | {"non_2xx": sum(r["non_2xx"] for r in measured)}
        for key, measured in runs.items()
    }

    def cell(kind: str, count: int, path: str) -> str:
        found = results[(kind, count, path)]
        refused = f", {found['non_2xx']} not 2xx" if found["non_2xx"] else ""
        bare = results[("bare", count, path)]
        return (
            f"{found['rate']:,.0f} ({found['p50']:.1f} / {found['p99']:.1f} ms{refused}) "
            f"{found['cpu_ms']:.2f} | {share(found['rate'], bare['rate'])}"
        )

    for count in workers:
        for path, name in HTTP_CASES:
            compared = f" | {cell('before', count, path)}" if before is not None else ""
            bare = results[("bare", count, path)]
            print(
                f"| {backend} | {count} | {name}{compared} | {cell('api', count, path)} "
                f"| {bare['rate']:,.0f} ({bare['p50']:.1f} / {bare['p99']:.1f} ms) "
                f"{bare['cpu_ms']:.2f} |",
                flush=True,
            )
    if len(workers) > 1:
        one, most = workers[0], workers[-1]
        for path, name in HTTP_CASES:
            for kind in sources:
                more, fewer = results[(kind, most, path)], results[(kind, one, path)]
                print(
                    f"{backend} {kind} {name}: {most} workers = "
                    f"{share(more['rate'], fewer['rate'])} {one} in req/s, "
                    f"{share(more['cpu_ms'], fewer['cpu_ms'])} in CPU per request"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    keys = commands.add_parser("directory", help="key-directory lookups against its size")
    keys.add_argument("--sizes", nargs="*", type=int, default=[1000, 10000, 100000])
    keys.add_argument("--lookups", type=int, default=50)
    keys.add_argument("--backends", nargs="*", default=["sqlite", "postgresql"])
    documents = commands.add_parser("inbox", help="GET /documents against the inbox's size")
    documents.add_argument("--sizes", nargs="*", type=int, default=[100, 1000, 10000])
    documents.add_argument("--backends", nargs="*", default=["sqlite", "postgresql"])
    served = commands.add_parser("http", help="whole requests over HTTP, against bare FastAPI")
    served.add_argument("--workers", nargs="*", type=int, default=[1, 2])
    served.add_argument("--seconds", type=int, default=30)
    served.add_argument("--connections", type=int, default=32)
    served.add_argument("--readers", type=int, default=100, help="accounts, tokens")
    served.add_argument("--backends", nargs="*", default=["sqlite", "postgresql"])
    served.add_argument(
        "--profile",
        type=Path,
        metavar="FOLDER",
        help="also sample the API's processes with py-spy, a flame graph per case "
        "(its cost lowers the numbers: not for the report's table)",
    )
    served.add_argument("--profile-format", choices=sorted(PROFILE_FORMATS), default="svg")
    served.add_argument("--rounds", type=int, default=1)
    served.add_argument(
        "--before",
        type=Path,
        metavar="SRC",
        help="also serve the API from this other source tree (its src/ folder, e.g. "
        "`git archive main src | tar -x -C /tmp/before`), in the same rounds",
    )
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, {platform.machine()}")
    if args.command == "http":
        load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
        print(f"{os.cpu_count()} CPUs, load average {load}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        print(
            f"medians of {args.rounds} round(s); req/s (p50 / p99) and the server's CPU "
            "milliseconds per request; ratio of req/s to bare"
        )
        compared = " before | before/bare |" if args.before else ""
        print(f"| database | workers | request |{compared} after | after/bare | bare |")
        print("|---|---:|---|" + ("---:|---:|" if args.before else "") + "---:|---:|---:|")
        for backend in args.backends:
            http(
                backend,
                args.workers,
                args.seconds,
                args.connections,
                args.readers,
                args.rounds,
                args.before,
                args.profile,
                args.profile_format,
            )
        print("load average after: " + ", ".join(f"{n:.2f}" for n in os.getloadavg()))
    if args.command == "directory":
        print(
            "| database | entries | lookup (server) | of it, SQL | proofs' hashes read "
            "| SQL statements |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for backend in args.backends:
            for size in args.sizes:
                fill, whole, node_read, sql, statements = directory(backend, size, args.lookups)
                print(
                    f"| {backend} | {size:,} | {whole:.1f} ms | {sql:.2f} ms "
                    f"| {node_read:.2f} ms | {statements} |",
                    flush=True,
                )
                print(f"  (filled at {fill:.0f} ms per 1,000 entries)", file=sys.stderr)
    if args.command == "inbox":
        print(
            "| database | documents | first page (50) | statements "
            "| whole inbox (process CPU) | statements |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for backend in args.backends:
            for size in args.sizes:
                first, first_sql, whole, cpu, whole_sql, listed = inbox(backend, size)
                assert listed == size, (listed, size)
                print(
                    f"| {backend} | {size:,} | {first:.1f} ms | {first_sql} "
                    f"| {whole:,.0f} ms ({cpu:,.0f} ms) | {whole_sql:,} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
