"""Commands about documents waiting for a patient who has no account yet: the patient
the practice invited reads them once they join, when this device completes the share
with their keys, proven in the key directory (docs/PROTOCOL.md 11.6)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from uhealthsec.client.cli._common import (
    JsonOutput,
    changes_made,
    console,
    document_id_of,
    notices,
    practice_for,
    print_json,
    print_result,
    resolve_id,
    signed_in_client,
)
from uhealthsec.client.cli.documents import DocumentId
from uhealthsec.terminal import Refused, command_line

if TYPE_CHECKING:
    from uhealthsec.client.exchange import ExchangeClient

pending_app = command_line(
    help="(Practitioners) Documents waiting for invited patients who have no account yet."
)

_STATES = {
    "waiting": "waiting for the patient to register",
    "joined": "the patient joined: your next `uhs inbox` (or `uhs pending complete`) shares it",
    "expired": "the invitation expired",
    "completed": "shared",
    "cancelled": "cancelled",
}


@pending_app.command("invitations")
def invitations(
    practice: Annotated[str | None, typer.Option(help="Practice id.", metavar="ID")] = None,
    as_json: JsonOutput = False,
) -> None:
    """Patients your practice invited who have not joined yet."""
    with signed_in_client(unlock=False) as client:
        invited = client.patient_invitations(practice_for(client, practice))
    if as_json:
        print_json([i.model_dump() for i in invited])
        return
    if not invited:
        console.print("No patient invitation is waiting.")
    for i in invited:
        console.print(
            f"{i.email}  (invited {i.created_at:%Y-%m-%d}, until {i.expires_at:%Y-%m-%d})"
        )


@pending_app.command("share")
def share(
    document_id: DocumentId,
    patient: Annotated[
        str, typer.Option("--patient", help="The invited patient's address.", metavar="EMAIL")
    ],
    as_json: JsonOutput = False,
) -> None:
    """Let an invited patient read a document of their file once they join (the
    document's file must be theirs: `uhs send --patient EMAIL` opens it)."""
    with signed_in_client() as client:
        chosen = document_id_of(client, document_id)
        view = client.document_view(chosen)
        address = patient.strip().lower()
        invitation = next(
            (i for i in client.patient_invitations(view.practice_id) if i.email == address), None
        )
        if invitation is None:
            raise Refused(f"{patient} has no open patient invitation in this document's practice")
        pending = client.share_pending(chosen, invitation.id)
    changes_made.append(f"document {chosen} waits for {address}")
    print_result(
        as_json,
        pending.model_dump(mode="json"),
        f"[green]Waiting[/green]: {address} will read version {pending.version} once they "
        "register and join; `uhs pending complete` then shares it from this device.",
    )


@pending_app.command("list")
def listing(as_json: JsonOutput = False) -> None:
    """Your documents waiting for patients, and where each one stands."""
    with signed_in_client(unlock=False) as client:
        pending = client.pending_shares()
    if as_json:
        print_json([p.model_dump(mode="json") for p in pending])
        return
    if not pending:
        console.print("No document is waiting for a patient.")
    for p in pending:
        console.print(f"{p.patient_email}: document {p.document_id} version {p.version}")
        console.print(f"  {_STATES[p.state.value]}  (id {p.id})", soft_wrap=True)


@pending_app.command("complete")
def complete(as_json: JsonOutput = False) -> None:
    """Share each waiting document with its patient who joined, after checking their
    keys in the key directory here."""
    with signed_in_client() as client:
        outcomes = client.complete_pending_shares()
    done = [o for o in outcomes if o.completed]
    refused = [o for o in outcomes if not o.completed]
    for o in done:
        changes_made.append(
            f"document {o.pending.document_id} was shared with {o.pending.patient_email}"
        )
    if as_json:
        print_json(
            [
                {"id": str(o.pending.id), "completed": o.completed, "refused": o.refused}
                for o in outcomes
            ]
        )
    else:
        if not outcomes:
            console.print("No patient has joined since: nothing to share.")
        for o in done:
            console.print(f"[green]Shared[/green] with {o.pending.patient_email}.")
        for o in refused:
            console.print(f"[red]Not shared[/red] with {o.pending.patient_email}: {o.refused}")
    if refused:
        raise Refused(f"{len(refused)} pending share(s) were refused (see above)")


def share_with_joined_patients(client: ExchangeClient) -> None:
    """Completes the shares waiting for patients who joined since, as the web application
    does at sign-in (docs/PROTOCOL.md 11.6): said on stderr, and never in the way of the
    command that runs it (`uhs inbox`); `uhs pending complete` says the same in full."""
    from rich.markup import escape

    from uhealthsec.client.errors import ApiError

    # What the server says is printed as it is: as markup it could show a refused share
    # as shared, or stop the command with a tag that does not close.
    try:
        outcomes = client.complete_pending_shares()
    except ApiError as exc:
        notices.print(
            "[yellow]Documents waiting for patients were not checked: "
            f"{escape(exc.detail)}[/yellow]"
        )
        return
    for o in outcomes:
        email = escape(o.pending.patient_email)
        if o.completed:
            changes_made.append(
                f"document {o.pending.document_id} was shared with {o.pending.patient_email}"
            )
            notices.print(f"[green]Shared[/green] with {email}, who joined.")
        else:
            notices.print(
                f"[red]Not shared[/red] with {email}: {escape(o.refused or '')} "
                "(`uhs pending list`)"
            )


@pending_app.command("cancel")
def cancel(
    pending_id: Annotated[str, typer.Argument(help="Id from `uhs pending list`.")],
    as_json: JsonOutput = False,
) -> None:
    """The document will not wait for the patient any longer."""
    with signed_in_client(unlock=False) as client:
        chosen = resolve_id(
            pending_id, lambda: [str(p.id) for p in client.pending_shares()], "pending share"
        )
        cancelled = client.cancel_pending(chosen)
    print_result(as_json, cancelled.model_dump(mode="json"), "Cancelled: it no longer waits.")
