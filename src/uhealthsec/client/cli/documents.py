"""Commands about documents: send, list, download, share, revoke, update, export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from uhealthsec.client.cli._common import (
    console,
    expiry,
    practice_for,
    progress_bar,
    show_recipients,
    signed_in_client,
)

_HERE = Path(".")


#: ``--expires-days``, of ``send`` and ``share``.
ExpiresDays = Annotated[
    int | None,
    typer.Option(
        "--expires-days", min=1, max=3650, metavar="DAYS", help="Access ends after this many days."
    ),
]


def send(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="The file to send."),
    ],
    to: Annotated[
        list[str] | None, typer.Option("--to", help="Recipient (repeatable).", metavar="EMAIL")
    ] = None,
    patient: str = typer.Option(
        ..., help="The patient's address: the file it belongs to.", metavar="EMAIL"
    ),
    title: str | None = typer.Option(
        None, help="Title shown to recipients (encrypted).", metavar="TITLE"
    ),
    practice: str | None = typer.Option(
        None, help="Practice id, if you have several.", metavar="ID"
    ),
    expires_days: ExpiresDays = None,
    share_with_patient: bool = typer.Option(
        False, "--share-with-patient", help="Let the patient read it too."
    ),
) -> None:
    """Encrypt a document on this device, sign it, and send it."""
    with signed_in_client() as client:
        patient_file = client.patient_file(practice_for(client, practice), patient)
        recipients = [*(to or []), *([patient] if share_with_patient else [])]
        with progress_bar(f"Sending {file.name}") as progress:
            document_id = client.send(
                file,
                patient_file_id=patient_file["id"],
                to=recipients,
                title=title,
                expires_at=expiry(expires_days),
                progress=progress,
                before_encrypting=show_recipients,
            )
    readers = ", ".join(recipients) or "you only"
    console.print(f"[green]Sent[/green] {document_id} to {readers}.")


def inbox(
    limit: int = typer.Option(50, min=1, max=200, metavar="N", help="At most this many documents."),
) -> None:
    """Documents you can read (titles are decrypted here)."""
    from rich.filesize import decimal

    with signed_in_client() as client:
        documents = client.documents(limit=limit)
        me = client.me["email"]
    if not documents:
        console.print("No documents.")
        return
    for d in documents:
        author = "you" if d.author_email == me else f"{d.author_name} <{d.author_email}>"
        console.print(f"[bold]{d.title}[/bold]  (version {d.version}, {d.created_at:%Y-%m-%d})")
        console.print(f"  from {author}, {decimal(d.size)}")
        console.print(f"  id {d.id}", soft_wrap=True)


def get(
    document_id: str = typer.Argument(..., help="Id from `uhs inbox`."),
    output: Annotated[
        Path, typer.Option("-o", "--output", help="File or directory.", metavar="FILE")
    ] = _HERE,
    version: int | None = typer.Option(
        None, help="A former version (default: the latest).", metavar="N"
    ),
    force: bool = typer.Option(False, "--force", help="Replace a file of the same name."),
) -> None:
    """Download, verify the author's signature, and decrypt a document."""
    with signed_in_client() as client, progress_bar("Receiving") as progress:
        received = client.fetch(
            document_id, output, version=version, progress=progress, replace=force
        )
    # The proven signer of this version, who may not be the document's first author.
    started = (
        ""
        if received.document_author_email == received.author_email
        else f"; the document was started by {received.document_author_email}"
    )
    console.print(
        f"[green]Saved[/green] {received.path} (version {received.version}, "
        f"signed by {received.author_email}, signature verified{started})."
    )


def share(
    document_id: Annotated[str, typer.Argument(help="Id from `uhs inbox`.")],
    to: Annotated[list[str], typer.Option("--to", help="Address (repeatable).", metavar="EMAIL")],
    expires_days: ExpiresDays = None,
) -> None:
    """Let more people read a document (its key is re-wrapped here for them)."""
    with signed_in_client() as client:
        client.share(
            document_id, to, expires_at=expiry(expires_days), before_encrypting=show_recipients
        )
    console.print(f"[green]Shared[/green] with {', '.join(to)}.")


def revoke(
    document_id: str = typer.Argument(..., help="Id from `uhs inbox`."),
    person: str = typer.Option(..., "--from", help="Whose access to end.", metavar="EMAIL"),
) -> None:
    """End someone's access to a document, at once, with your signed statement that
    you did (the next version's author leaves them out)."""
    with signed_in_client() as client:
        versions = client.revoke(document_id, person)
    console.print(
        f"[green]Revoked[/green]: {person} can no longer read it ({versions} version(s)). "
        "Send a new version with `uhs update` if they kept a copy of the old key."
    )


def update(
    document_id: Annotated[str, typer.Argument(help="Id from `uhs inbox`.")],
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="The new version."),
    ],
    title: str | None = typer.Option(None, metavar="TITLE", help="A new title (encrypted)."),
    confirm: Annotated[
        list[str] | None,
        typer.Option(
            "--confirm",
            help="A reader of a version signed before readers were signed (repeatable).",
            metavar="EMAIL",
        ),
    ] = None,
) -> None:
    """Send a new version of a document, under a new key, to its current readers (those
    its author or a reader signed for)."""
    with signed_in_client() as client, progress_bar(f"Sending {file.name}") as progress:
        number = client.new_version(
            document_id,
            file,
            title=title,
            progress=progress,
            confirm=confirm or (),
            before_encrypting=show_recipients,
        )
    console.print(f"[green]Version {number}[/green] sent.")


def export(
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Where to write the bundle.", metavar="FILE")
    ],
) -> None:
    """(Patients) Everything about you — documents decrypted here, consents, access
    history — as one FHIR R4 Bundle (JSON)."""
    from uhealthsec.client.portability import export_bundle

    with signed_in_client() as client, progress_bar("Documents", counting="documents") as progress:
        bundle = export_bundle(client, progress)
    output.write_text(json.dumps(bundle, ensure_ascii=False))
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    console.print(
        f"Wrote {output}: {kinds.count('DocumentReference')} document version(s), "
        f"{kinds.count('Consent')} consent(s), {kinds.count('AuditEvent')} access record(s)."
    )
