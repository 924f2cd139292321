"""Engine, sessions and the declarative base shared by every domain's models."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, MetaData, Table, create_engine, event, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.elements import ClauseElement

# Stable constraint names, so that migrations can refer to them on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


#: Pooled SQLite connections per process: one for each thread of anyio's threadpool
#: (40), the journal's writer and the jobs.
SQLITE_POOL_SIZE = 45


def make_engine(url: str, **kwargs: Any) -> Engine:
    # A failing statement's error, logged for the operator (problems.py), names its SQL
    # but not its values: an address, a keystore, a token's hash are not for the log.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        # A connection kept for each thread that answers requests (anyio's threadpool
        # holds 40): with SQLAlchemy's 5, busy requests opened and closed connections
        # of their own, each opening the file and running the pragmas below again.
        kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        @event.listens_for(engine, "savepoint")
        def _sqlite_savepoint(connection: Any, _name: Any) -> None:
            # pysqlite opens a transaction by itself only before a write: a SAVEPOINT
            # sent first would open one of its own, and its RELEASE commit it, however
            # the request ends. Nested in a transaction begun here, it commits nothing.
            # IMMEDIATE: the savepoint is there to write, so the write lock is waited
            # for now (busy_timeout) rather than refused after a read of older data.
            if not connection.connection.dbapi_connection.in_transaction:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        @event.listens_for(engine, "before_execute")
        def _sqlite_for_update(connection: Any, statement: Any, *_: Any) -> None:
            # SQLite has no row locks and drops FOR UPDATE: a read meant to lock what it
            # reads (a document's latest version, a patient's consent versions) locked
            # nothing, and two requests decided on the same value. The write lock, taken
            # before the read and held until commit, orders them as the row lock does on
            # PostgreSQL: the second reads after the first committed. A connection
            # already in a transaction has written, so it holds the write lock already.
            locking = getattr(statement, "_for_update_arg", None) is not None
            if locking and not connection.connection.dbapi_connection.in_transaction:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed if the block ends normally, rolled back otherwise."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException as exc:
        # Some refusals must still be recorded (a failure counter, a revoked token
        # family): they say so with ``keep_changes``.
        if getattr(exc, "keep_changes", False):
            session.commit()
        else:
            session.rollback()
        raise
    finally:
        session.close()


def insert_rows(db: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows (all with the same keys) in one statement.

    The hot paths (journal entries, Merkle nodes) insert dozens of rows per
    transaction. SQLite's driver runs an executemany in C; on PostgreSQL one
    ``INSERT ... SELECT FROM unnest(array, ...)`` of fixed text (so parsed and planned
    once) replaces one statement per row.
    """
    if not rows:
        return
    if db.get_bind().dialect.name != "postgresql":
        db.execute(insert(table), rows)
        return
    names = tuple(rows[0])
    db.connection().exec_driver_sql(
        _unnest_insert(table, names), {n: [row[n] for row in rows] for n in names}
    )


@functools.cache
def _unnest_insert(table: Table, names: tuple[str, ...]) -> str:
    # Names from the schema only: table.c[n] raises for anything else.
    pg = postgresql.dialect()
    columns = ", ".join(f'"{n}"' for n in names)
    arrays = ", ".join(f"%({n})s::{table.c[n].type.compile(dialect=pg)}[]" for n in names)
    return f'INSERT INTO "{table.name}" ({columns}) SELECT * FROM unnest({arrays})'  # noqa: S608


def window_start(now: datetime, window: timedelta) -> datetime:
    """The start of the fixed window of length ``window`` that holds ``now`` (windows
    counted from the Unix epoch): the key of a counter kept per window, with upsert."""
    seconds = window.total_seconds()
    return datetime.fromtimestamp(now.timestamp() // seconds * seconds, now.tzinfo)


def upsert(
    db: Session,
    model: type[Base],
    key: dict[str, Any],
    *,
    add: dict[str, Any] | None = None,
    set_: dict[str, Any] | None = None,
    insert: dict[str, Any] | None = None,
    returning: str | None = None,
) -> Any:
    """Insert the row ``key`` or, if it exists, add ``add`` to its columns and set
    ``set_``, in one atomic statement (``INSERT ... ON CONFLICT DO UPDATE`` on both
    databases): counters shared by several processes lose no increment. With
    ``returning``, that column's value after the statement, read by the statement
    itself (another process's increment cannot come between).

    A new row starts with ``insert``, then ``add``, then the plain values of ``set_``.
    """
    add, set_, insert = add or {}, set_ or {}, insert or {}
    table = model.__table__
    plain = {k: v for k, v in set_.items() if not isinstance(v, ClauseElement)}
    make = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = make(table).values({**plain, **add, **insert, **key})
    changes = {**{name: table.c[name] + value for name, value in add.items()}, **set_}
    statement = statement.on_conflict_do_update(index_elements=list(key), set_=changes)
    if returning is None:
        db.execute(statement)
        return None
    return db.execute(statement.returning(table.c[returning])).scalar_one()
