"""`uhs pending`: Dr Martin sends a report to a patient she invited who has no account
yet; it waits, and her next `uhs inbox` shares it once the patient joined (`uhs pending
complete` does the same on demand)."""

from __future__ import annotations

import json

from tests.client.demo import run
from tests.server_fixtures import Users

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
    waiting = run(["pending", "share", document_id, "--patient", NEW_PATIENT], martin, live_server)
    assert "Waiting" in waiting
    listed = listing(martin, live_server)
    assert [(p["patient_email"], p["state"]) for p in listed] == [(NEW_PATIENT, "waiting")]
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
