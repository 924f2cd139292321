"""Pending shares in the web application's worker (web/src/client/pending.ts), in Node
against a real server: a report Dr Martin's worker asked to wait for a patient she
invited is completed by the worker once the patient joined, and the Python SDK of the
patient opens it; a server that names another account or another address for the
patient gets no key, and the worker says why."""

from __future__ import annotations

from pathlib import Path

from tests.web.test_web_client import World, ok, refused, run, sign_in, world  # noqa: F401

NINA = "nina.roux@web.test"


def test_the_worker_completes_a_pending_share_only_to_the_keys_it_signed_for(
    world: World,  # noqa: F811
    run,  # noqa: F811
    tmp_path: Path,
) -> None:
    martin, durand = world.martin, world.durand
    python = world.sdk(martin)
    python.call(
        "POST",
        f"/practices/{world.practice_id}/invitations",
        json={"email": NINA, "role": "patient"},
    )
    patient_file = python.patient_file(world.practice_id, NINA)["id"]
    report = tmp_path / "bilan.txt"
    report.write_bytes(b"bilan initial " * 100)
    document = str(python.send(report, patient_file_id=patient_file, to=[], to_patient=False))

    asking = run(
        *sign_in("martin", martin, totp=world.totp(martin)),
        {"as": "martin", "op": "patientInvitations", "args": {"practiceId": world.practice_id}},
        {
            "as": "martin",
            "op": "sharePending",
            "args": {
                "documentId": document,
                "practiceId": world.practice_id,
                "invitationId": "00000000-0000-4000-8000-000000000000",
            },
        },
    )
    invitations = ok(asking[2])["invitations"]
    [invitation] = [i for i in invitations if i["email"] == NINA]
    assert refused(asking[3]) == "exchange_refused"  # no such invitation: nothing signed
    asked = run(
        *sign_in("martin", martin, totp=world.totp(martin)),
        {
            "as": "martin",
            "op": "sharePending",
            "args": {
                "documentId": document,
                "practiceId": world.practice_id,
                "invitationId": invitation["id"],
            },
        },
        {"as": "martin", "op": "completePendingShares", "args": {}},
    )
    pending = ok(asked[2])["pending"]
    assert (pending["documentId"], pending["patientEmail"], pending["state"]) == (
        document,
        NINA,
        "waiting",
    )
    assert "signature" not in pending
    assert ok(asked[3]) == {"outcomes": []}  # Nina has not joined

    nina = world.users.signed_in(
        NINA, "patient", invitation=world.users.outbox.last_code(NINA, "Invitation code")
    )
    listing = "^/pending-shares$"
    results = run(
        *sign_in("martin", martin, totp=world.totp(martin)),
        # Another account, then another address, than the ones the worker signed for.
        {
            "as": "martin",
            "op": "completePendingShares",
            "args": {},
            "tamper": [
                {"path": listing, "set_json": {"field": "0.patient_id", "value": durand.account_id}}
            ],
        },
        {
            "as": "martin",
            "op": "completePendingShares",
            "args": {},
            "tamper": [
                {"path": listing, "set_json": {"field": "0.patient_email", "value": durand.email}}
            ],
        },
        {"as": "martin", "op": "completePendingShares", "args": {}},
        {"as": "martin", "op": "pendingShares", "args": {}},
    )
    other_account, other_address, completed = (ok(r)["outcomes"] for r in results[2:5])
    listed = ok(results[5])
    for refusal in (other_account, other_address):
        [outcome] = refusal
        assert not outcome["completed"]
        assert "not the one you signed" in outcome["refused"]
    [done] = completed
    assert done["completed"] and done["pending"]["state"] == "completed"
    assert [p["state"] for p in listed["pending"] if p["documentId"] == document] == ["completed"]
    # What the worker wrapped, the patient's SDK opens, signed by Dr Martin.
    received = world.sdk(nina).fetch(document, tmp_path / "received.txt")
    assert received.path.read_bytes() == report.read_bytes()
