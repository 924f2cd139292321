"""Commands about conversations: list, write, read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from uhealthsec.client.cli._common import (
    Refused,
    console,
    practice_for,
    show_recipients,
    signed_in_client,
)


def threads() -> None:
    """Your conversations, most recent first."""
    from uhealthsec.client.exchange import MessagingClient

    with signed_in_client(unlock=False) as client:
        rows = MessagingClient(client).threads()
        me = client.me["email"]
    if not rows:
        console.print("No conversations.")
    for row in rows:
        others = ", ".join(p["display_name"] for p in row["participants"] if p["email"] != me)
        unread = f", [bold]{row['unread']} unread[/bold]" if row["unread"] else ""
        console.print(f"[bold]{others}[/bold]  ({row['last_seq']} messages{unread})")
        console.print(f"  id {row['id']}", soft_wrap=True)


def write(
    text: Annotated[str, typer.Argument(help="The message.")],
    to: Annotated[
        list[str] | None,
        typer.Option("--to", help="Start a conversation with (repeatable).", metavar="EMAIL"),
    ] = None,
    thread: Annotated[
        str | None, typer.Option(help="Or answer in this conversation.", metavar="ID")
    ] = None,
    attach: Annotated[
        list[Path] | None,
        typer.Option(
            exists=True, dir_okay=False, readable=True, help="File to attach.", metavar="FILE"
        ),
    ] = None,
    patient: Annotated[
        str | None,
        typer.Option(help="The patient whose file attachments belong to.", metavar="EMAIL"),
    ] = None,
    practice: str | None = typer.Option(
        None, help="Practice id, if you have several.", metavar="ID"
    ),
) -> None:
    """Send an end-to-end encrypted message."""
    from uhealthsec.client.exchange import MessagingClient

    if bool(to) == bool(thread):
        raise Refused("give either --to (a new conversation) or --thread")
    if attach and not patient:
        raise Refused("attachments are documents of a patient file: add --patient")
    with signed_in_client() as client:
        messaging = MessagingClient(client)
        thread_id = thread or messaging.start_thread(to or [])["id"]
        patient_file = (
            client.patient_file(practice_for(client, practice), patient)["id"] if patient else None
        )
        messaging.send(
            thread_id,
            text,
            attachments=attach or [],
            patient_file_id=patient_file,
            before_encrypting=show_recipients,
        )
    console.print(f"[green]Sent[/green] in conversation {thread_id}.")


def read_thread(
    thread: Annotated[str, typer.Argument(help="Id from `uhs threads`.")],
) -> None:
    """Show a conversation (decrypted and checked here) and mark it read."""
    from uhealthsec.client.exchange import MessagingClient

    with signed_in_client() as client:
        messages = MessagingClient(client).read(thread)
        me = client.me["email"]
    for m in messages:
        who = "you" if m.sender_email == me else m.sender_name
        seen = [e for e in m.read_by if e not in (me, m.sender_email)]
        receipt = f"  [dim]read by {', '.join(seen)}[/dim]" if seen else ""
        console.print(f"[bold]{who}[/bold] {m.created_at:%Y-%m-%d %H:%M}{receipt}")
        console.print(f"  {m.text}")
        for a in m.attachments:
            console.print(f"  attachment {a.filename}: uhs get {a.document_id}", soft_wrap=True)
