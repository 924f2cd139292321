"""A practice reaches a patient (opens a file, writes to them) only after the patient
accepted its invitation; a refusal does not tell whether the address has an account."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from tests.server.accounts.cabinet import make_cabinet
from tests.server.records.conftest import device, thread_body
from uhealthsec.server.records.models import PatientFile


def test_a_practice_cannot_open_a_file_on_a_patient_who_never_joined(client, users, ctx):
    cabinet = make_cabinet(client, users)
    mallory = cabinet.headers(cabinet.mallory)
    own = client.post("/practices", json={"name": "Elsewhere"}, headers=mallory).json()["id"]

    def open_file(email: str) -> tuple[int, str]:
        response = cabinet.send(
            client,
            cabinet.mallory,
            "POST",
            "/patient-files",
            {"practice_id": own, "patient_email": email},
        )
        return response.status_code, response.json()["detail"]

    # The same refusal for a patient of the service and for an address nobody uses.
    assert open_file(cabinet.carol.email) == open_file("nobody@example.org")
    assert open_file(cabinet.carol.email)[0] == 404
    with ctx.sessions() as db:
        assert (
            db.scalars(select(PatientFile).where(PatientFile.practice_id == uuid.UUID(own))).all()
            == []
        )
    history = client.get("/journal/history", headers=cabinet.headers(cabinet.carol)).json()
    assert all(item["actor_id"] != cabinet.mallory.account_id for item in history)

    # Her own practice opens her file: she accepted its invitation.
    opened = cabinet.send(
        client,
        cabinet.alice,
        "POST",
        "/patient-files",
        {"practice_id": cabinet.id, "patient_email": cabinet.carol.email},
    )
    assert opened.status_code == 200, opened.text


def test_an_invitation_not_yet_accepted_does_not_open_the_file(client, users, outbox):
    cabinet = make_cabinet(client, users)
    dave = users.signed_in("dave@example.org", "patient")
    alice = cabinet.headers(cabinet.alice)
    client.post(
        f"/practices/{cabinet.id}/invitations",
        json={"email": dave.email, "role": "patient"},
        headers=alice,
    )
    refused = cabinet.send(
        client,
        cabinet.alice,
        "POST",
        "/patient-files",
        {"practice_id": cabinet.id, "patient_email": dave.email},
    )
    assert refused.status_code == 404


def test_a_practitioner_cannot_write_to_a_patient_of_another_practice(client, users, ctx):
    cabinet = make_cabinet(client, users)
    mallory = cabinet.headers(cabinet.mallory)
    own = client.post("/practices", json={"name": "Elsewhere"}, headers=mallory).json()["id"]
    # Even with a file on her in his practice (as an older server let anyone open one).
    with ctx.sessions.begin() as db:
        db.add(
            PatientFile(
                practice_id=uuid.UUID(own),
                patient_id=uuid.UUID(cabinet.carol.account_id),
                created_by=uuid.UUID(cabinet.mallory.account_id),
                created_at=ctx.now(),
            )
        )
    body = thread_body(device(client, users, cabinet.mallory), cabinet.carol)
    refused = cabinet.send(client, cabinet.mallory, "POST", "/threads", body)
    assert refused.status_code == 403, refused.text
    body = thread_body(device(client, users, cabinet.alice), cabinet.carol)
    started = cabinet.send(client, cabinet.alice, "POST", "/threads", body)
    assert started.status_code == 201, started.text
