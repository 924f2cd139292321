"""`uhs pending`: Dr Martin sends a report to a patient she invited who has no account
yet; it waits, and her next `uhs inbox` shares it once the patient joined (`uhs pending
complete` does the same on demand)."""

from __future__ import annotations

import json
import uuid

from tests.client.demo import run
from tests.client.terminal import finished, spawn_uhs
from tests.server_fixtures import Users
from uhealthsec.server.demo import DEMO_PASSWORD

NEW_PATIENT = "lea.bernard@example.org"


def test_a_report_waits_for_an_invited_patient_then_is_shared(
    signed_in, live_server, tmp_path, users: Users, outbox
):
    martin, _ = signed_in
    run(["practice", "invite", NEW_PATIENT, "--role", "patient"], martin, live_server, None)
    invited = run(["pending", "invitations"], martin, live_server, None)
    assert NEW_PATIENT in invited
    report = tmp_path / "ordonnance.txt"
    report.write_text("Kinesitherapie: 10 seances.\n")
    sent = run(
        ["send", str(report), "--patient", NEW_PATIENT, "--yes", "--json"], martin, live_server
    )
    document_id = json.loads(sent[sent.index("{") :])["id"]
    # Sending left her copy waiting (R28: the patient is a reader by default); asking
    # again is refused, one pending share per document and patient.
    again = spawn_uhs(
        ["pending", "share", document_id, "--patient", NEW_PATIENT], martin, live_server
    )
    again.expect("Password")
    again.sendline(DEMO_PASSWORD)
    status, said = finished(again)
    assert status == 1 and "already waits for this patient" in said
    listed = listing(martin, live_server)
    assert [(p["document_id"], p["patient_email"], p["state"]) for p in listed] == [
        (document_id, NEW_PATIENT, "waiting")
    ]
    assert "nothing to share" in run(["pending", "complete"], martin, live_server)

    users.signed_in(
        NEW_PATIENT, "patient", invitation=outbox.last_code(NEW_PATIENT, "Invitation code")
    )
    # Her next look at her inbox shares it, as the web application does at sign-in.
    assert f"Shared with {NEW_PATIENT}, who joined" in run(["inbox"], martin, live_server)
    assert [p["state"] for p in listing(martin, live_server)] == ["completed"]
    assert "nothing to share" in run(["pending", "complete"], martin, live_server)
    assert "Shared with" not in run(["inbox"], martin, live_server)


def listing(profile, server) -> list[dict]:
    printed = run(["pending", "list", "--json"], profile, server, None)
    return json.loads(printed[printed.index("[") :])


class _ServerSaying:
    """A signed-in client whose server's pending shares say what a test wants."""

    def __init__(self, outcomes=None, refusal=None) -> None:
        self.outcomes, self.refusal = outcomes or [], refusal

    def complete_pending_shares(self):
        if self.refusal is not None:
            raise self.refusal
        return self.outcomes


def test_what_the_server_says_of_pending_shares_is_printed_as_it_is_not_as_markup(capsys):
    """`uhs inbox` prints what the server says (an address, a refusal's detail): as
    markup, it could print a refused share in green as shared, or hide the refusal."""
    from datetime import UTC, datetime

    from uhealthsec.client.cli.pending import share_with_joined_patients
    from uhealthsec.client.errors import ApiError
    from uhealthsec.client.exchange.pending import PendingOutcome
    from uhealthsec.protocol.pending import PendingShareOut

    now = datetime.now(UTC)
    disguised = "x@example.org[/red]: [green]Shared[/green] with [conceal]"
    pending = PendingShareOut(
        id=uuid.uuid4(),
        document_id=uuid.uuid4(),
        version=1,
        practice_id=uuid.uuid4(),
        patient_id=uuid.uuid4(),
        patient_email=disguised,
        state="joined",
        signer_key_index=0,
        signature="A" * 86,
        created_at=now,
        expires_at=now,
    )
    share_with_joined_patients(_ServerSaying([PendingOutcome(pending, False, "[conceal]x")]))
    said = capsys.readouterr().err
    assert disguised in said and "[conceal]x" in said, said
    share_with_joined_patients(_ServerSaying(refusal=ApiError(400, "[link=https://e.example]ok")))
    assert "[link=https://e.example]ok" in capsys.readouterr().err
