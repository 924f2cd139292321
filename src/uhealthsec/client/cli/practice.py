"""Commands about practices."""

from __future__ import annotations

from uhealthsec.client.cli._common import (
    SignedIn,
    connection,
    console,
    open_store,
)


def practices() -> None:
    """List your practices."""
    from rich.table import Table

    store = open_store()
    profile = store.load()
    with connection(profile.server) as http:
        rows = SignedIn(http, profile, store).call("GET", "/practices").json()
    table = Table()
    table.add_column("Id", no_wrap=True)
    table.add_column("Practice")
    table.add_column("Role")
    for row in rows:
        table.add_row(row["id"], row["name"], row["role"])
    console.print(table)
