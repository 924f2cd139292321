"""Threads of end-to-end encrypted, signed messages with attachments and read receipts."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from tests.server.records.conftest import Practice, thread_body
from uhealthsec.client import wire
from uhealthsec.client.api import ApiError
from uhealthsec.client.errors import ExchangeRefused
from uhealthsec.client.exchange import MessagingClient
from uhealthsec.crypto.manifest import Reader
from uhealthsec.server.messaging.models import Message


def test_practitioners_write_and_see_read_receipts(practice: Practice):
    alice = MessagingClient(practice.alice.exchange)
    bob = MessagingClient(practice.bob.exchange)
    thread = alice.start_thread([practice.bob.email])
    alice.send(thread["id"], "Bonjour, pouvez-vous voir Mme Petit cette semaine ?")
    alice.send(thread["id"], "Merci d'avance.")

    [listed] = bob.threads()
    assert (listed["id"], listed["unread"], listed["last_seq"]) == (thread["id"], 2, 2)
    messages = bob.read(thread["id"])
    assert [(m.seq, m.sender_email, m.text) for m in messages] == [
        (1, practice.alice.email, "Bonjour, pouvez-vous voir Mme Petit cette semaine ?"),
        (2, practice.alice.email, "Merci d'avance."),
    ]
    bob.send(thread["id"], "Oui, jeudi à 10 h.")

    seen_by_alice = alice.read(thread["id"])
    for earlier in seen_by_alice[:2]:
        assert set(earlier.read_by) == {practice.alice.email, practice.bob.email}
    # Alice read Bob's answer only now: the receipt was sent after this listing.
    assert (seen_by_alice[2].text, seen_by_alice[2].read_by) == (
        "Oui, jeudi à 10 h.",
        [practice.bob.email],
    )
    assert set(alice.read(thread["id"], after=2)[0].read_by) == {
        practice.alice.email,
        practice.bob.email,
    }
    assert bob.threads()[0]["unread"] == 0
    assert alice.read(thread["id"], after=3) == []


def test_a_patient_writes_with_the_practice_and_receives_attachments(practice: Practice, tmp_path):
    alice = MessagingClient(practice.alice.exchange)
    carol = MessagingClient(practice.carol.exchange)
    thread = alice.start_thread([practice.carol.email])
    results = tmp_path / "bilan.pdf"
    results.write_bytes(b"%PDF bilan sanguin normal")
    alice.send(
        thread["id"],
        "Vos résultats sont normaux, le détail est joint.",
        attachments=[results],
        patient_file_id=practice.patient_file,
    )
    [message] = carol.read(thread["id"])
    [attachment] = message.attachments
    assert attachment.filename == "bilan.pdf"
    received = practice.carol.exchange.fetch(attachment.document_id, tmp_path / "copy.pdf")
    assert received.path.read_bytes() == results.read_bytes()
    carol.send(thread["id"], "Merci docteur.")
    assert [m.text for m in alice.read(thread["id"], after=1)] == ["Merci docteur."]


def test_who_may_write_to_a_patient(practice: Practice, users, client):
    from tests.server.records.conftest import device

    # Carol did not join Bob's practice: the directory does not show her to him, and
    # the server refuses a thread with her even when he names her account.
    with pytest.raises(ApiError) as unknown:
        MessagingClient(practice.bob.exchange).start_thread([practice.carol.email])
    assert unknown.value.status == 404
    with pytest.raises(ApiError) as outside:
        practice.bob.exchange.call(
            "POST", "/threads", json=thread_body(practice.bob.exchange, practice.carol.user)
        )
    assert outside.value.status == 403
    # A patient cannot write to another patient.
    dave = users.signed_in("dave@example.org", "patient")
    with pytest.raises(ApiError) as patients:
        practice.carol.exchange.call(
            "POST", "/threads", json=thread_body(practice.carol.exchange, dave, practice.alice.user)
        )
    assert patients.value.status == 403
    # Someone outside a thread learns nothing about it.
    thread = MessagingClient(practice.alice.exchange).start_thread([practice.bob.email])
    with pytest.raises(ApiError) as hidden:
        device(client, users, dave).call("GET", f"/threads/{thread['id']}/messages")
    assert hidden.value.status == 404


def test_a_message_must_reach_exactly_the_participants_and_be_signed(practice: Practice):
    alice = MessagingClient(practice.alice.exchange)
    thread = alice.start_thread([practice.bob.email])
    alice.send(thread["id"], "premier")
    [sent] = practice.alice.exchange.call("GET", f"/threads/{thread['id']}/messages").json()
    body = {
        "id": str(uuid.uuid4()),
        "body_envelope": sent["body_envelope"],
        "signature": sent["signature"],
        "signer_key_index": sent["signer_key_index"],
        "keys": [
            {"recipient_id": practice.alice.user.account_id, "wrapped_key": sent["wrapped_key"]}
        ]
        * 2,
    }
    with pytest.raises(ApiError) as duplicate:
        practice.alice.exchange.call("POST", f"/threads/{thread['id']}/messages", json=body)
    assert duplicate.value.status == 400
    body["keys"] = [
        {"recipient_id": practice.alice.user.account_id, "wrapped_key": sent["wrapped_key"]},
        {"recipient_id": practice.carol.user.account_id, "wrapped_key": sent["wrapped_key"]},
    ]
    with pytest.raises(ApiError) as wrong_people:
        practice.alice.exchange.call("POST", f"/threads/{thread['id']}/messages", json=body)
    assert "exactly the thread's participants" in wrong_people.value.detail
    body["keys"][1]["recipient_id"] = practice.bob.user.account_id
    with pytest.raises(ApiError) as replayed:  # another id: the old signature does not fit
        practice.alice.exchange.call("POST", f"/threads/{thread['id']}/messages", json=body)
    assert "signature does not match" in replayed.value.detail


def test_a_message_changed_by_the_server_is_refused(practice: Practice, ctx):
    alice = MessagingClient(practice.alice.exchange)
    thread = alice.start_thread([practice.bob.email])
    alice.send(thread["id"], "Dosage: 5 mg")
    with ctx.sessions.begin() as db:
        message = db.scalar(select(Message))
        tampered = bytearray(message.body_envelope)
        tampered[-20] ^= 1
        message.body_envelope = bytes(tampered)
    with pytest.raises(ExchangeRefused, match="message 1 failed its checks"):
        MessagingClient(practice.bob.exchange).read(thread["id"])


def _membership_body(practice: Practice, members: list[Reader], **change) -> dict:
    """A thread of Alice and Bob, whose members Alice signs as ``members``."""
    thread_id, request = MessagingClient(practice.alice.exchange).thread_request(members)
    body = wire.body(request)
    body["participant_ids"] = [practice.bob.user.account_id]
    body["membership"].update(change)
    return {"id": str(thread_id), **body}


def test_the_server_checks_the_signed_membership(practice: Practice):
    alice = practice.alice.exchange
    me = Reader(uuid.UUID(practice.alice.user.account_id), practice.alice.email)
    bob = Reader(uuid.UUID(practice.bob.user.account_id), practice.bob.email)
    carol = Reader(uuid.UUID(practice.carol.user.account_id), practice.carol.email)

    def refused(body: dict, status: int = 400) -> str:
        body = {k: v for k, v in body.items() if k != "id"}
        with pytest.raises(ApiError) as error:
            alice.call("POST", "/threads", json=body)
        assert error.value.status == status
        return str(error.value.body.get("errors") or error.value.detail)

    assert "exactly the thread's participants" in refused(
        _membership_body(practice, [me, bob, carol])
    )
    assert "not that account's address" in refused(
        _membership_body(practice, [me, Reader(bob.account_id, "robert@example.org")])
    )
    other = _membership_body(practice, [me, bob])
    assert "signature does not match" in refused(
        _membership_body(practice, [me, bob], signature=other["membership"]["signature"])
    )
    # The nonce derives the id Alice signed: another nonce is another thread.
    assert "signature does not match" in refused(
        _membership_body(practice, [me, bob], nonce=other["membership"]["nonce"])
    )
    # Every thread is started with its members signed.
    unsigned = {"participant_ids": [practice.bob.user.account_id]}
    assert "['body', 'membership']" in refused(unsigned, 422)

    body = _membership_body(practice, [me, bob])
    thread_id = body.pop("id")
    thread = alice.call("POST", "/threads", json=body).json()
    assert thread["id"] == thread_id
    [link] = thread["membership"]
    assert (link["seq"], link["actor_id"], link["previous"]) == (1, str(me.account_id), "A" * 43)
    assert link["nonce"] == body["membership"]["nonce"]
    assert {m["email"] for m in link["members"]} == {me.email, bob.email}
    with pytest.raises(ApiError) as again:
        alice.call("POST", "/threads", json=body)
    assert again.value.status == 409
