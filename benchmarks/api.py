"""What API requests cost on the server as the data grows (issue 22).

    .venv/bin/python benchmarks/api.py directory [--sizes 1000 10000 100000] [--lookups 50]
                                                 [--backends sqlite postgresql]
    .venv/bin/python benchmarks/api.py inbox [--sizes 100 1000 10000]
                                             [--backends sqlite postgresql]

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
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.server.records.bulk import share_documents
from uhealthsec.crypto.directory import AccountKindCode, DirectoryEntry
from uhealthsec.crypto.keys import UserKeys
from uhealthsec.server.accounts.models import Account, AccountKind, AccountStatus
from uhealthsec.server.app import build_context
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
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, {platform.machine()}")
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
