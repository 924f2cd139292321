"""Pending shares (records/pending.py): a document waits for a patient the practice
invited who has no account yet; only the sender's client completes it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from tests.server.records.conftest import Person, Practice, device, refused
from tests.server_fixtures import PASSWORD
from uhealthsec.client.errors import PatientCopyRefused
from uhealthsec.crypto.journal import JournalEntry
from uhealthsec.crypto.manifest import Reader, ShareStatement
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.protocol.pending import PendingState
from uhealthsec.server.accounts.models import Account, AccountStatus
from uhealthsec.server.audit.models import JournalRecord
from uhealthsec.server.records import pending as pending_module

DAVE = "dave@example.org"


@dataclass
class Waiting:
    invitation: str  # its id
    patient_file: str
    document: uuid.UUID


def invite_dave(practice: Practice) -> Waiting:
    """Alice invites Dave, who has no account, opens his file and writes him a report."""
    alice = practice.alice.exchange
    alice.call(
        "POST", f"/practices/{practice.id}/invitations", json={"email": DAVE, "role": "patient"}
    )
    [invitation] = alice.patient_invitations(practice.id)
    assert invitation.email == DAVE
    patient_file = alice.patient_file(practice.id, DAVE)["id"]
    return Waiting(str(invitation.id), patient_file, uuid.uuid4())


@pytest.fixture
def waiting(practice: Practice, report) -> Waiting:
    w = invite_dave(practice)
    # Asked for below, not by default (R28's default is test_default_patient_share's).
    w.document = practice.alice.exchange.send(
        report, patient_file_id=w.patient_file, to=[], to_patient=False
    )
    return w


def dave_joins(practice, client, users, outbox, code: str | None = None) -> Person:
    code = code or outbox.last_code(DAVE, "Invitation code")
    user = users.signed_in(DAVE, "patient", invitation=code)
    return Person(user, device(client, users, user))


def test_the_patient_file_of_an_invited_patient_is_theirs_once_they_register(
    practice: Practice, waiting: Waiting, client, users, outbox, ctx
):
    with ctx.sessions.begin() as db:
        placeholder = db.scalar(select(Account).where(Account.email == DAVE))
        assert (placeholder.status, placeholder.public_keys) == (AccountStatus.INVITED, b"")
    code = outbox.last_code(DAVE, "Invitation code")
    # Nobody signs in to, nor registers over, an invited patient without the invitation.
    users.sdk.register(DAVE, PASSWORD, "Intrus", "patient")
    assert "invitation mail" in outbox.messages(DAVE)[-1].get_payload(decode=True).decode()
    dave = dave_joins(practice, client, users, outbox, code)
    assert dave.user.account_id == str(placeholder.id)
    [mine] = dave.exchange.call("GET", "/patient-files/mine").json()
    assert mine["id"] == waiting.patient_file


def test_a_pending_share_waits_then_is_completed_by_the_sender_only(
    practice: Practice, waiting: Waiting, client, users, outbox, tmp_path, report
):
    alice = practice.alice.exchange
    created = alice.share_pending(waiting.document, waiting.invitation)
    assert (created.state, created.patient_email, created.version) == (
        PendingState.WAITING,
        DAVE,
        1,
    )
    assert alice.complete_pending_shares() == []  # Dave has not joined
    assert "waits" in refused(409, alice.share_pending, waiting.document, waiting.invitation)
    completion = f"/pending-shares/{created.id}/completion"
    assert refused(409, alice.call, "POST", completion, json=_any_completion())
    dave = dave_joins(practice, client, users, outbox)
    [joined] = alice.pending_shares()
    assert joined.state == PendingState.JOINED
    # The server never completes it; another practitioner cannot either.
    assert refused(404, practice.bob.exchange.call, "POST", completion, json=_any_completion())
    assert dave.exchange.documents() == []
    [outcome] = alice.complete_pending_shares()
    assert (outcome.completed, outcome.pending.state) == (True, PendingState.COMPLETED)
    (tmp_path / "dave").mkdir()
    received = dave.exchange.fetch(waiting.document, tmp_path / "dave")
    assert received.path.read_bytes() == report.read_bytes()
    assert alice.complete_pending_shares() == []
    assert "completed" in refused(409, alice.cancel_pending, created.id)


def test_who_may_ask_and_for_which_document(
    practice: Practice, waiting: Waiting, report, client, users, outbox
):
    alice, bob, carol = practice.alice.exchange, practice.bob.exchange, practice.carol.exchange
    # Someone who cannot read the document, and a patient, learn nothing of it.
    assert refused(404, bob.share_pending, waiting.document, waiting.invitation)
    assert refused(
        404,
        carol.call,
        "POST",
        f"/documents/{waiting.document}/pending-shares",
        json=_any_request(waiting.invitation),
    )
    # A document of Carol's file never waits for Dave.
    carols = alice.send(report, patient_file_id=practice.patient_file, to=[])
    assert "not that invited patient" in refused(
        403, alice.share_pending, carols, waiting.invitation
    )
    # An invitation of another practice, or none, is no invitation of this one.
    assert refused(
        404,
        alice.call,
        "POST",
        f"/documents/{waiting.document}/pending-shares",
        json=_any_request(str(uuid.uuid4())),
    )
    # Dave's practice sees who is invited as a patient; his file's reader statement is
    # signed for his address, not another.
    view = alice.document_view(waiting.document)
    signer = alice.my_entry()
    wrong = ShareStatement(
        view.id, 1, alice.account.id, signer.index, Reader(view.patient_id, DAVE)
    )
    request = _any_request(waiting.invitation)
    request["statement"] |= {
        "recipient_email": "eve@example.org",
        "signer_key_index": signer.index,
        "signature": b64u_encode(wrong.sign(alice.keys.signing)),
    }
    assert "invited address" in refused(
        403, alice.call, "POST", f"/documents/{waiting.document}/pending-shares", json=request
    )
    request["statement"]["recipient_email"] = DAVE
    request["statement"]["signature"] = b64u_encode(bytes(64))
    assert refused(
        400, alice.call, "POST", f"/documents/{waiting.document}/pending-shares", json=request
    )


def test_a_sender_has_a_limited_number_waiting_and_cancels_them(
    practice: Practice, waiting: Waiting, report, monkeypatch
):
    alice = practice.alice.exchange
    monkeypatch.setattr(pending_module, "MAX_OPEN_PENDING_SHARES", 1)
    first = alice.share_pending(waiting.document, waiting.invitation)
    # R28's default asks too: the document is sent, its patient's copy refused, said so.
    with pytest.raises(PatientCopyRefused, match="1 documents waiting") as refusal:
        alice.send(report, patient_file_id=waiting.patient_file, to=[])
    second = refusal.value.document_id
    assert second in [d.id for d in alice.documents()]
    assert "1 documents waiting" in refused(409, alice.share_pending, second, waiting.invitation)
    assert alice.cancel_pending(first.id).state == PendingState.CANCELLED
    assert alice.share_pending(second, waiting.invitation).state == PendingState.WAITING
    assert refused(404, practice.bob.exchange.cancel_pending, first.id)


def test_a_pending_share_expires_with_its_invitation(
    practice: Practice, waiting: Waiting, clock, client, users, outbox
):
    alice = practice.alice.exchange
    created = alice.share_pending(waiting.document, waiting.invitation)
    clock.advance(days=15)
    practice.alice.user.tokens = users.sign_in_again(practice.alice.user)
    [expired] = alice.pending_shares()
    assert (expired.id, expired.state) == (created.id, PendingState.EXPIRED)
    assert alice.patient_invitations(practice.id) == []
    assert refused(
        409, alice.call, "POST", f"/pending-shares/{created.id}/completion", json=_any_completion()
    )


def test_asking_completing_and_cancelling_are_journaled(
    practice: Practice, waiting: Waiting, client, users, outbox, ctx
):
    alice = practice.alice.exchange
    start = len(_entries(ctx))
    cancelled = alice.share_pending(waiting.document, waiting.invitation)
    alice.cancel_pending(cancelled.id)
    alice.share_pending(waiting.document, waiting.invitation)
    dave_joins(practice, client, users, outbox)
    [outcome] = alice.complete_pending_shares()
    assert outcome.completed
    actions = [
        e.action for e in _entries(ctx)[start:] if str(e.actor) == practice.alice.user.account_id
    ]
    assert [a for a in actions if a.endswith("_pending_share")] == [
        "records.create_pending_share",
        "records.cancel_pending_share",
        "records.create_pending_share",
        "records.complete_pending_share",
    ]
    # A refusal is an RFC 9457 problem.
    path = f"/pending-shares/{cancelled.id}"
    problem = client.delete(path, headers=practice.alice.signed("DELETE", path))
    assert problem.status_code == 409
    assert problem.headers["content-type"] == "application/problem+json"


def _entries(ctx) -> list[JournalEntry]:
    with ctx.sessions() as db:
        rows = db.scalars(select(JournalRecord.entry).order_by(JournalRecord.log_index)).all()
    return [JournalEntry.decode(e) for e in rows]


def _any_request(invitation: str) -> dict:
    return {
        "invitation_id": invitation,
        "version": 1,
        "statement": {
            "recipient_email": DAVE,
            "signer_key_index": 0,
            "signature": b64u_encode(bytes(64)),
        },
    }


def _any_completion() -> dict:
    return {
        "wrapped_key": b64u_encode(bytes(1200)),
        "statement": {
            "recipient_email": DAVE,
            "signer_key_index": 0,
            "signature": b64u_encode(bytes(64)),
        },
    }
