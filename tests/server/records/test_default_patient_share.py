"""R28 (EHDS access right): a practitioner's new document is its patient's to read by
default, the patient proven by the sender's client; its author may hold the patient's
copy back up to 30 days, signed, and the server keeps it back until then."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.server.records.conftest import Practice, next_version_readers, refused
from tests.server.records.test_pending_shares import DAVE, invite_dave
from tests.server_fixtures import device
from uhealthsec.client.errors import ExchangeRefused
from uhealthsec.client.exchange.models import reader_of
from uhealthsec.client.exchange.sending import share_of
from uhealthsec.client.wire import body
from uhealthsec.crypto.journal import JournalEntry
from uhealthsec.crypto.manifest import NO_PREVIOUS, ShareStatement
from uhealthsec.protocol.pending import PendingState
from uhealthsec.protocol.records import DocumentIn, SharesIn, ShareStatementIn
from uhealthsec.server.audit.models import JournalRecord
from uhealthsec.server.records.models import Document, Share, ShareStatementRecord


def test_r28_a_new_document_is_readable_by_the_files_patient_with_no_explicit_share(
    practice: Practice, report, tmp_path
):
    alice, carol = practice.alice, practice.carol
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[])
    [listed] = carol.exchange.documents()
    assert (listed.id, listed.title, listed.available_from) == (document_id, report.name, None)
    received = carol.exchange.fetch(document_id, tmp_path / "mine.txt")
    assert received.path.read_bytes() == report.read_bytes()
    # The author may still leave the patient out, explicitly.
    private = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[], to_patient=False
    )
    assert private not in [d.id for d in carol.exchange.documents()]


def test_r28_a_held_back_copy_is_refused_the_day_before_and_read_on_the_day(
    practice: Practice, report, tmp_path, clock, users
):
    alice, carol = practice.alice, practice.carol
    on_the_day = clock.now + timedelta(days=3)
    document_id = alice.exchange.send(
        report,
        patient_file_id=practice.patient_file,
        to=[practice.bob.email],
        patient=carol.email,
        patient_available_from=on_the_day,
    )
    clock.advance(days=2)
    carol.user.tokens = users.sign_in_again(carol.user)
    # Listed with its date, neither its key nor its content served.
    [listed] = carol.exchange.documents()
    assert (listed.id, listed.available_from, listed.title) == (document_id, on_the_day, "")
    [version] = carol.exchange.document_view(document_id).versions
    assert version.wrapped_key is None and version.available_from == on_the_day
    path = f"/documents/{document_id}/versions/1/content"
    problem = carol.send("GET", path)
    assert problem.status_code == 403
    assert problem.headers["content-type"] == "application/problem+json"
    assert problem.json()["available_from"] == on_the_day.isoformat()
    with pytest.raises(ExchangeRefused, match="available to you from"):
        carol.exchange.fetch(document_id, tmp_path / "early.txt")
    # The others read it at once.
    practice.bob.user.tokens = users.sign_in_again(practice.bob.user)
    assert practice.bob.exchange.fetch(document_id, tmp_path / "bob.txt").size > 0
    clock.advance(days=1)
    carol.user.tokens = users.sign_in_again(carol.user)
    assert carol.exchange.fetch(document_id, tmp_path / "mine.txt").path.read_bytes() == (
        report.read_bytes()
    )


def test_r28_a_delay_beyond_30_days_or_past_is_refused_and_nothing_is_written(
    practice: Practice, report, clock, ctx
):
    alice = practice.alice
    with ctx.sessions() as db:
        before = db.scalar(select(func.count()).select_from(Document))
    for when, reason in (
        (clock.now + timedelta(days=31), "at most 30 days"),
        (clock.now - timedelta(hours=1), "past"),
    ):
        detail = refused(
            400,
            alice.exchange.send,
            report,
            patient_file_id=practice.patient_file,
            to=[],
            patient_available_from=when,
        )
        assert reason in detail
    with ctx.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Document)) == before
        assert db.scalar(select(func.count()).select_from(Share)) == 0


def test_r28_the_date_is_the_authors_and_only_for_the_patient(
    practice: Practice, report, clock, ctx, monkeypatch
):
    """A date the author did not sign, or on anyone else's share, is refused."""
    alice, bob = practice.alice, practice.bob
    when = clock.now + timedelta(days=3)
    # The date on Bob's share: the server refuses it (the SDK puts it on the patient's).
    recipients = alice.exchange._recipients([bob.email])
    delays = {recipients[1].account_id: when}
    detail = refused(400, _send_with_delays, alice, practice, report, recipients, delays)
    assert "only the patient's copy" in detail
    # The patient's date moved after signing: the statement no longer verifies.
    sent = alice.exchange.send
    honest = alice.exchange.call

    def moving(method, path, **kwargs):
        if method == "POST" and path == "/documents":
            for share in kwargs["json"]["shares"]:
                if share.get("available_from"):
                    share["available_from"] = (when - timedelta(days=1)).isoformat()
        return honest(method, path, **kwargs)

    alice.exchange.call = moving
    try:
        refused(
            400,
            sent,
            report,
            patient_file_id=practice.patient_file,
            to=[],
            patient_available_from=when,
        )
    finally:
        del alice.exchange.call
    with ctx.sessions() as db:
        assert db.scalar(select(func.count()).select_from(ShareStatementRecord)) == 0


def _send_with_delays(alice, practice, report, recipients, delays):
    """A first version as the SDK posts it, with ``delays`` on whichever shares."""
    document_id = uuid.uuid4()
    version, _ = alice.exchange._prepare_version(
        document_id,
        uuid.UUID(practice.patient_file),
        1,
        report,
        None,
        None,
        recipients,
        {},
        None,
        NO_PREVIOUS,
        delays,
    )
    request = DocumentIn(
        id=document_id, patient_file_id=uuid.UUID(practice.patient_file), **dict(version)
    )
    return alice.exchange.call("POST", "/documents", json=body(request))


def test_r28_a_server_naming_another_account_as_the_patient_gets_no_copy(
    practice: Practice, report, users, ctx, monkeypatch, client
):
    """R28, PROTOCOL 11.7: the patient a document defaults to is the author's word (the
    address named, or the one this device opened the file for), proven in the key
    directory; never the server's alone."""
    alice = practice.alice
    mallory = users.signed_in("mallory@example.org", "patient")
    honest = alice.exchange.call
    posted = []

    def lying(method, path, **kwargs):
        posted.append((method, path))
        response = honest(method, path, **kwargs)
        if method == "GET" and path == f"/patient-files/{practice.patient_file}":
            answer = response.json()
            answer.update(lie)
            response._content = json.dumps(answer).encode()
        return response

    monkeypatch.setattr(alice.exchange, "call", lying)
    # Carol's address for Mallory's account: the key directory proves otherwise.
    lie = {"patient_id": mallory.account_id}
    with pytest.raises(ExchangeRefused, match="another account than the one the server names"):
        alice.exchange.send(report, patient_file_id=practice.patient_file, to=[])
    # Mallory named in full: not the patient the author knows, whether the author names
    # her or this device opened the file for her address.
    lie = {"patient_id": mallory.account_id, "patient_email": mallory.email}
    with pytest.raises(ExchangeRefused, match=r"not carol@example\.org's"):
        alice.exchange.send(
            report, patient_file_id=practice.patient_file, to=[], patient=practice.carol.email
        )
    with pytest.raises(ExchangeRefused, match=r"not carol@example\.org's"):
        alice.exchange.send(report, patient_file_id=practice.patient_file, to=[])
    # Another device of hers, which never opened the file, takes no one's word but hers.
    other_device = device(client, users, alice.user)
    monkeypatch.setattr(other_device, "call", lying)
    with pytest.raises(ExchangeRefused, match="does not know whom this patient file is about"):
        other_device.send(report, patient_file_id=practice.patient_file, to=[])
    # Refused before anything was encrypted or sent.
    assert not [p for m, p in posted if m == "POST"]
    with ctx.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Share)) == 0


def test_r28_a_patient_with_no_account_yet_gets_a_pending_share_by_default(
    practice: Practice, report
):
    waiting = invite_dave(practice)
    alice = practice.alice.exchange
    document_id = alice.send(report, patient_file_id=waiting.patient_file, to=[])
    [pending] = alice.pending_shares()
    assert (pending.document_id, pending.patient_email, pending.state) == (
        document_id,
        DAVE,
        PendingState.WAITING,
    )


def test_r28_the_journal_records_the_signed_delay_and_the_refusal(
    practice: Practice, report, clock, users, ctx
):
    alice, carol = practice.alice, practice.carol
    when = clock.now + timedelta(days=3)
    start = _count(ctx)
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[], patient_available_from=when
    )
    carol.send("GET", f"/documents/{document_id}/versions/1/content")
    entries = _entries(ctx)[start:]
    [created] = [e for e in entries if e.action == "records.create_document"]
    # The entry holds Alice's signature over the request, whose body holds the date.
    assert str(created.actor) == alice.user.account_id and created.signature is not None
    [early] = [e for e in entries if e.action == "records.content"]
    assert (str(early.actor), early.status) == (carol.user.account_id, 403)
    with ctx.sessions() as db:
        statement = db.scalar(select(ShareStatementRecord))
        share = db.scalar(select(Share).where(Share.recipient_id == statement.recipient_id))
    assert str(statement.recipient_id) == carol.user.account_id
    assert statement.available_from == share.available_from == when


def _count(ctx) -> int:
    with ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(JournalRecord))


def _entries(ctx) -> list[JournalEntry]:
    with ctx.sessions() as db:
        rows = db.scalars(select(JournalRecord.entry).order_by(JournalRecord.log_index)).all()
    return [JournalEntry.decode(e) for e in rows]


def test_r28_moving_the_date_of_a_copy_the_patient_holds_is_refused_and_changes_nothing(
    practice: Practice, report, clock
):
    """R28: a share once granted stays as it is: the author signing another date for
    the patient's copy of the same version is refused (409), not dropped in silence
    while the new statement is served; the first date holds."""
    alice, carol = practice.alice, practice.carol
    first, later = clock.now + timedelta(days=3), clock.now + timedelta(days=10)
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[], patient_available_from=first
    )
    ex = alice.exchange
    [version] = ex.document_view(document_id).versions
    entry = ex.directory.lookup(carol.email)
    signer = ex.my_entry()
    statement = ShareStatementIn(
        recipient_email=entry.entry.email,
        signer_key_index=signer.index,
        signature=ShareStatement(
            document_id, 1, ex.account.id, signer.index, reader_of(entry), int(later.timestamp())
        ).sign(ex.keys.signing),
    )
    moved = share_of(
        ex._version_key(version), version.envelope_header, entry, None, statement
    ).model_copy(update={"available_from": later})
    detail = refused(
        409,
        ex.call,
        "POST",
        f"/documents/{document_id}/shares",
        json=body(SharesIn(version=1, shares=[moved])),
    )
    assert "its date does not change" in detail
    served = carol.send("GET", f"/documents/{document_id}").json()["versions"][0]
    assert served["available_from"] == first.isoformat().replace("+00:00", "Z")
    assert [s["available_from"] for s in served["statements"]] == [served["available_from"]]


def _held_back_then_corrected_without_her(practice: Practice, report, when) -> uuid.UUID:
    """Alice's document for Bob, Carol's copy held back until ``when``, and its version 2
    written for Bob alone (Carol still waits for version 1)."""
    alice = practice.alice
    document_id = alice.exchange.send(
        report,
        patient_file_id=practice.patient_file,
        to=[practice.bob.email],
        patient_available_from=when,
    )
    with next_version_readers(alice.exchange, leave_out=[practice.carol.user.account_id]):
        alice.exchange.new_version(document_id, report)
    return document_id


def test_r28_a_colleagues_version_keeps_back_what_the_author_holds_back(
    practice: Practice, report, clock, users
):
    """R28: the author holds version 1 back and writes version 2 without the patient; a
    colleague's version 3 giving her the document again waits for the author's date."""
    bob, carol = practice.bob, practice.carol
    when = clock.now + timedelta(days=3)
    document_id = _held_back_then_corrected_without_her(practice, report, when)
    with next_version_readers(bob.exchange, add=[carol.email]):
        assert bob.exchange.new_version(document_id, report) == 3
    early = carol.send("GET", f"/documents/{document_id}/versions/3/content")
    assert early.status_code == 403 and early.json()["available_from"] == when.isoformat()
    clock.advance(days=3)
    carol.user.tokens = users.sign_in_again(carol.user)  # her tokens ended meanwhile
    assert carol.send("GET", f"/documents/{document_id}/versions/3/content").status_code == 200


def test_r28_no_read_receipt_before_the_date_and_30_days_from_a_fast_clock(
    practice: Practice, report, clock
):
    """R28: before its date the patient holds no key, so a read receipt then is refused
    (the first receipt never moves: it would say "read" too early); a device whose
    clock is a few minutes ahead may still ask for 30 days from it."""
    alice, carol = practice.alice, practice.carol
    document_id = alice.exchange.send(
        report,
        patient_file_id=practice.patient_file,
        to=[],
        patient_available_from=clock.now + timedelta(days=3),
    )
    early = carol.send("POST", f"/documents/{document_id}/versions/1/read")
    assert early.status_code == 403, early.text
    fast = clock.now.replace(microsecond=0) + timedelta(minutes=5)
    alice.exchange.send(
        report,
        patient_file_id=practice.patient_file,
        to=[],
        patient_available_from=fast + timedelta(days=30),
    )


def test_r28_a_colleagues_share_keeps_back_what_the_author_holds_back(
    practice: Practice, report, clock
):
    """R28: the author holds version 1 back and writes version 2 without the patient; a
    colleague sharing version 2 with her gives it to her on the author's date, not
    before."""
    bob, carol = practice.bob, practice.carol
    when = clock.now + timedelta(days=3)
    document_id = _held_back_then_corrected_without_her(practice, report, when)
    bob.exchange.share(document_id, [carol.email])
    early = carol.send("GET", f"/documents/{document_id}/versions/2/content")
    assert early.status_code == 403 and early.json()["available_from"] == when.isoformat()
