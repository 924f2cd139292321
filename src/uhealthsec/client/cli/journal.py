"""Commands about the journal."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from uhealthsec.client.cli._common import (
    JsonOutput,
    SignedIn,
    connection,
    console,
    open_store,
    print_json,
    progress_bar,
    usage_error,
)
from uhealthsec.terminal import command_line

journal_app = command_line(help="The journal: a verifiable record of every action.")


@journal_app.command("verify")
def journal_verify(
    all_heads: Annotated[
        bool,
        typer.Option(
            "--all-heads", help="Check every signed head (one per batch), not only checkpoints."
        ),
    ] = False,
    as_json: JsonOutput = False,
) -> None:
    """Recompute the whole journal and check it against the heads the server signed and
    against what this device verified before."""
    from uhealthsec.client.journal import JournalClient
    from uhealthsec.client.logs import LogPin

    store = open_store()
    profile = store.load()
    with connection(profile.server) as http:
        signed_in = SignedIn(http, profile, store)

        def remember(pin: LogPin) -> None:
            profile.journal = pin.to_dict()
            store.save(profile)

        journal = JournalClient(
            signed_in.call,
            LogPin(**profile.journal),
            remember,
            leaf_cache=store.directory / f"{store.path.stem}-journal.leaves",
        )
        with progress_bar("Checking the journal", counting="entries") as progress:
            result = journal.verify(progress, all_heads=all_heads)
    if as_json:
        print_json(
            {"size": result.size, "heads": result.heads, "previous_size": result.previous_size}
        )
        return
    console.print(
        f"[green]Journal verified[/green]: {result.size} entries match the {result.heads} "
        f"heads the server signed, and extend the {result.previous_size} entries this "
        "device verified before."
    )


@journal_app.command("witness")
def journal_witness(
    key: Annotated[
        Path, typer.Option(help="The witness's key file (created if missing).", metavar="FILE")
    ],
) -> None:
    """Act as a witness: verify the journal and every patient's and practice's chain,
    keep what was verified next to the key, and cosign the checkpoint. The server's
    operator lists the witness's key with this account first (`uhs-server witnesses add`)."""
    from uhealthsec.client.witness import Witness, load_or_create_witness_key
    from uhealthsec.protocol.encoding import b64u_encode

    witness_key = load_or_create_witness_key(key)
    store = open_store()
    profile = store.load()
    with connection(profile.server) as http:
        witness = Witness(SignedIn(http, profile, store).call, witness_key, key.parent)
        with progress_bar("Checking the journal", counting="entries") as progress:
            result = witness.cosign(progress)
    console.print(
        f"[green]Cosigned[/green] the journal's checkpoint of {result.size} entries as witness "
        f"{b64u_encode(witness.public_key)}."
    )


@journal_app.command("export")
def journal_export(
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.", metavar="FILE")],
    format: str = typer.Option(
        "fhir", help="fhir (a FHIR R4 Bundle of AuditEvent) or jsonl.", metavar="fhir|jsonl"
    ),
    practice: str | None = typer.Option(
        None, help="Your practice's activity (admins).", metavar="ID"
    ),
    limit: int = typer.Option(
        1000, min=1, max=10_000, metavar="N", help="At most this many entries."
    ),
) -> None:
    """Export your access history, or your practice's activity."""
    if format not in ("fhir", "jsonl"):
        raise usage_error("--format is fhir or jsonl")
    store = open_store()
    profile = store.load()
    path = f"/practices/{practice}/journal/export" if practice else "/journal/history/export"
    with connection(profile.server) as http:
        response = SignedIn(http, profile, store).call(
            "GET", path, params={"format": format, "limit": limit}
        )
    output.write_bytes(response.content)
    console.print(f"[green]Exported[/green] to {output}.")


#: What journal actions mean to a patient reading their access history.
_ACTION_WORDS = {
    "records.open_patient_file": "opened your file",
    "records.patient_file": "looked at whom your file is about (to send you a document)",
    "records.create_document": "added a document to your file",
    "records.add_version": "added a new version of a document",
    "records.document": "looked at a document's details",
    "records.content": "downloaded a document",
    "records.inbox": "listed documents",
    "records.share": "shared a document",
    "records.revoke": "ended someone's access to a document",
    "records.restrict_document": "restricted a document to you and its author",
    "records.lift_restriction": "lifted the restriction of a document",
    "records.rewrap": "wrapped your documents' keys again to their new keys",
    "messaging.create_thread": "started a conversation with you",
    "messaging.post_message": "wrote a message",
    "messaging.messages": "read messages",
    "messaging.thread": "opened a conversation",
    "messaging.mark_read": "marked messages read",
    "messaging.rewrap": "wrapped messages' keys again to their new keys",
    "incidents.notice_sent": "sent you a personal data breach notice",
    "incidents.my_notices": "read the personal data breach notices",
    "keys.lookup": "looked up your public keys in the directory",
    "keys.lookup_many": "looked up your public keys in the directory",
    "consent.record_directive": "changed a consent",
    "consent.ask": "made a request about your rights",
    "consent.withdraw": "withdrew a request",
    "consent.lift": "lifted a restriction",
    "consent.extend": "extended the deadline of your request",
    "consent.complete": "answered your request",
    "consent.refuse": "refused your request",
    "consent.practice_requests": "listed the practice's rights requests",
    "consent.patient_directives": "looked at your consents",
    "retention.file_retention": "looked at your file's retention",
    "retention.record_facts": "recorded dates that set your file's retention",
    "retention.open_claim": "recorded a claim about your care",
    "retention.close_claim": "closed a claim about your care",
    "retention.purge": "destroyed a file at the end of its legal retention",
    "audit.history": "read your access history",
    "audit.export_history": "exported your access history",
    "accounts.members": "looked at the practice's list of members",
}
#: Actions of the server itself, not of a person.
_SERVER_ACTIONS = frozenset({"retention.purge"})


@journal_app.command("history")
def journal_history(
    limit: int = typer.Option(
        50, min=1, max=10_000, help="How many to show, newest first.", metavar="N"
    ),
    practice: str | None = typer.Option(
        None, help="Your practice's activity (admins).", metavar="ID"
    ),
    as_json: JsonOutput = False,
) -> None:
    """(Patients) Who read or changed what about you, and when; every entry proven in
    the journal, and the history proven complete (docs/PROTOCOL.md, 13)."""
    from uhealthsec.client.journal import ChainPin, JournalClient
    from uhealthsec.client.logs import LogPin
    from uhealthsec.client.state_files import write_atomically

    store = open_store()
    profile = store.load()
    # Where each chain stood when this device last proved it complete.
    pins_file = store.directory / f"{store.path.stem}-history.json"
    pins = json.loads(pins_file.read_text()) if pins_file.exists() else {}
    with connection(profile.server) as http:
        signed_in = SignedIn(http, profile, store)
        me = signed_in.call("GET", "/accounts/me").json()["id"]
        subject = practice or me
        known = ChainPin(**pins[subject]) if subject in pins else None

        def remember(pin: LogPin) -> None:
            profile.journal = pin.to_dict()
            store.save(profile)

        # The anchor's head must extend the journal head this device pinned.
        journal = JournalClient(signed_in.call, LogPin(**profile.journal), remember)
        checked = journal.check_history(me, practice, known)
    if checked.pin is not None:
        pins[subject] = asdict(checked.pin)
        write_atomically(pins_file, json.dumps(pins).encode())
    if as_json:
        print_json(
            {
                "entries": checked.items[:limit],
                "chained": checked.chained,
                "unchained": checked.unchained,
                "tree_size": checked.tree_size,
            }
        )
        return
    if not checked.items:
        console.print("Nothing yet.")
    for item in checked.items[:limit]:
        who = item["actor_name"] or (
            "U-HealthSec" if item["action"] in _SERVER_ACTIONS else "someone not signed in"
        )
        outcome = "" if item["outcome"] == "done" else f" [red]({item['outcome']})[/red]"
        action = _ACTION_WORDS.get(item["action"], item["action"])
        console.print(f"{item['at'][:16].replace('T', ' ')}  {who} {action}{outcome}")
    older = (
        f"; {checked.unchained} older entries predate the chains and are proven one by one"
        if checked.unchained
        else ""
    )
    console.print(
        f"[green]Complete[/green]: {checked.chained} entries, chained back to the first and "
        f"proven in the journal's signed head of {checked.tree_size} entries{older}."
    )
