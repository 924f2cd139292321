"""`uhs search` and `uhs sync`: the user's documents found on this device, over an
index the server cannot read (docs/PROTOCOL.md 18)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from uhealthsec.client.cli._common import (
    JsonOutput,
    console,
    notices,
    print_json,
    progress_bar,
    shown,
    signed_in_client,
)
from uhealthsec.client.cli.documents import _private_directory
from uhealthsec.terminal import Refused


def search(
    query: Annotated[str, typer.Argument(help="Words, names or their first letters, dates.")],
    patient: Annotated[
        str | None,
        typer.Option("--patient", help="Only this patient's documents.", metavar="EMAIL"),
    ] = None,
    author: Annotated[
        str | None,
        typer.Option("--from", help="Only documents written by this person.", metavar="EMAIL"),
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(help="Only documents written on or after this day.", formats=["%Y-%m-%d"]),
    ] = None,
    as_json: JsonOutput = False,
) -> None:
    """Find your documents by their words, title, file name, patient, author or date:
    searched on this device over an index the server cannot read."""
    from uhealthsec.client.search import find_documents, search_filter
    from uhealthsec.crypto.errors import CryptoError

    with signed_in_client() as client:
        only = search_filter(
            client, patient=patient, author=author, since=since.date() if since else None
        )
        try:
            found = find_documents(client, query, only)
        except CryptoError as exc:
            raise Refused(
                f"the server's answer to the search did not verify ({exc}): nothing is shown"
            ) from exc
    if as_json:
        print_json(
            [
                {
                    "id": str(v.id),
                    "title": v.title,
                    "created_at": v.created_at.isoformat(),
                    "author": v.author_email,
                }
                for v in found
            ]
        )
        return
    if not found:
        console.print("No document matches.")
        return
    for v in found:
        console.print(f"[bold]{shown(v.title)}[/bold]  ({v.created_at:%Y-%m-%d})")
        console.print(f"  from {shown(f'{v.author_name} <{v.author_email}>')}")
        console.print(f"  id {v.id}", soft_wrap=True)


def sync(as_json: JsonOutput = False) -> None:
    """Add to your search index the documents you received and have not opened yet
    (their text read on this device, no read receipt sent), so that `uhs search` finds
    them too."""
    from uhealthsec.client.search import index_received

    with (
        _private_directory() as spool,
        signed_in_client() as client,
        progress_bar("Indexing", counting="documents") as progress,
    ):
        done = index_received(client, spool, progress)
    if as_json:
        print_json(
            {
                "added": done.added,
                "held": done.held,
                "failures": list(done.failures),
                "stopped": done.stopped,
            }
        )
        return
    console.print(
        f"{done.added} document(s) added to your search index; {done.held} were in it already."
    )
    for failure in done.failures:
        notices.print(f"[yellow]Not indexed[/yellow] {shown(failure)}")
    if done.stopped:
        notices.print(
            f"[yellow]Stopped before the end[/yellow]: {shown(done.stopped)}. "
            "Run `uhs sync` again later: it goes on where it stopped."
        )
