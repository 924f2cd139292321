"""Who may grant and end a share: a reader never takes a document away from its author
or its patient (both databases)."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest

from tests.conftest import served_checkpoint
from tests.server.records.conftest import (
    Person,
    Practice,
    colleague,
    device,
    next_version_body,
    refused,
)
from tests.server.records.test_exchange import consent_to_everyone_outside
from uhealthsec.client.consent import ConsentClient
from uhealthsec.crypto.wrap import wrap_document_key
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode
from uhealthsec.server.bootstrap import bootstrap
from uhealthsec.server.incidents.anomalies.rules import PARIS


def garbage_grant(sender: Person, to: str, version: dict, expires_at: str | None = None) -> dict:
    """A well-formed wrapped key for ``to`` that holds a random key, not the document's."""
    entry = sender.exchange.directory.lookup(to)
    header = b64u_decode(version["envelope_header"])
    wrapped = wrap_document_key(os.urandom(32), entry.entry.public_keys, header)
    return {
        "recipient_id": str(entry.account_id),
        "wrapped_key": b64u_encode(wrapped),
        "expires_at": expires_at,
    }


def post_grants(sender: Person, document_id: uuid.UUID, *grants: dict) -> dict:
    return sender.exchange.call(
        "POST", f"/documents/{document_id}/shares", json={"version": 1, "shares": list(grants)}
    ).json()


def test_a_reader_cannot_destroy_the_authors_or_the_patients_access(
    practice: Practice, report, clock, users, tmp_path
):
    """The attack of issue 15: Bob, a reader who is not the author, re-shares to the
    patient to become her share's grantor and revokes her, then re-shares to the author
    with a garbage key and a short expiry."""
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email, carol.email]
    )
    [version] = bob.exchange.call("GET", f"/documents/{document_id}").json()["versions"]

    view = post_grants(bob, document_id, garbage_grant(bob, carol.email, version))
    grantors = {r["email"]: r["granted_by"] for r in view["recipients"]}
    assert grantors[carol.email] == alice.user.account_id  # the original grant stays
    assert "only the author" in refused(403, bob.exchange.revoke, document_id, carol.email)

    soon = (clock.now + timedelta(minutes=5)).isoformat()
    refused(400, post_grants, bob, document_id, garbage_grant(bob, alice.email, version, soon))
    view = post_grants(bob, document_id, garbage_grant(bob, alice.email, version))
    assert {r["email"]: r["expires_at"] for r in view["recipients"]}[alice.email] is None
    refused(403, bob.exchange.revoke, document_id, alice.email)

    clock.advance(minutes=10)
    for person in (alice, carol):
        person.user.tokens = users.sign_in_again(person.user)
        received = person.exchange.fetch(document_id, tmp_path / person.email)
        assert received.path.read_bytes() == report.read_bytes()


def test_only_the_author_the_grantor_or_the_practice_admin_end_a_share(
    practice: Practice, report, users, client, outbox, tmp_path
):
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    consent_to_everyone_outside(practice)
    erin, frank = (
        Person(u, device(client, users, u))
        for u in (users.signed_in(f"{n}@example.org") for n in ("erin", "frank"))
    )
    # Dave works in Alice's practice; Alice is its admin but not the author.
    alice.exchange.call(
        "POST",
        f"/practices/{practice.id}/invitations",
        json={"email": "dave@example.org", "role": "practitioner"},
    )
    dave_user = users.signed_in(
        "dave@example.org", invitation=outbox.last_code("dave@example.org", "Invitation code")
    )
    dave = Person(dave_user, device(client, users, dave_user))
    document_id = dave.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email, carol.email]
    )
    bob.exchange.share(document_id, [erin.email])
    erin.exchange.share(document_id, [frank.email])

    # Bob did not give Frank his access, so he cannot end it; Erin, who did, can.
    refused(403, bob.exchange.revoke, document_id, frank.email)
    assert erin.exchange.revoke(document_id, frank.email) == 1
    # Frank comes back with a later version than the one he was revoked at; his ended
    # share of version 1 only from the author or whoever ended it.
    assert dave.exchange.new_version(document_id, report) == 2
    assert "ended by someone else" in refused(403, bob.exchange.share, document_id, [frank.email])
    erin.exchange.share(document_id, [frank.email])
    assert frank.exchange.fetch(document_id, tmp_path / "frank").version == 2

    # The practice's admin ends a reader's access, but never the patient's or the author's;
    # not reading the document, the admin signs for the latest version the server names.
    assert alice.exchange.revoke(document_id, erin.email) == 2
    assert [r.version for r in alice.exchange.revoked] == [2]
    refused(403, alice.exchange.revoke, document_id, carol.email)
    refused(403, alice.exchange.revoke, document_id, dave.email)
    assert dave.exchange.revoke(document_id, carol.email) == 2
    assert erin.exchange.documents() == [] and carol.exchange.documents() == []
    assert [d.id for d in dave.exchange.documents()] == [document_id]


def test_a_new_version_by_a_reader_keeps_the_author_and_the_patient(practice: Practice, report):
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email, carol.email]
    )
    only_bob = next_version_body(
        practice, report, document_id, bob.exchange, bob.exchange._recipients([])
    )
    detail = refused(
        403,
        bob.exchange.call,
        "POST",
        f"/documents/{document_id}/versions",
        json={"number": 2, **only_bob},
    )
    assert "keeps the author's and the patient's access" in detail
    # The SDK's new version keeps every reader of the latest one.
    assert bob.exchange.new_version(document_id, report) == 2
    assert sorted(alice.exchange.document(document_id).recipients) == sorted(
        [alice.email, bob.email, carol.email]
    )


def test_no_revocation_leaves_a_document_without_a_reader(practice: Practice, report, ctx, clock):
    """A share to the author never expires now; one that did (older data) must not let
    the last other reader's access end with it."""
    from sqlalchemy import update

    from uhealthsec.server.records.models import Share

    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email], to_patient=False
    )
    with ctx.sessions.begin() as db:
        db.execute(
            update(Share)
            .where(Share.recipient_id == uuid.UUID(alice.user.account_id))
            .values(expires_at=clock.now - timedelta(days=1))
        )
    detail = refused(403, alice.exchange.revoke, document_id, bob.email)
    assert "no one able to read" in detail
    assert [d.id for d in bob.exchange.documents()] == [document_id]


@pytest.fixture
def dave(practice: Practice, client, users, outbox) -> Person:
    """A colleague of Alice's practice."""
    return colleague(practice, client, users, outbox, "dave@example.org")


def _version_ending_access(
    practice: Practice, reader: Person, report, document_id: str, expires_at: str
):
    """Version 2 as the reader's SDK would write it, then with the patient's and the
    author's shares given an expiry (the reader's attempt to end their access)."""
    bob = reader.exchange
    body = next_version_body(
        practice,
        report,
        document_id,
        bob,
        bob.readers_of_next_version(bob.document_view(document_id)),
    )
    ending = {practice.carol.user.account_id, practice.alice.user.account_id}
    for share in body["shares"]:
        if share["recipient_id"] in ending:
            share["expires_at"] = expires_at
    return {"number": 2, **body}


@pytest.mark.parametrize("expiry", [timedelta(minutes=1), timedelta(days=1)])
def test_a_readers_new_version_cannot_end_the_patients_access_with_an_expiry(
    practice: Practice, dave: Person, report, clock, users, expiry
):
    """The patient's and the author's shares of a reader's new version carry the
    expiry the author gave them (none here), whatever the reader asked: later on the
    patient reads version 2, and the author's version 3 still reaches her."""
    alice, carol = practice.alice, practice.carol
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[dave.email, carol.email]
    )
    soon = (clock.now + expiry).isoformat()
    dave.exchange.call(
        "POST",
        f"/documents/{document_id}/versions",
        json=_version_ending_access(practice, dave, report, document_id, soon),
    )
    clock.advance(days=2)
    for person in (alice, carol):
        person.user.tokens = users.sign_in_again(person.user)
    assert [
        v["number"]
        for v in carol.exchange.call("GET", f"/documents/{document_id}").json()["versions"]
        if v["wrapped_key"] is not None
    ] == [1, 2]
    assert alice.exchange.new_version(document_id, report) == 3
    assert 3 in [
        v["number"]
        for v in carol.exchange.call("GET", f"/documents/{document_id}").json()["versions"]
        if v["wrapped_key"] is not None
    ]


def test_a_patients_share_expired_by_a_reader_on_an_older_server_is_restored(
    practice: Practice, dave: Person, report, ctx, clock, users
):
    """Data an older server accepted: a reader's version 2 whose share for the patient
    expired. Migration 0022 voids that expiry: the patient reads version 2 again and
    the author's version 3 reaches her."""
    from sqlalchemy import update

    from uhealthsec.server.records.models import Share
    from uhealthsec.server.storage import migrate

    alice, carol = practice.alice, practice.carol
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[dave.email, carol.email]
    )
    assert dave.exchange.new_version(document_id, report) == 2
    with ctx.sessions.begin() as db:
        db.execute(
            update(Share)
            .where(
                Share.document_id == uuid.UUID(str(document_id)),
                Share.recipient_id == uuid.UUID(str(carol.user.account_id)),
                Share.granted_by == uuid.UUID(str(dave.user.account_id)),
            )
            .values(expires_at=clock.now + timedelta(minutes=1))
        )
    clock.advance(minutes=10)
    for person in (alice, carol):
        person.user.tokens = users.sign_in_again(person.user)
    assert [  # every version is listed; only those she can read carry her key
        v["number"]
        for v in carol.exchange.call("GET", f"/documents/{document_id}").json()["versions"]
        if v["wrapped_key"] is not None
    ] == [1]
    migrate.downgrade(ctx.engine, "0018")
    migrate.upgrade(ctx.engine)
    bootstrap(ctx)  # the server starts again on the upgraded database
    # Going back to 0018 forgot that Carol was informed, and migration 0045 invents no
    # such record (R11): Alice records that she informed her, before sharing again.
    ConsentClient(alice.exchange).record_information(
        practice.patient_file, clock.now.astimezone(PARIS).date()
    )
    assert alice.exchange.new_version(document_id, report) == 3
    assert 3 in [
        v["number"]
        for v in carol.exchange.call("GET", f"/documents/{document_id}").json()["versions"]
        if v["wrapped_key"] is not None
    ]


def test_an_expiry_without_a_time_zone_is_refused_not_a_500(practice: Practice, report):
    """A time without a zone is no instant: it was compared with the server's aware
    clock and failed with a 500. Refused as input, on a share and on a new version."""
    alice, carol = practice.alice, practice.carol
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[])
    [own] = alice.exchange.call("GET", f"/documents/{document_id}").json()["versions"]
    naive = "2099-01-01T00:00:00"
    share = {"recipient_id": carol.user.account_id, "wrapped_key": own["wrapped_key"]}
    refused(
        422,
        alice.exchange.call,
        "POST",
        f"/documents/{document_id}/shares",
        json={"version": 1, "shares": [{**share, "expires_at": naive}]},
    )
    body = next_version_body(
        practice, report, document_id, alice.exchange, alice.exchange._recipients([])
    )
    for grant in body["shares"]:
        grant["expires_at"] = naive
    refused(
        422,
        alice.exchange.call,
        "POST",
        f"/documents/{document_id}/versions",
        json={"number": 2, **body},
    )


def test_only_the_author_gives_the_patients_access_an_end(
    practice: Practice, dave: Person, report, clock
):
    """Dave, a reader, shares the document with the patient until tomorrow: refused,
    as the end of the patient's access is the author's decision. Without an expiry
    his share is taken; the author may give one."""
    alice, carol = practice.alice, practice.carol
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[dave.email], to_patient=False
    )
    tomorrow = clock.now + timedelta(days=1)
    detail = refused(403, dave.exchange.share, document_id, [carol.email], expires_at=tomorrow)
    assert "only the author can give the patient's access an end" in detail
    assert carol.exchange.documents() == []
    dave.exchange.share(document_id, [carol.email])
    assert [d.id for d in carol.exchange.documents()] == [document_id]
    other = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[], to_patient=False
    )
    alice.exchange.share(other, [carol.email], expires_at=tomorrow)


def test_the_patient_stays_a_possible_reader_of_the_next_version_after_an_expiry(
    practice: Practice, dave: Person, report, clock, users
):
    """The author's expiry on the patient's share ended her access to version 1; it
    did not take her out of the document: the author's next version may reach her
    again (an ended share of someone else would need a new share)."""
    alice, carol = practice.alice, practice.carol
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[dave.email], to_patient=False
    )
    alice.exchange.share(document_id, [carol.email], expires_at=clock.now + timedelta(hours=1))
    clock.advance(hours=2)
    for person in (alice, carol):
        person.user.tokens = users.sign_in_again(person.user)
    assert carol.exchange.documents() == []
    body = next_version_body(
        practice,
        report,
        document_id,
        alice.exchange,
        alice.exchange._recipients([dave.email, carol.email]),
    )
    alice.exchange.call("POST", f"/documents/{document_id}/versions", json={"number": 2, **body})
    assert [
        v["number"]
        for v in carol.exchange.call("GET", f"/documents/{document_id}").json()["versions"]
        if v["wrapped_key"] is not None
    ] == [2]


def test_a_reader_outside_the_practice_finds_the_patient_only_while_holding_her_document(
    practice: Practice, client, report
):
    """Bob works elsewhere: the directory shows him Carol's keys while he holds a share
    of a document in her file (to write new versions and shares to her), and not
    before nor once it is revoked: the same 404 as an address without keys."""

    def bob_finds_carol() -> int:
        size = served_checkpoint(
            client.get("/keys/head", headers=_bearer(practice.bob)).json(), "keys"
        ).size
        return client.get(
            "/keys/entries",
            params={"email": practice.carol.email, "tree_size": size},
            headers=_bearer(practice.bob),
        ).status_code

    assert bob_finds_carol() == 404
    document_id = practice.alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[practice.bob.email]
    )
    assert bob_finds_carol() == 200
    practice.alice.exchange.revoke(document_id, practice.bob.email)
    assert bob_finds_carol() == 404


def _bearer(person: Person) -> dict[str, str]:
    return {"Authorization": f"Bearer {person.user.tokens.access_token}"}
