"""Commands about patients' rights requests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from uhealthsec.client.cli._common import (
    JsonOutput,
    Refused,
    changes_made,
    console,
    my_practice,
    notices,
    open_store,
    practice_for,
    print_json,
    print_result,
    resolve_id,
    signed_in_client,
    usage_error,
)
from uhealthsec.terminal import command_line

if TYPE_CHECKING:
    from uhealthsec.client.exchange import ExchangeClient
    from uhealthsec.client.rights import RightsClient

rights_app = command_line(help="Patients' rights: copies, corrections, erasure, restriction.")

_RIGHTS = (
    "access",
    "portability",
    "medical_file",
    "rectification",
    "erasure",
    "restriction",
    "objection",
)


def _print_requests(rows: list[dict[str, Any]], *, with_patient: bool, as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No request.")
    for row in rows:
        due = row["due_at"][:10] + (" [red](late)[/red]" if row["overdue"] else "")
        who = f"{row['patient_email']}: " if with_patient else ""
        console.print(
            f"{row['id']}  {who}{row['right'].replace('_', ' ')} ({row['citation']}), "
            f"{row['status']}, due {due}"
        )
        if row["reason"] and not with_patient:
            console.print(f"    {row['reason']}")


def _request_id(client: ExchangeClient, rights: RightsClient, given: str) -> str:
    """A request's id from its first characters, among your practice's open requests."""
    return resolve_id(
        given,
        lambda: (str(r["id"]) for r in rights.of_practice(practice_for(client, None))),
        "request",
    )


#: A request's id, as ``uhs rights list`` shows it.
RequestId = Annotated[
    str, typer.Argument(help="Id from `uhs rights list`, or its first characters.")
]


@rights_app.command("ask")
def rights_ask(
    right: Annotated[str, typer.Argument(help=", ".join(_RIGHTS))],
    practice: Annotated[str | None, typer.Option(help="Practice name or id.", metavar="ID")] = None,
    as_json: JsonOutput = False,
) -> None:
    """(Patients) Ask a practice to act on your file."""
    from uhealthsec.client.rights import RightsClient

    if right not in _RIGHTS:
        raise usage_error(f"say one of: {', '.join(_RIGHTS)}")
    with signed_in_client(unlock=False) as client:
        request = RightsClient(client).ask(my_practice(client, practice), right)
    print_result(
        as_json,
        request,
        f"Asked ({request['citation']}); the practice answers by {request['due_at'][:10]}. "
        f"Request {request['id']}.",
    )


@rights_app.command("list")
def rights_list(
    handled: bool = typer.Option(False, "--handled", help="(Practitioners) Handled ones too."),
    practice: Annotated[
        str | None, typer.Option(help="(Practitioners) Practice id.", metavar="ID")
    ] = None,
    as_json: JsonOutput = False,
) -> None:
    """Your requests (patients), or your practice's open requests (practitioners)."""
    from uhealthsec.client.rights import RightsClient

    with signed_in_client(unlock=False) as client:
        rights = RightsClient(client)
        if client.me["kind"] == "patient":
            _print_requests(rights.mine(), with_patient=False, as_json=as_json)
            return
        rows = rights.of_practice(practice_for(client, practice), handled=handled)
    _print_requests(rows, with_patient=True, as_json=as_json)


@rights_app.command("fulfil")
def rights_fulfil(
    request_id: RequestId,
    as_json: JsonOutput = False,
) -> None:
    """(Practitioners) Serve a copy: share every document of the file with the patient
    (keys re-wrapped on this device), then close the request."""
    from uhealthsec.client.rights import RightsClient

    with signed_in_client() as client:
        rights = RightsClient(client)
        open_requests = rights.of_practice(practice_for(client, None))
        request_id = resolve_id(
            request_id, lambda: (str(r["id"]) for r in open_requests), "request"
        )
        request = next((r for r in open_requests if str(r["id"]) == request_id), None)
        if request is None:
            raise Refused("no open request of your practice has this id")
        # Shared one document at a time: a cancellation may come after some of them.
        changes_made.append("some of the file's documents may have been shared with the patient")
        with notices.status("Sharing the file's documents with the patient…"):
            shared = rights.fulfil(request)
        completed = rights.complete(request_id)
    print_result(
        as_json,
        {**completed, "documents_shared": shared},
        f"{shared} document(s) shared with {completed['patient_email']}; "
        f"request {completed['status']}.",
    )


@rights_app.command("complete")
def rights_complete(
    request_id: RequestId,
    note: Annotated[
        str | None, typer.Option(help="What was done, for the patient.", metavar="TEXT")
    ] = None,
    as_json: JsonOutput = False,
) -> None:
    """(Practitioners) Close a request; an erasure is carried out or refused as the law
    decides."""
    from uhealthsec.client.rights import RightsClient

    with signed_in_client(unlock=False) as client:
        rights = RightsClient(client)
        done = rights.complete(_request_id(client, rights, request_id), note)
    print_result(
        as_json,
        done,
        f"Request {done['status']}." + (f" {done['reason']}" if done["reason"] else ""),
    )


@rights_app.command("extend")
def rights_extend(
    request_id: RequestId,
    reason: Annotated[str, typer.Option(help="Why, for the patient.", metavar="TEXT")],
    as_json: JsonOutput = False,
) -> None:
    """(Practitioners) Two more months, once (GDPR art. 12(3))."""
    from uhealthsec.client.rights import RightsClient

    with signed_in_client(unlock=False) as client:
        rights = RightsClient(client)
        done = rights.extend(_request_id(client, rights, request_id), reason)
    print_result(as_json, done, f"Now due by {done['due_at'][:10]}.")


@rights_app.command("refuse")
def rights_refuse(
    request_id: RequestId,
    reason: Annotated[str, typer.Option(help="Why, for the patient.", metavar="TEXT")],
    as_json: JsonOutput = False,
) -> None:
    """(Practitioners) Refuse, with the reasons told to the patient."""
    from uhealthsec.client.rights import RightsClient

    with signed_in_client(unlock=False) as client:
        rights = RightsClient(client)
        refused = rights.refuse(_request_id(client, rights, request_id), reason)
    print_result(as_json, refused, "Refused; the patient sees your reasons.")


_CATEGORIES = {
    "documents": "documents",
    "conversations": "conversations and their messages",
    "consents": "consents and objections",
    "retention-facts": "dates the retention depends on",
    "rights-requests": "rights requests",
    "identity": "name and e-mail address",
    "sign-in": "password, keys, sessions, second factors, memberships",
    "keys": "document and message keys wrapped for you",
    "key-directory": "key directory entries (recorded as revoked)",
    "journal": "journal of accesses",
}


def print_erasure(items: list[dict[str, Any]]) -> None:
    """An erasure's answer, a line per category: erased, or kept, why and until when."""
    for item in items:
        what = _CATEGORIES.get(item["category"], item["category"])
        where = f" (practice {item['practice_id']})" if item["practice_id"] else ""
        count = f" {item['count']}" if item["count"] is not None else ""
        if item["outcome"] == "erased":
            console.print(f"[green]erased[/green]{count} {what}{where}")
        else:
            until = f" until {item['kept_until']}" if item["kept_until"] else ""
            console.print(f"[yellow]kept[/yellow]{count} {what}{where}{until}")
            console.print(f"    {item['reason']}")


@rights_app.command("delete-account")
def rights_delete_account(
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete without asking (scripts).")
    ] = False,
    as_json: JsonOutput = False,
) -> None:
    """(Patients) Delete your account: shows what is erased and what the law keeps,
    until when, then asks, and a second factor, before deleting. It cannot be undone."""
    from uhealthsec.client.rights import RightsClient

    with signed_in_client(unlock=False) as client:
        preview = RightsClient(client).deletion_preview()
    if not as_json:
        console.print("Deleting your account would do this:")
        print_erasure(preview["items"])
    if not yes:
        typer.confirm(
            "Delete your account? It cannot be undone", default=False, abort=True, err=True
        )
    with signed_in_client(unlock=False, stepped_up=True) as client:
        done = RightsClient(client).delete_account()
    store = open_store()
    profile = store.load()
    profile.forget_tokens()  # they were revoked with the account
    store.save(profile)
    if as_json:
        print_json(done)
        return
    console.print("Your account is deleted:")
    print_erasure(done["items"])
