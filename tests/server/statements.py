"""The SQL statements a piece of server code runs: what the listing-cost tests count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event


@contextmanager
def statements_run(ctx) -> Iterator[list[str]]:
    """The statements run on the context's database inside the block."""
    run: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        run.append(statement)

    event.listen(ctx.engine, "before_cursor_execute", count)
    try:
        yield run
    finally:
        event.remove(ctx.engine, "before_cursor_execute", count)
