"""Commands about conversations: list, write, read."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from uhealthsec.client.cli._common import (
    JsonOutput,
    Yes,
    changes_made,
    confirm_recipients,
    console,
    practice_for,
    print_json,
    print_result,
    resolve_id,
    shown,
    signed_in_client,
    usage_error,
)

if TYPE_CHECKING:
    from uhealthsec.client.exchange import MessagingClient


def _thread_id(messaging: MessagingClient, given: str) -> str:
    """A conversation's id from its first characters, among those `uhs threads` lists."""
    return resolve_id(given, lambda: (str(t["id"]) for t in messaging.threads()), "conversation")


def threads(as_json: JsonOutput = False) -> None:
    """Your conversations, most recent first."""
    from uhealthsec.client.exchange import MessagingClient

    with signed_in_client(unlock=False) as client:
        rows = MessagingClient(client).threads()
        me = client.me["email"]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No conversations.")
    for row in rows:
        others = shown(
            ", ".join(p["display_name"] for p in row["participants"] if p["email"] != me)
        )
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
        str | None,
        typer.Option(
            help="Or answer in this conversation (its id or first characters).", metavar="ID"
        ),
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
    yes: Yes = False,
    as_json: JsonOutput = False,
) -> None:
    """Send an end-to-end encrypted message, once you confirmed whom for."""
    from uhealthsec.client.exchange import MessagingClient

    if bool(to) == bool(thread):
        raise usage_error("give either --to (a new conversation) or --thread")
    if attach and not patient:
        raise usage_error("attachments are documents of a patient file: add --patient")
    confirm = confirm_recipients(yes)
    with signed_in_client() as client:
        messaging = MessagingClient(client)
        if thread:
            thread_id = _thread_id(messaging, thread)
        else:
            thread_id = str(messaging.start_thread(to or [])["id"])
            changes_made.append(f"conversation {thread_id} was started, with no message yet")
        patient_file = (
            client.patient_file(practice_for(client, practice), patient)["id"] if patient else None
        )
        messaging.send(
            thread_id,
            text,
            attachments=attach or [],
            patient_file_id=patient_file,
            before_encrypting=confirm,
        )
    print_result(
        as_json, {"thread_id": thread_id}, f"[green]Sent[/green] in conversation {thread_id}."
    )


def read_thread(
    thread: Annotated[str, typer.Argument(help="Id from `uhs threads`, or its first characters.")],
    as_json: JsonOutput = False,
) -> None:
    """Show a conversation (decrypted and checked here) and mark it read."""
    from uhealthsec.client.exchange import MessagingClient

    with signed_in_client() as client:
        messaging = MessagingClient(client)
        messages = messaging.read(_thread_id(messaging, thread))
        me = client.me["email"]
    if as_json:
        print_json([asdict(m) for m in messages])
        return
    for m in messages:
        who = "you" if m.sender_email == me else shown(m.sender_name)
        seen = [e for e in m.read_by if e not in (me, m.sender_email)]
        receipt = f"  [dim]read by {shown(', '.join(seen))}[/dim]" if seen else ""
        console.print(f"[bold]{who}[/bold] {m.created_at:%Y-%m-%d %H:%M}{receipt}")
        console.print(f"  {shown(m.text, lines=True)}")
        for a in m.attachments:
            console.print(
                f"  attachment {shown(a.filename)}: uhs get {a.document_id}", soft_wrap=True
            )
