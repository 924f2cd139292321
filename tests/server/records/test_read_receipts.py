"""Read receipts of documents: a version is new to each reader until they opened it
(decrypted, signature verified) and said so; the first receipt stays; only a reader
of that version may send one (both databases)."""

from __future__ import annotations

from tests.server.records.conftest import Practice, refused


def _read_at(person, document_id) -> list:
    view = person.exchange.call("GET", f"/documents/{document_id}").json()
    return [v["read_at"] for v in view["versions"]]


def test_a_version_is_new_to_its_readers_until_they_open_it(
    practice: Practice, report, clock, tmp_path
):
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    # The author wrote it: read. Bob did not open it yet: new, in his inbox as well.
    assert _read_at(alice, document_id) != [None]
    assert _read_at(bob, document_id) == [None]
    [listed] = [d for d in bob.exchange.documents() if d.id == document_id]
    assert listed.read_at is None

    # Opening it (the SDK's fetch: decrypted, verified, then the receipt).
    bob.exchange.fetch(document_id, tmp_path / "bob")
    [first] = _read_at(bob, document_id)
    assert first is not None
    [listed] = [d for d in bob.exchange.documents() if d.id == document_id]
    assert listed.read_at is not None

    # A later receipt does not move the first.
    clock.advance(seconds=30)
    bob.exchange.call("POST", f"/documents/{document_id}/versions/1/read")
    assert _read_at(bob, document_id) == [first]


def test_only_a_reader_of_the_version_sends_its_receipt(practice: Practice, report):
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email], to_patient=False
    )
    refused(404, carol.exchange.call, "POST", f"/documents/{document_id}/versions/1/read")
    refused(404, bob.exchange.call, "POST", f"/documents/{document_id}/versions/2/read")
    alice.exchange.revoke(document_id, bob.email)
    # Revoked: the document is no longer his at all.
    refused(404, bob.exchange.call, "POST", f"/documents/{document_id}/versions/1/read")
