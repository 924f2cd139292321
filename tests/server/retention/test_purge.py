"""Retention through the API and the purge by crypto-shredding (both databases)."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.server.records.conftest import Person, Practice, device
from tests.server_fixtures import PASSWORD
from uhealthsec.client.api import ApiError
from uhealthsec.client.exchange.messaging import MessagingClient
from uhealthsec.crypto import envelope
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.keystore import Keystore, unlock_with_password
from uhealthsec.crypto.wrap import unwrap_document_key
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.messaging.models import Message, MessageKey, Thread
from uhealthsec.server.records.models import Blob, Document, DocumentVersion, Share
from uhealthsec.server.retention.rules import add_years
from uhealthsec.server.retention.service import purge


@pytest.fixture
def dan(practice: Practice, client, users, outbox) -> tuple[Person, str]:
    """A second patient of Alice's practice, with a file of his own."""
    user = users.signed_in("dan@example.org", "patient")
    person = Person(user, device(client, users, user))
    users.join_practice(practice.alice.user, practice.id, user)
    return person, practice.alice.exchange.patient_file(practice.id, user.email)["id"]


def retention(practice: Practice, patient_file: str, **facts: str) -> dict:
    path = f"/patient-files/{patient_file}/retention"
    if facts:
        return practice.alice.exchange.call("PUT", path, json=facts).json()
    return practice.alice.exchange.call("GET", path).json()


def test_end_dates_from_the_facts_recorded(practice: Practice, clock, users):
    today = clock.now.date()
    # Only the practice's members see it.
    with pytest.raises(ApiError) as refused:
        practice.bob.exchange.call("GET", f"/patient-files/{practice.patient_file}/retention")
    assert refused.value.status == 404
    unknown = retention(practice, practice.patient_file)
    assert (unknown["keep_until"], unknown["basis"]) == (None, "birth_date_unknown")
    assert unknown["last_care_on"] == today.isoformat()

    adult = retention(practice, practice.patient_file, born_on="1970-05-04")
    assert adult["keep_until"] == add_years(today, 20).isoformat()
    assert adult["explanation"] == "20 years after the last care (CSP R1112-7)"
    # The practice keeps files 30 years.
    practice.alice.exchange.call(
        "PUT",
        f"/practices/{practice.id}/retention-policy",
        json={"years": 30, "archive_after_years": 5},
    )
    assert retention(practice, practice.patient_file)["keep_until"] == (
        add_years(today, 30).isoformat()
    )

    # A claim stops the clock; closed after 40 days, the end moves by 40 days.
    path = f"/patient-files/{practice.patient_file}/retention/claim"
    opened = practice.alice.exchange.call("POST", path, json={"on": today.isoformat()}).json()
    assert (opened["keep_until"], opened["basis"]) == (None, "suspended")
    clock.advance(days=40)
    practice.alice.user.tokens = users.sign_in_again(practice.alice.user)
    closed = practice.alice.exchange.call(
        "POST", path + "/close", json={"on": clock.now.date().isoformat()}
    ).json()
    assert closed["keep_until"] == (add_years(today, 30) + timedelta(days=40)).isoformat()

    # Dates in the future or before the birth are refused.
    for facts in ({"died_on": "2999-01-01"}, {"last_care_on": "1960-01-01"}):
        with pytest.raises(ApiError) as refused:
            retention(practice, practice.patient_file, **facts)
        assert refused.value.status == 400


def test_old_files_are_archived_out_of_daily_views(practice: Practice, dan, clock, users):
    """R15: files without care for 5 years leave the daily list."""
    alice = practice.alice
    _, dan_file = dan
    clock.advance(days=366 * 5 + 2)
    alice.user.tokens = users.sign_in_again(alice.user)
    # Dan came back last week; Carol has not been seen for five years.
    last_week = (clock.now.date() - timedelta(days=7)).isoformat()
    retention(practice, dan_file, last_care_on=last_week)
    assert retention(practice, practice.patient_file)["archived"] is True
    assert retention(practice, dan_file)["archived"] is False

    def listed(**params: str) -> list[str]:
        files = alice.exchange.call(
            "GET", "/patient-files", params={"practice_id": practice.id, **params}
        ).json()
        return [f["id"] for f in files]

    assert listed() == [dan_file]
    assert sorted(listed(archived="true")) == sorted([dan_file, practice.patient_file])


def _blobs_of(ctx, patient_file: str) -> dict[str, bytes]:
    with ctx.sessions() as db:
        ids = db.scalars(
            select(DocumentVersion.blob_id)
            .join(Document, Document.id == DocumentVersion.document_id)
            .where(Document.patient_file_id == uuid.UUID(patient_file))
        ).all()
    return {i.hex: b"".join(ctx.blobs.read(i.hex)) for i in ids}


def _every_key_left(ctx) -> tuple[list[bytes], list]:
    """Every wrapped key the server still holds, and every user's private keys (each
    keystore opened with the password, as if every user helped the attacker)."""
    with ctx.sessions() as db:
        wrapped = [w for w in db.scalars(select(Share.wrapped_key)).all() if w is not None]
        wrapped += list(db.scalars(select(MessageKey.wrapped_key)).all())
        keystores = db.scalars(select(Account.keystore)).all()
    return wrapped, [unlock_with_password(Keystore.decode(k), PASSWORD) for k in keystores]


def _decryptable(envelope_bytes: bytes, wrapped: list[bytes], users: list) -> bool:
    header = envelope_bytes[: envelope.HEADER_SIZE]
    for key in wrapped:
        for user_keys in users:
            try:
                document_key = unwrap_document_key(key, user_keys, header)
                envelope.decrypt(document_key, envelope_bytes)
                return True
            except CryptoError:
                continue
    return False


def test_purge_destroys_exactly_what_expired(practice: Practice, dan, ctx, clock, report, tmp_path):
    """R16: at the end of retention the keys then the blobs are destroyed, journaled."""
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    dan_person, dan_file = dan
    carol_document = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email, carol.email]
    )
    alice.exchange.new_version(carol_document, report)
    dan_document = alice.exchange.send(report, patient_file_id=dan_file, to=[dan_person.email])
    today = clock.now.date()
    # Carol died today (never before the file's first care): her file is kept 10 years
    # after; Dan's 20 years.
    died = today
    carol_status = retention(
        practice, practice.patient_file, born_on="1940-02-03", died_on=str(died)
    )
    retention(practice, dan_file, born_on="1980-01-01")
    last_day = add_years(died, 10)
    assert (carol_status["keep_until"], carol_status["basis"]) == (last_day.isoformat(), "death")

    # On the last day nothing goes; the dry run of the next day lists Carol's file only.
    assert purge(ctx, last_day) == []
    [listed] = purge(ctx, last_day + timedelta(days=1), dry_run=True)
    assert (listed.patient_file_id, listed.documents) == (uuid.UUID(practice.patient_file), 1)
    assert [d.id for d in carol.exchange.documents()] == [carol_document]  # dry run: nothing gone

    # An attacker's copy of the blobs, taken before the purge; with the wrapped keys
    # still there, the copies can be decrypted (the check below can succeed).
    copies = _blobs_of(ctx, practice.patient_file)
    assert len(copies) == 2 and listed.bytes == sum(len(c) for c in copies.values())
    wrapped, every_user = _every_key_left(ctx)
    assert all(_decryptable(c, wrapped, every_user) for c in copies.values())

    [destroyed] = purge(ctx, last_day + timedelta(days=1))
    assert destroyed.patient_file_id == uuid.UUID(practice.patient_file)
    assert purge(ctx, last_day + timedelta(days=1)) == []  # a second run changes nothing

    # Carol's documents are gone for everyone, their blobs from the store; Dan's stay.
    assert [d.id for d in alice.exchange.documents()] == [dan_document]
    assert bob.exchange.documents() == [] and carol.exchange.documents() == []
    assert not set(copies) & set(ctx.blobs.keys())
    received = dan_person.exchange.fetch(dan_document, tmp_path / "dan.txt")
    assert received.path.read_bytes() == report.read_bytes()
    with ctx.sessions() as db:
        assert db.scalar(select(Document).where(Document.id == carol_document)) is None
        assert db.scalars(select(Blob.id)).all() == [uuid.UUID(k) for k in _blobs_of(ctx, dan_file)]
    assert retention(practice, practice.patient_file)["shredded_at"] is not None

    # No key left anywhere in the system opens the copies.
    wrapped, every_user = _every_key_left(ctx)
    assert wrapped and every_user
    assert not any(_decryptable(c, wrapped, every_user) for c in copies.values())

    # Carol sees the destruction in her access history.
    history = carol.exchange.call("GET", "/journal/history").json()
    [purged] = [h for h in history if h["action"] == "retention.purge"]
    assert purged["actor_id"] is None and purged["outcome"] == "done"


def test_several_workers_destroy_each_file_once(practice: Practice, dan, ctx, clock, report):
    alice = practice.alice.exchange
    _, dan_file = dan
    for patient_file in (practice.patient_file, dan_file):
        alice.send(report, patient_file_id=patient_file, to=[])
        retention(practice, patient_file, born_on="1950-01-01")
    later = add_years(clock.now.date(), 20) + timedelta(days=1)
    results: list = []
    errors: list = []

    def worker() -> None:
        try:
            results.extend(purge(ctx, later))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(str(d.patient_file_id) for d in results) == sorted(
        [practice.patient_file, dan_file]
    )
    assert alice.documents() == []


def test_new_care_after_destruction_starts_a_new_period(
    practice: Practice, ctx, clock, report, users
):
    alice = practice.alice.exchange
    alice.send(report, patient_file_id=practice.patient_file, to=[])
    retention(practice, practice.patient_file, born_on="1950-01-01")
    later = add_years(clock.now.date(), 20) + timedelta(days=1)
    assert len(purge(ctx, later)) == 1
    clock.advance(days=1)
    practice.alice.user.tokens = users.sign_in_again(practice.alice.user)
    document = alice.send(report, patient_file_id=practice.patient_file, to=[])
    status = retention(practice, practice.patient_file)
    assert status["shredded_at"] is None
    assert status["keep_until"] == add_years(clock.now.date(), 20).isoformat()
    assert purge(ctx, later) == []
    assert [d.id for d in alice.documents()] == [document]


def _threads_left(ctx) -> set[uuid.UUID]:
    with ctx.sessions() as db:
        threads = set(db.scalars(select(Thread.id)).all())
        keys = set(
            db.scalars(
                select(Message.thread_id).join(MessageKey, MessageKey.message_id == Message.id)
            ).all()
        )
    assert keys <= threads
    return threads


def test_r16_messages_with_the_patient_go_with_the_last_file_that_holds_them(
    practice: Practice, ctx, clock, users, client
):
    """R16: a conversation with the patient is destroyed, keys first, with the last of
    the patient's files (one per practice of its participants) to be destroyed; a
    conversation between practitioners only is not a file's. A file holding only
    messages is destroyed as one with documents."""
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    # Bob's own practice also treats Carol.
    elsewhere = bob.exchange.call("POST", "/practices", json={"name": "Kine"}).json()["id"]
    users.join_practice(bob.user, elsewhere, carol.user)
    bobs_file = bob.exchange.patient_file(elsewhere, carol.email)["id"]

    def conversation(author: Person, *others: Person) -> uuid.UUID:
        messaging = MessagingClient(author.exchange)
        thread = messaging.start_thread([o.email for o in others])
        messaging.send(thread["id"], "Le compte rendu est disponible.")
        return uuid.UUID(thread["id"])

    alice_and_carol = conversation(alice, carol)
    all_three = conversation(alice, carol, bob)
    colleagues = conversation(alice, bob)
    # Carol's death is recorded in Alice's file only: it is kept 10 years, Bob's 20.
    today = clock.now.date()
    retention(practice, practice.patient_file, born_on="1950-01-01", died_on=str(today))
    facts = {"born_on": "1950-01-01"}
    bob.exchange.call("PUT", f"/patient-files/{bobs_file}/retention", json=facts)
    later = add_years(today, 10) + timedelta(days=1)
    assert _threads_left(ctx) == {alice_and_carol, all_three, colleagues}

    # Alice's file goes first.
    [destroyed] = purge(ctx, later)
    assert str(destroyed.patient_file_id) == practice.patient_file
    # Their conversation went with it; the one Bob's file still holds stays.
    assert _threads_left(ctx) == {all_three, colleagues}
    assert retention(practice, practice.patient_file)["shredded_at"] is not None
    history = carol.exchange.call("GET", "/journal/history").json()
    assert [h["action"] for h in history].count("retention.purge") == 1
    assert purge(ctx, later) == []  # a second run changes nothing

    # Alice writes to Carol again: her file's retention starts again, as for a document.
    again = conversation(alice, carol)
    assert retention(practice, practice.patient_file)["shredded_at"] is None
    # A practice that opened no file of Carol writes to her: no file holds it.
    dan_user = users.signed_in("dan.osteo@example.org", "practitioner")
    dan = Person(dan_user, device(client, users, dan_user))
    third = dan.exchange.call("POST", "/practices", json={"name": "Osteo"}).json()["id"]
    users.join_practice(dan_user, third, carol.user)
    unheld = conversation(dan, carol)
    assert _threads_left(ctx) == {all_three, colleagues, again, unheld}

    # Then the last files: Bob's, and Alice's again; everything with Carol goes.
    last = add_years(today, 20) + timedelta(days=1)
    destroyed = purge(ctx, last)
    assert {str(d.patient_file_id) for d in destroyed} == {bobs_file, practice.patient_file}
    assert _threads_left(ctx) == {colleagues}
