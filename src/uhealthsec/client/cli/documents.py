"""Commands about documents: send, list, download, share, revoke, restrict, update,
export."""

from __future__ import annotations

import mimetypes
import os
import select
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from uhealthsec.client.cli._common import (
    JsonOutput,
    Yes,
    changes_made,
    confirm_recipients,
    console,
    document_id_of,
    expiry,
    notices,
    practice_for,
    print_json,
    print_result,
    progress_bar,
    show_document,
    shown,
    signed_in_client,
    usage_error,
)

if TYPE_CHECKING:
    from uhealthsec.client.exchange import ExchangeClient
    from uhealthsec.client.search import DocumentFacts

_HERE = Path(".")
#: The file name that means stdin (``send``) or stdout (``get -o``).
_STANDARD_STREAM = Path("-")
#: Read and written a chunk at a time, whatever the document's size.
_COPY_CHUNK = 1 << 20

DocumentId = Annotated[str, typer.Argument(help="Id from `uhs inbox`, or its first characters.")]


@contextmanager
def _private_directory() -> Iterator[Path]:
    """A directory only this user may enter, emptied and removed at the end: where a
    document read from stdin, or decrypted for stdout, waits for its turn."""
    with tempfile.TemporaryDirectory(prefix="uhs-") as directory:
        os.chmod(directory, 0o700)
        yield Path(directory)


def _copy_stdin(sink: BinaryIO) -> None:
    """stdin into ``sink``, waking up at least every ``_SIGNAL_CHECK`` seconds while
    stdin is silent: a signal the kernel gave to another thread of this process (a
    native library's) does not interrupt the read, and its handler (Ctrl-C, SIGTERM),
    which only this thread runs, runs when the wait ends; not at the next byte the
    writer sends, or never."""
    fd = sys.stdin.fileno()
    while True:
        if not select.select([fd], [], [], _SIGNAL_CHECK)[0]:
            continue
        chunk = os.read(fd, _COPY_CHUNK)
        if not chunk:
            return
        sink.write(chunk)


#: How long a wait for stdin lasts before the signals received meanwhile are handled.
_SIGNAL_CHECK = 0.2


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
        typer.Argument(
            allow_dash=True,
            dir_okay=False,
            help="The file to send, or - to read it from stdin (name it with --name).",
        ),
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
    without_patient: bool = typer.Option(
        False,
        "--without-patient",
        help="Do not let the patient read it (by default the patient's file is theirs to read).",
    ),
    patient_waits_days: int | None = typer.Option(
        None,
        "--patient-waits-days",
        min=1,
        max=30,
        metavar="DAYS",
        help="The patient reads it only after this many days (to explain a result first).",
    ),
    share_with_patient: bool = typer.Option(
        False, "--share-with-patient", hidden=True, help="The default now; kept for scripts."
    ),
    name: str | None = typer.Option(
        None, "--name", help="The document's file name, when it is read from stdin.", metavar="NAME"
    ),
    yes: Yes = False,
    as_json: JsonOutput = False,
) -> None:
    """Encrypt a document on this device, sign it, and send it. The recipients, each
    proven in the key directory, are shown and confirmed before anything is encrypted."""
    from_stdin = file == _STANDARD_STREAM
    if from_stdin and not name:
        raise usage_error("a document read from stdin needs its file name: add --name NAME")
    if from_stdin and Path(name or "").name in ("", ".", ".."):
        raise usage_error(f"--name {name} is not a file name")
    if not from_stdin and not file.is_file():
        raise usage_error(f"{file} is not a file")
    if not from_stdin:
        try:  # before signing in or asking anything: a file this user may not read
            file.open("rb").close()
        except OSError as exc:
            raise usage_error(f"{file} cannot be read: {exc.strerror or 'refused'}") from None
    if from_stdin and not yes:
        raise usage_error("stdin holds the document, not an answer: add --yes")
    from uhealthsec.client.search import DocumentFacts, text_of

    confirm = confirm_recipients(yes)
    with _private_directory() as spool, signed_in_client() as client:
        if from_stdin:
            # The SDK encrypts from a file of known size: the document waits in a
            # directory of this user's alone, and is removed as soon as it is sent.
            file = spool / Path(name or "").name
            with file.open("xb") as sink:
                _copy_stdin(sink)
        if without_patient and (share_with_patient or patient_waits_days):
            raise usage_error("--without-patient leaves the patient out: drop the other option")
        patient_file = client.patient_file(practice_for(client, practice), patient)
        recipients = [*(to or []), *([] if without_patient else [patient])]
        # Counted from the device's clock (or the server's, once a signature was refused
        # as too far from it); the server allows a device's clock some minutes' lead.
        available_from = (
            client.clock().replace(microsecond=0) + timedelta(days=patient_waits_days)
            if patient_waits_days
            else None
        )
        with progress_bar(f"Sending {file.name}") as progress:
            document_id = client.send(
                file,
                patient_file_id=patient_file["id"],
                to=to or [],
                title=title,
                expires_at=expiry(expires_days),
                progress=progress,
                before_encrypting=confirm,
                patient=patient,
                to_patient=not without_patient,
                patient_available_from=available_from,
            )
        _index(
            client,
            DocumentFacts(
                document_id=document_id,
                title=title or file.name,
                filename=file.name,
                media_type=mimetypes.guess_type(file.name)[0] or "",
                patient=patient_file["patient_name"],
                author=client.me.get("display_name") or "",
                day=datetime.now(UTC).date(),
                text=text_of(file, mimetypes.guess_type(file.name)[0] or ""),
            ),
        )
    changes_made.append(f"document {document_id} was sent")
    readers = ", ".join(recipients) or "you only"
    later = (
        f" The patient reads it from {available_from:%Y-%m-%d %H:%M} UTC." if available_from else ""
    )
    print_result(
        as_json,
        {
            "id": document_id,
            "recipients": recipients,
            "patient_available_from": available_from.isoformat() if available_from else None,
        },
        f"[green]Sent[/green] {document_id} to {readers}.{later}",
    )


def inbox(
    limit: int = typer.Option(50, min=1, max=200, metavar="N", help="At most this many documents."),
    as_json: JsonOutput = False,
) -> None:
    """Documents you can read (titles are decrypted here). A practitioner's documents
    waiting for invited patients who joined since are shared with them on the way."""
    from rich.filesize import decimal

    from uhealthsec.client.cli.pending import share_with_joined_patients

    with signed_in_client() as client:
        documents = client.documents(limit=limit)
        me = client.me["email"]
        if client.me["kind"] == "practitioner":
            share_with_joined_patients(client)
    if as_json:
        print_json([asdict(d) for d in documents])
        return
    if not documents:
        console.print("No documents.")
        return
    for d in documents:
        author = "you" if d.author_email == me else shown(f"{d.author_name} <{d.author_email}>")
        if d.available_from:  # held back by its author (R28): no title to show yet
            console.print(
                f"[bold]Available from {d.available_from:%Y-%m-%d %H:%M} UTC[/bold]  "
                f"(version {d.version}, {d.created_at:%Y-%m-%d})"
            )
            console.print(f"  from {author}, who holds it back until then to explain it first")
            console.print(f"  id {d.id}", soft_wrap=True)
            continue
        new = " [cyan]new[/cyan]" if d.read_at is None else ""  # not opened yet
        console.print(
            f"[bold]{shown(d.title)}[/bold]{new}  (version {d.version}, {d.created_at:%Y-%m-%d})"
        )
        console.print(f"  from {author}, {decimal(d.size)}")
        if d.restricted_at:  # R28: shown to the patient and the author only
            console.print(
                f"  [yellow]restricted[/yellow] by the patient since {d.restricted_at:%Y-%m-%d}: "
                "only the patient and the author can read it"
            )
        console.print(f"  id {d.id}", soft_wrap=True)


def get(
    document_id: DocumentId,
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            allow_dash=True,
            help="File or directory; - writes the document to stdout.",
            metavar="FILE",
        ),
    ] = _HERE,
    version: int | None = typer.Option(
        None, help="A former version (default: the latest).", metavar="N"
    ),
    force: bool = typer.Option(False, "--force", help="Replace a file of the same name."),
    as_json: JsonOutput = False,
) -> None:
    """Download, verify the author's signature, and decrypt a document."""
    from uhealthsec.client.search import DocumentFacts, text_of

    to_stdout = output == _STANDARD_STREAM
    if to_stdout and as_json:
        raise usage_error("stdout holds the document: --json goes with a file")
    with (
        _private_directory() as spool,
        signed_in_client() as client,
        progress_bar("Receiving") as progress,
    ):
        received = client.fetch(
            document_id_of(client, document_id),
            spool if to_stdout else output,
            version=version,
            progress=progress,
            replace=force,
        )
        view = client.document_view(received.id)
        _index(
            client,
            DocumentFacts(
                document_id=received.id,
                title=received.metadata.title,
                filename=received.metadata.filename,
                media_type=received.metadata.media_type,
                author=view.author_name,
                day=view.created_at.date(),
                text=text_of(received.path, received.metadata.media_type),
            ),
        )
        if to_stdout:
            # Written only once the whole document is authenticated and its signature
            # verified, as a file appears only then.
            with received.path.open("rb") as plain:
                shutil.copyfileobj(plain, sys.stdout.buffer, _COPY_CHUNK)
            sys.stdout.flush()
    # The proven signer of this version, who may not be the document's first author.
    started = (
        ""
        if received.document_author_email == received.author_email
        else f"; the document was started by {received.document_author_email}"
    )
    where = "Written to stdout" if to_stdout else f"[green]Saved[/green] {received.path}"
    # A former key of a rotated account still verifies; say so (PROTOCOL 10.6): its
    # thief could have signed after the rotation.
    former = (
        ""
        if received.signer.current
        else f" with former keys (key version {received.signer.entry.key_version})"
    )
    sentence = (
        f"{where} (version {received.version}, "
        f"signed by {received.author_email}{former}, signature verified{started})."
    )
    if to_stdout:
        notices.print(sentence, soft_wrap=True)
        return
    print_result(
        as_json,
        {
            "id": received.id,
            "version": received.version,
            "path": received.path,
            "size": received.size,
            "author_email": received.author_email,
            "document_author_email": received.document_author_email,
            "signature_verified": True,
        },
        sentence,
    )


def _index(client: ExchangeClient, facts: DocumentFacts) -> None:
    """Add a document to the user's search index (docs/PROTOCOL.md 18)."""
    from uhealthsec.client.search import index_quietly

    failure = index_quietly(client, facts)
    if failure is not None:
        notices.print(f"[yellow]Not added to your search index[/yellow]: {failure}")


def share(
    document_id: DocumentId,
    to: Annotated[list[str], typer.Option("--to", help="Address (repeatable).", metavar="EMAIL")],
    expires_days: ExpiresDays = None,
    yes: Yes = False,
    as_json: JsonOutput = False,
) -> None:
    """Let more people read a document (its key is re-wrapped here for them, once you
    confirmed whom for)."""
    confirm = confirm_recipients(yes)
    with signed_in_client() as client:
        chosen = document_id_of(client, document_id, show=False)
        client.share(
            chosen,
            to,
            expires_at=expiry(expires_days),
            before_encrypting=confirm,
            before_changing=show_document,
        )
    changes_made.append(f"document {chosen} was shared")
    print_result(
        as_json, {"id": chosen, "shared_with": to}, f"[green]Shared[/green] with {', '.join(to)}."
    )


def revoke(
    document_id: DocumentId,
    person: str = typer.Option(..., "--from", help="Whose access to end.", metavar="EMAIL"),
    as_json: JsonOutput = False,
) -> None:
    """End someone's access to a document, at once, with your signed statement that
    you did (the next version's author leaves them out)."""
    with signed_in_client() as client:
        chosen = document_id_of(client, document_id)
        versions = client.revoke(chosen, person)
    changes_made.append(f"{person}'s access was ended")
    print_result(
        as_json,
        {"id": chosen, "revoked": person, "versions": versions},
        f"[green]Revoked[/green]: {person} can no longer read it ({versions} version(s)). "
        "Send a new version with `uhs update` if they kept a copy of the old key.",
    )


def restrict(document_id: DocumentId, as_json: JsonOutput = False) -> None:
    """(Patients) Only you and its author can read this document until you lift it with
    `uhs unrestrict`. Copies others already opened cannot be taken back."""
    with signed_in_client() as client:
        chosen = document_id_of(client, document_id)
        since = client.restrict(chosen)
    changes_made.append(f"document {chosen} was restricted")
    print_result(
        as_json,
        {"id": chosen, "restricted_at": since.isoformat() if since else None},
        "[green]Restricted[/green]: only you and its author can read it now. Anyone who "
        "already opened it may have kept a copy: that cannot be taken back.",
    )


def unrestrict(document_id: DocumentId, as_json: JsonOutput = False) -> None:
    """(Patients) Lift your restriction of a document: those it was shared with read it
    again."""
    with signed_in_client() as client:
        chosen = document_id_of(client, document_id)
        client.restrict(chosen, restricted=False)
    changes_made.append(f"document {chosen}'s restriction was lifted")
    print_result(
        as_json,
        {"id": chosen, "restricted_at": None},
        "[green]Restriction lifted[/green]: those it was shared with can read it again.",
    )


def update(
    document_id: DocumentId,
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
    yes: Yes = False,
    as_json: JsonOutput = False,
) -> None:
    """Send a new version of a document, under a new key, to its current readers (those
    its author or a reader signed for), once you confirmed them."""
    confirm_readers = confirm_recipients(yes)
    with signed_in_client() as client, progress_bar(f"Sending {file.name}") as progress:
        chosen = document_id_of(client, document_id, show=False)
        number = client.new_version(
            chosen,
            file,
            title=title,
            progress=progress,
            confirm=confirm or (),
            before_encrypting=confirm_readers,
            before_changing=show_document,
        )
    changes_made.append(f"version {number} was sent")
    print_result(
        as_json, {"id": chosen, "version": number}, f"[green]Version {number}[/green] sent."
    )


def export(
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Where to write the bundle.", metavar="FILE")
    ],
) -> None:
    """(Patients) Everything about you — who you are, documents and messages decrypted
    here, consents, rights requests, retention of your files, your whole access
    history — as one FHIR R4 Bundle (JSON), written as it is produced."""
    from uhealthsec.client.portability import write_bundle

    # Written beside the output and renamed once whole: a stopped export leaves no file
    # that could pass for a complete copy. The plaintext is readable by its owner only,
    # under a name nobody could have prepared (no symlink followed).
    fd, partial = tempfile.mkstemp(dir=output.resolve().parent, prefix=".uhs-", suffix=".part")
    try:
        with (
            os.fdopen(fd, "w", encoding="utf-8") as out,
            signed_in_client() as client,
            progress_bar("Documents", counting="documents") as progress,
        ):
            kinds = write_bundle(client, out, progress)
        os.replace(partial, output)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    console.print(
        f"Wrote {output}: {kinds['DocumentReference']} document version(s), "
        f"{kinds['Communication']} message(s), {kinds['Consent']} consent(s), "
        f"{kinds['Task']} rights request(s), {kinds['Basic']} file retention(s), "
        f"{kinds['AuditEvent']} access record(s)."
    )
