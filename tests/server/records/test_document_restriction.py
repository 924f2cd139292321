"""R28 (EHDS art. 8, restriction right): the patient restricts one document of their
file to themselves and its author; the other readers are refused its keys and content
(403, saying so) until the patient lifts it, and no one else is given it meanwhile."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from tests.server.records.conftest import (
    Person,
    Practice,
    colleague,
    next_version_readers,
    refused,
)
from uhealthsec.client.api import ApiError
from uhealthsec.crypto.journal import JournalEntry, Outcome
from uhealthsec.server.audit.models import JournalRecord
from uhealthsec.server.errors import DOCUMENT_RESTRICTED, SIGNATURE_REQUIRED
from uhealthsec.server.records.models import DocumentRestriction, Share, ShareStatementRecord


@pytest.fixture
def dave(practice: Practice, client, users, outbox) -> Person:
    """A colleague of Alice's practice (a care-team share)."""
    return colleague(practice, client, users, outbox, "dave@example.org")


@pytest.fixture
def restricted(practice: Practice, report) -> uuid.UUID:
    """Alice's document, read by Bob and Carol, which Carol (its patient) restricted."""
    document_id = practice.alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[practice.bob.email]
    )
    assert practice.carol.exchange.restrict(document_id) is not None
    return document_id


def _count(ctx, table) -> int:
    with ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(table))


def _refused_as_restricted(person: Person, method: str, path: str) -> None:
    answer = person.send(method, path)
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"] == DOCUMENT_RESTRICTED
    assert "the patient restricted this document" in problem["detail"]
    # Nothing of the document: no version, key, author or title.
    assert set(problem) <= {"type", "title", "status", "detail", "instance"}


def test_r28_a_restricted_document_is_refused_to_other_readers_and_read_by_patient_and_author(
    practice: Practice, restricted: uuid.UUID, report, tmp_path
):
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    _refused_as_restricted(bob, "GET", f"/documents/{restricted}")
    _refused_as_restricted(bob, "GET", f"/documents/{restricted}/versions/1/content")
    _refused_as_restricted(bob, "POST", f"/documents/{restricted}/versions/1/read")
    # His listing leaves it out rather than lists it with a refusal.
    assert restricted not in [d.id for d in bob.exchange.documents()]
    with pytest.raises(ApiError) as refusal:
        bob.exchange.fetch(restricted, tmp_path / "bob.txt")
    assert refusal.value.status == 403
    # The patient and the author read it, and are told it is restricted.
    for reader in (carol, alice):
        received = reader.exchange.fetch(restricted, tmp_path / f"{reader.email}.txt")
        assert received.path.read_bytes() == report.read_bytes()
        [listed] = [d for d in reader.exchange.documents() if d.id == restricted]
        assert listed.restricted_at is not None


def test_r28_no_one_else_is_given_a_restricted_document_and_nothing_is_written(
    practice: Practice, restricted: uuid.UUID, dave: Person, report, ctx
):
    alice = practice.alice
    shares, statements = _count(ctx, Share), _count(ctx, ShareStatementRecord)
    # A care-team share by the author herself.
    detail = refused(403, alice.exchange.share, restricted, [dave.email])
    assert "the patient restricted this document" in detail
    # A new version for Bob too (the author's client leaves him out while it is
    # restricted: a client that does not is refused).
    with next_version_readers(alice.exchange, add=[practice.bob.email]):
        detail = refused(403, alice.exchange.new_version, restricted, report)
    assert "the patient restricted this document" in detail
    assert (_count(ctx, Share), _count(ctx, ShareStatementRecord)) == (shares, statements)
    # A reader restricted from it cannot share it either (nor complete a pending share,
    # which is a share): he is refused as he is for reading it.
    detail = refused(403, practice.bob.exchange.share, restricted, [dave.email])
    assert "the patient restricted this document" in detail


def test_r28_only_the_patient_restricts_not_the_author_a_reader_or_a_stranger(
    practice: Practice, dave: Person, report, ctx
):
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    for reader in (alice, bob):  # the author, another reader
        detail = refused(403, reader.exchange.restrict, document_id)
        assert "only the patient of this document's file" in detail
        assert refused(403, reader.exchange.restrict, document_id, restricted=False)
    # A colleague of the practice who does not read it: as for a document not there.
    answer = dave.send("POST", f"/documents/{document_id}/restriction")
    assert answer.status_code == 404
    assert _count(ctx, DocumentRestriction) == 0


def test_r28_restricting_twice_is_one_restriction_and_lifting_it_gives_readers_back(
    practice: Practice, restricted: uuid.UUID, report, tmp_path, ctx
):
    bob, carol = practice.bob, practice.carol
    since = carol.exchange.document(restricted).restricted_at
    assert carol.exchange.restrict(restricted) == since
    assert _count(ctx, DocumentRestriction) == 1
    assert carol.exchange.restrict(restricted, restricted=False) is None
    assert carol.exchange.restrict(restricted, restricted=False) is None  # once is enough
    assert _count(ctx, DocumentRestriction) == 0
    # Bob's share was kept: he reads it again, listed as before.
    assert bob.exchange.fetch(restricted, tmp_path / "again.txt").path.read_bytes() == (
        report.read_bytes()
    )
    assert restricted in [d.id for d in bob.exchange.documents()]
    assert carol.exchange.document(restricted).restricted_at is None


def test_r28_restriction_and_lifting_are_journaled_by_the_patient_in_her_history(
    practice: Practice, restricted: uuid.UUID
):
    bob, carol = practice.bob, practice.carol
    bob.send("GET", f"/documents/{restricted}")
    carol.exchange.restrict(restricted, restricted=False)
    history = carol.exchange.call("GET", "/journal/history").json()
    seen = [(h["actor_name"], h["action"], h["outcome"]) for h in reversed(history)]
    restricting = seen.index(("Dr Carol", "records.restrict_document", "done"))
    refusal = seen.index(("Dr Bob", "records.document", "denied"))
    lifting = seen.index(("Dr Carol", "records.lift_restriction", "done"))
    assert restricting < refusal < lifting


def test_r28_an_unsigned_restriction_is_refused_and_writes_nothing(
    practice: Practice, restricted: uuid.UUID, client, ctx
):
    carol = practice.carol
    carol.exchange.restrict(restricted, restricted=False)
    path = f"/documents/{restricted}/restriction"
    answer = client.post(
        path,
        headers={
            "Authorization": f"Bearer {carol.user.tokens.access_token}",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    assert answer.status_code == 400
    assert answer.json()["type"] == SIGNATURE_REQUIRED
    assert _count(ctx, DocumentRestriction) == 0
    with ctx.sessions() as db:
        row = db.scalar(select(JournalRecord.entry).order_by(JournalRecord.log_index.desc()))
    entry = JournalEntry.decode(row)
    assert (entry.action, entry.outcome, entry.signature) == (
        "records.restrict_document",
        Outcome.REFUSED,
        None,
    )


def test_r28_a_reader_it_is_restricted_from_revokes_no_one_and_learns_nothing(
    practice: Practice, dave: Person, report
):
    """R28: Bob, who gave Dave the document before Carol restricted it, cannot revoke
    Dave while it is restricted, and the refusal says only that: not that its author
    wrote a version since."""
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    bob.exchange.share(document_id, [dave.email])
    carol.exchange.restrict(document_id)
    # Restricted: her client writes it for Carol and herself alone.
    alice.exchange.new_version(document_id, report)
    revocation = {
        "account_id": dave.user.account_id,
        "version": 1,
        "signer_key_index": 0,
        "signature": "A" * 86,
    }
    answer = bob.send("POST", f"/documents/{document_id}/revocations", revocation)
    assert answer.status_code == 403, answer.text
    assert answer.json()["type"] == DOCUMENT_RESTRICTED
    assert "version" not in answer.json()["detail"]


def test_r28_the_author_corrects_a_restricted_document_for_the_patient_alone(
    practice: Practice, restricted: uuid.UUID, report, tmp_path
):
    """R28: while the patient restricts a document its author may still correct it: the
    author's client writes the new version for the patient and the author alone (the
    other readers, refused it, are left out), and the patient reads it; once lifted,
    Bob reads the version he was given, and the correction only once it is shared."""
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    first = report.read_bytes()
    report.write_text("Compte rendu corrigé.\n")
    assert alice.exchange.new_version(restricted, report) == 2
    mine = carol.exchange.fetch(restricted, tmp_path / "corrected.txt")
    assert mine.path.read_text() == "Compte rendu corrigé.\n"
    carol.exchange.restrict(restricted, restricted=False)
    readers = {r.email for r in bob.exchange.document_view(restricted).recipients}
    assert readers == {alice.email, carol.email}
    assert bob.exchange.fetch(restricted, tmp_path / "given.txt").path.read_bytes() == first
    alice.exchange.share(restricted, [bob.email])
    assert bob.exchange.fetch(restricted, tmp_path / "shared.txt").path.read_text() == (
        "Compte rendu corrigé.\n"
    )
