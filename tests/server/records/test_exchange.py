"""Send, receive, share, revoke and re-version through the API with SDK clients."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.server.records.conftest import Practice, next_version_body
from uhealthsec.client.api import ApiError
from uhealthsec.client.consent import ConsentClient
from uhealthsec.client.errors import ExchangeRefused


def test_send_receive_share_revoke_and_new_version(practice: Practice, report, tmp_path):
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document_id = alice.exchange.send(
        report,
        patient_file_id=practice.patient_file,
        to=[bob.email],
        title="Bilan tensionnel",
        to_patient=False,  # shared with Carol explicitly below
    )

    [summary] = bob.exchange.documents()
    assert (summary.id, summary.title, summary.author_email) == (
        document_id,
        "Bilan tensionnel",
        alice.email,
    )
    assert sorted(summary.recipients) == [alice.email, bob.email]
    (tmp_path / "bob").mkdir()
    received = bob.exchange.fetch(document_id, tmp_path / "bob")
    assert received.path.read_bytes() == report.read_bytes()
    assert received.path.name == "compte-rendu.txt"
    assert received.signer.entry.email == alice.email
    assert carol.exchange.documents() == []

    alice.exchange.share(document_id, [carol.email])
    (tmp_path / "carol").mkdir()
    assert carol.exchange.fetch(document_id, tmp_path / "carol").path.read_bytes() == (
        report.read_bytes()
    )

    assert alice.exchange.revoke(document_id, bob.email) == 1
    with pytest.raises(ApiError) as refused:
        bob.exchange.fetch(document_id, tmp_path / "bob" / "again.txt")
    assert refused.value.status == 404
    assert bob.exchange.documents() == []

    report.write_bytes(b"Version 2: traitement adapte.\n")
    assert alice.exchange.new_version(document_id, report) == 2
    latest = carol.exchange.fetch(document_id, tmp_path / "carol" / "v2.txt")
    assert (latest.version, latest.path.read_bytes()) == (2, b"Version 2: traitement adapte.\n")
    assert sorted(alice.exchange.document(document_id).recipients) == [alice.email, carol.email]


def test_a_share_ends_when_it_expires(practice: Practice, report, tmp_path, clock, users):
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(
        report,
        patient_file_id=practice.patient_file,
        to=[bob.email],
        expires_at=clock.now + timedelta(hours=1),
    )
    assert [d.id for d in bob.exchange.documents()] == [document_id]
    clock.advance(hours=2)
    bob.user.tokens = users.sign_in_again(bob.user)
    assert bob.exchange.documents() == []
    with pytest.raises(ApiError):
        bob.exchange.fetch(document_id, tmp_path / "late.txt")


def test_a_new_version_cannot_reach_a_revoked_reader(practice: Practice, report):
    """The server refuses a version wrapped for someone whose access was revoked, even
    from a client that tries."""
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    alice.exchange.revoke(document_id, bob.email)
    version = next_version_body(
        practice, report, document_id, alice.exchange, alice.exchange._recipients([bob.email])
    )
    with pytest.raises(ApiError) as refused:
        alice.exchange.call(
            "POST", f"/documents/{document_id}/versions", json={"number": 2, **version}
        )
    assert refused.value.status == 403
    assert "cannot read the previous version" in refused.value.detail


def test_patients_receive_only_their_own_file(practice: Practice, report, users, client):
    from tests.server.records.conftest import device

    dave = users.signed_in("dave@example.org", "patient")
    # Dave is another patient of the practice: Alice sees his keys, not his file.
    users.join_practice(practice.alice.user, practice.id, dave)
    with pytest.raises(ApiError) as refused:
        practice.alice.exchange.send(
            report, patient_file_id=practice.patient_file, to=["dave@example.org"]
        )
    assert refused.value.status == 403
    # Patients are not listed in the directory for other patients.
    with pytest.raises(ApiError) as hidden:
        device(client, users, dave).directory.lookup("carol@example.org")
    assert hidden.value.status == 404


def consent_to_everyone_outside(practice: Practice) -> None:
    ConsentClient(practice.carol.exchange).decide(practice.id, "outside_team", "permit")


def test_someone_who_joined_after_the_verified_head_is_found(practice: Practice, report, users):
    alice = practice.alice.exchange
    before = alice.directory.refresh().size
    users.signed_in("dave@example.org")
    consent_to_everyone_outside(practice)
    alice.send(report, patient_file_id=practice.patient_file, to=["dave@example.org"])
    assert alice.directory.head().size == before + 2  # an entry and a map commitment


def test_more_readers_than_one_request_carries(practice: Practice, report, ctx, tmp_path):
    """Registering readers straight in the database keeps this test fast; the SDK sends
    the first 100 wrapped keys with the version and the rest in further requests."""
    from tests.server.records.bulk import add_practitioners

    emails = add_practitioners(ctx, 120)
    consent_to_everyone_outside(practice)
    document_id = practice.alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=emails
    )
    # The author, the patient (R28: by default) and the 120.
    assert len(practice.alice.exchange.document(document_id).recipients) == 122


def test_the_inbox_lists_the_most_recent_first_a_page_at_a_time(practice: Practice, report, clock):
    alice, bob = practice.alice.exchange, practice.bob.exchange
    sent = []
    for title in ("first", "second", "third"):
        clock.advance(minutes=1)
        sent.append(
            alice.send(
                report, patient_file_id=practice.patient_file, to=["bob@example.org"], title=title
            )
        )
    clock.advance(minutes=1)
    alice.new_version(sent[0], report, title="first, revised")
    assert [d.title for d in bob.documents(limit=2)] == ["first, revised", "third"]
    assert [d.title for d in bob.documents(limit=2, offset=2)] == ["second"]


def test_a_version_is_reported_as_signed_by_the_key_that_verified_it(
    practice: Practice, report, tmp_path
):
    """Any practitioner reader may write a new version: a colleague's words must not be
    shown as signed by the document's author (``uhs get`` prints ``author_email``)."""
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    rewritten = tmp_path / "compte-rendu.txt"
    rewritten.write_bytes(b"Compte rendu: arret de tous les traitements.\n")
    assert bob.exchange.new_version(document_id, rewritten) == 2

    (tmp_path / "alice").mkdir()
    received = alice.exchange.fetch(document_id, tmp_path / "alice")
    assert received.path.read_bytes() == rewritten.read_bytes()
    assert (received.signer.entry.email, received.author_email) == (bob.email, bob.email)
    assert received.document_author_email == alice.email


def test_a_download_never_writes_over_a_file_of_the_same_name(practice, report, tmp_path):
    """The name a document is saved under is its author's choice: a file of that name
    in the folder (the user's own, or an earlier download) is left as it is, and the
    download refused, unless the user asks for it to be replaced."""
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    folder = tmp_path / "downloads"
    folder.mkdir()
    mine = folder / report.name
    mine.write_bytes(b"the user's own file\n")
    with pytest.raises(ExchangeRefused, match="exists already"):
        bob.exchange.fetch(document_id, folder)
    with pytest.raises(ExchangeRefused, match="exists already"):
        bob.exchange.fetch(document_id, mine)
    assert mine.read_bytes() == b"the user's own file\n"
    assert sorted(p.name for p in folder.iterdir()) == [report.name]  # nothing left behind
    replaced = bob.exchange.fetch(document_id, folder, replace=True)
    assert replaced.path == mine and mine.read_bytes() == report.read_bytes()
