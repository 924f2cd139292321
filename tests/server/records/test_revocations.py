"""A revocation is signed: the server checks the statement and serves it, the next
author leaves the revoked reader out whoever the server lists, and the device that
revoked remembers it even when the server withholds it (docs/PROTOCOL.md 11.3, 11.4)."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import delete, func, select

from tests.server.records.conftest import Person, Practice, colleague, device, refused
from uhealthsec.client.api import ApiError
from uhealthsec.client.errors import ExchangeRefused
from uhealthsec.client.exchange import ExchangeClient, RevokedReader
from uhealthsec.crypto.manifest import Reader, RevocationStatement
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.records.models import Blob, RevocationStatementRecord, Share


@pytest.fixture
def dave(practice: Practice, client, users, outbox) -> Person:
    """A colleague of Alice's practice, who writes the next version."""
    return colleague(practice, client, users, outbox, "dave@example.org")


def _blob_count(ctx) -> int:
    with ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(Blob))


def _share_of(db, document_id, person: Person) -> Share:
    return db.scalar(
        select(Share).where(
            Share.document_id == uuid.UUID(str(document_id)),
            Share.recipient_id == uuid.UUID(person.user.account_id),
        )
    )


def _revoke_then_relist(ctx, author: Person, document_id, reader: Person) -> None:
    """The author revokes the reader; the server then gives the reader their share of
    version 1 back, so that it lists them again as a reader."""
    with ctx.sessions() as db:
        wrapped_key = _share_of(db, document_id, reader).wrapped_key
    assert author.exchange.revoke(document_id, reader.email) == 1
    with ctx.sessions.begin() as db:
        share = _share_of(db, document_id, reader)
        share.wrapped_key = wrapped_key
        share.revoked_at = share.revoked_by = share.end_reason = None


def _recipients(person: Person, document_id) -> list[str]:
    view = person.exchange.call("GET", f"/documents/{document_id}").json()
    return sorted(r["email"] for r in view["recipients"])


def test_a_revoked_reader_the_server_lists_again_is_refused_by_name(
    practice: Practice, dave: Person, ctx, client, users, report
):
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email, dave.email]
    )
    _revoke_then_relist(ctx, alice, document_id, bob)
    assert bob.email in _recipients(dave, document_id)
    [served] = dave.exchange.call("GET", f"/documents/{document_id}").json()["revocations"]
    assert (served["version"], served["reader"]["email"]) == (1, bob.email)

    blobs, shown = _blob_count(ctx), []
    named = (
        r"the server lists bob@example\.org again as a reader of version 1, whom "
        r"alice@example\.org revoked at version 1, and no reader signed them in since: "
        r"nothing was encrypted"
    )
    with pytest.raises(ExchangeRefused, match=named):
        dave.exchange.new_version(document_id, report, before_encrypting=shown.append)
    # Another device of Alice's, which did not revoke, reads it from the statement.
    with pytest.raises(ExchangeRefused, match=named):
        device(client, users, alice.user).new_version(document_id, report)
    assert shown == [] and _blob_count(ctx) == blobs


def test_the_revoking_device_refuses_when_the_server_also_withholds_the_statement(
    practice: Practice, dave: Person, ctx, client, users, report
):
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email, dave.email]
    )
    _revoke_then_relist(ctx, alice, document_id, bob)
    with ctx.sessions.begin() as db:
        db.execute(delete(RevocationStatementRecord))
    blobs = _blob_count(ctx)
    named = r"lists bob@example\.org again as a reader of version 1, whom you revoked"
    with pytest.raises(ExchangeRefused, match=named):
        alice.exchange.new_version(document_id, report)
    # The same device later on, with what its profile saved.
    saved = [RevokedReader.from_dict(r.to_dict()) for r in alice.exchange.revoked]
    keys = alice.exchange.keys
    later = ExchangeClient(client, lambda: alice.user.tokens.access_token, keys, revoked=saved)
    with pytest.raises(ExchangeRefused, match=named):
        later.new_version(document_id, report)
    assert _blob_count(ctx) == blobs


def test_the_server_refuses_a_revocation_that_is_not_the_revokers_signed_word(
    practice: Practice, ctx, report
):
    """Unsigned, signed for another reader or by another key, or for a version that is
    not the latest: refused as a problem, and nothing changes."""
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email, carol.email]
    )
    signer = alice.exchange.my_entry()
    path = f"/documents/{document_id}/revocations"

    def body(reader: Reader, version: int = 1, key=alice.exchange.keys.signing) -> dict:
        statement = RevocationStatement(
            uuid.UUID(str(document_id)),
            version,
            uuid.UUID(alice.user.account_id),
            signer.index,
            reader,
        )
        return {
            "account_id": bob.user.account_id,
            "version": version,
            "signer_key_index": signer.index,
            "signature": b64u_encode(statement.sign(key)),
        }

    bob_reader = Reader(uuid.UUID(bob.user.account_id), bob.email)
    unsigned = {k: v for k, v in body(bob_reader).items() if k != "signature"}
    refused(422, alice.exchange.call, "POST", path, json=unsigned)
    carol_reader = Reader(uuid.UUID(carol.user.account_id), carol.email)
    for forged in (
        body(carol_reader),  # signed for Carol, sent for Bob
        body(Reader(bob_reader.account_id, "robert@example.org")),  # another address
        body(bob_reader, key=bob.exchange.keys.signing),  # not Alice's key
    ):
        detail = refused(400, alice.exchange.call, "POST", path, json=forged)
        assert "signature does not match this revocation statement" in detail
    stale = body(bob_reader, version=2)
    with pytest.raises(ApiError) as conflict:
        alice.exchange.call("POST", path, json=stale)
    assert (conflict.value.status, conflict.value.body["latest_version"]) == (409, 1)
    assert conflict.value.body["type"] == "about:blank"
    assert bob.email in _recipients(alice, document_id)
    with ctx.sessions() as db:
        assert db.scalar(select(func.count()).select_from(RevocationStatementRecord)) == 0

    alice.exchange.call("POST", path, json=body(bob_reader))
    assert bob.email not in _recipients(alice, document_id)


def test_a_revocation_that_would_leave_the_latest_version_readable_is_refused(
    practice: Practice, dave: Person, report, tmp_path
):
    """Dave gave Bob version 1; Alice's version 2 went to Bob from her. Dave may end
    only what he gave: Bob would still read version 2, which the signed statement would
    deny. Refused, and nothing is ended."""
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[dave.email]
    )
    dave.exchange.share(document_id, [bob.email])
    assert alice.exchange.new_version(document_id, report) == 2
    detail = refused(403, dave.exchange.revoke, document_id, bob.email)
    assert "also reads the latest version" in detail
    assert bob.exchange.fetch(document_id, tmp_path / "v1.txt", version=1).version == 1
    assert dave.exchange.revoked == []


def test_revocations_by_no_reader_are_ignored_and_altered_ones_refused(
    practice: Practice, dave: Person, ctx, client, users, report
):
    """Mallory, an account of the server's, signs a revocation of Dave: she reads
    nothing, so Alice's client ignores it. A genuine statement whose signature the
    server altered is refused: the server forged it."""
    alice, bob = practice.alice, practice.bob
    mallory = users.signed_in("mallory@example.org", "practitioner")
    mallory_keys = device(client, users, mallory).keys
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email, dave.email]
    )
    with ctx.sessions.begin() as db:
        index = KeyDirectory(db, ctx).current_version(uuid.UUID(mallory.account_id)).log_index
        reader = Reader(uuid.UUID(dave.user.account_id), dave.email)
        statement = RevocationStatement(
            document_id, 1, uuid.UUID(mallory.account_id), index, reader
        )
        db.add(
            RevocationStatementRecord(
                document_id=document_id,
                version=1,
                reader_id=reader.account_id,
                reader_email=reader.email,
                revoker_id=statement.revoker_id,
                signer_key_index=index,
                signature=statement.sign(mallory_keys.signing),
                created_at=ctx.now(),
            )
        )
    shown = []
    assert alice.exchange.new_version(document_id, report, before_encrypting=shown.append) == 2
    assert dave.email in [e.entry.email for e in shown[0]]

    bob_device = bob.exchange
    alice.exchange.revoke(document_id, dave.email)
    with ctx.sessions.begin() as db:
        genuine = db.scalar(
            select(RevocationStatementRecord).where(RevocationStatementRecord.version == 2)
        )
        genuine.signature = bytes([genuine.signature[0] ^ 1]) + genuine.signature[1:]
    with pytest.raises(
        ExchangeRefused,
        match=r"dave@example\.org's access ended at version 2 is not signed by the revoker",
    ):
        bob_device.new_version(document_id, report)


def test_a_revoked_reader_comes_back_with_a_share_of_a_later_version(
    practice: Practice, dave: Person, report, tmp_path
):
    """Re-sharing at the version of the revocation is refused (the two statements
    could not be ordered); after a new version, a share signs Bob in again and the
    next author's client takes him."""
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email, dave.email]
    )
    alice.exchange.revoke(document_id, bob.email)
    detail = refused(409, alice.exchange.share, document_id, [bob.email])
    assert "write a new version before sharing with them again" in detail
    assert alice.exchange.new_version(document_id, report) == 2
    alice.exchange.share(document_id, [bob.email])
    shown = []
    assert dave.exchange.new_version(document_id, report, before_encrypting=shown.append) == 3
    assert bob.email in [e.entry.email for e in shown[0]]
    # Alice's device, which remembers revoking him, takes him again too.
    assert alice.exchange.new_version(document_id, report) == 4
    assert bob.exchange.fetch(document_id, tmp_path / "v4.txt").version == 4


def _lying(exchange: ExchangeClient, monkeypatch, rewrite) -> list:
    """A hostile server: ``rewrite(path, answer)`` edits JSON answers to GETs; returns
    the list where every POST body the client sends is recorded."""
    honest, sent = exchange.call, []

    def lying(method, path, **kwargs):
        if method == "POST" and "json" in kwargs:
            sent.append((path, kwargs["json"]))
        response = honest(method, path, **kwargs)
        if method == "GET":
            answer = rewrite(path, response.json())
            if answer is not None:
                response._content = json.dumps(answer).encode()
        return response

    monkeypatch.setattr(exchange, "call", lying)
    return sent


def test_a_server_that_gives_the_device_another_account_id_is_refused(
    practice: Practice, dave: Person, ctx, client, monkeypatch, report
):
    """The device's memory of its revocations is its account's: a server answering
    another id for the account (to skip that memory, or to make the device sign as
    someone else) is refused before anything is encrypted."""
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email, dave.email]
    )
    _revoke_then_relist(ctx, alice, document_id, bob)
    with ctx.sessions.begin() as db:
        db.execute(delete(RevocationStatementRecord))  # withheld
    later = ExchangeClient(
        client,
        lambda: alice.user.tokens.access_token,
        alice.exchange.keys,
        revoked=list(alice.exchange.revoked),
    )
    sent = _lying(
        later,
        monkeypatch,
        lambda path, answer: (
            {**answer, "id": str(uuid.uuid4())} if path == "/accounts/me" else None
        ),
    )
    with pytest.raises(ExchangeRefused, match="another id than the key directory"):
        later.new_version(document_id, report, title="v2")
    assert sent == []


def test_another_documents_view_served_for_the_one_updated_is_refused(
    practice: Practice, dave: Person, monkeypatch, report
):
    """The server serves document B's view (which Bob still reads) when Alice updates
    A, from which she revoked him: refused, nothing sent."""
    alice, bob = practice.alice, practice.bob
    a = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    b = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    alice.exchange.revoke(a, bob.email)
    b_view = alice.exchange.call("GET", f"/documents/{b}").json()
    sent = _lying(
        alice.exchange,
        monkeypatch,
        lambda path, answer: b_view if path == f"/documents/{a}" else None,
    )
    for attempt in (
        lambda: alice.exchange.new_version(a, report),
        lambda: alice.exchange.share(a, [dave.email]),
    ):
        with pytest.raises(ExchangeRefused, match="another document than the one asked for"):
            attempt()
    assert sent == []


def test_a_revocation_of_the_author_by_a_reader_does_not_count(
    practice: Practice, dave: Person, ctx, client, users, report
):
    """Dave, a vouched reader colluding with the server, signs a revocation of Alice,
    the author, which the server keeps although its rule refuses it: clients ignore
    it, so Alice's next version is read and written after by everyone."""
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email, dave.email]
    )
    signer = dave.exchange.my_entry()
    reader = Reader(uuid.UUID(alice.user.account_id), alice.email)
    statement = RevocationStatement(
        document_id, 1, uuid.UUID(dave.user.account_id), signer.index, reader
    )
    with ctx.sessions.begin() as db:
        db.add(
            RevocationStatementRecord(
                document_id=document_id,
                version=1,
                reader_id=reader.account_id,
                reader_email=reader.email,
                revoker_id=statement.revoker_id,
                signer_key_index=signer.index,
                signature=statement.sign(dave.exchange.keys.signing),
                created_at=ctx.now(),
            )
        )
    assert alice.exchange.new_version(document_id, report) == 2
    for writer, number in ((bob.exchange, 3), (device(client, users, alice.user), 4)):
        assert writer.new_version(document_id, report) == number


def test_every_revokers_statement_is_kept(
    practice: Practice, dave: Person, ctx, client, users, outbox, report
):
    """Dave (author of version 2) revokes Bob at 2; Erin, a second admin who reads
    nothing, revokes him too. Dave's statement, which clients count, is not replaced by
    Erin's, which they ignore: a relisting server gets Bob nothing."""
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email, dave.email]
    )
    assert dave.exchange.new_version(document_id, report) == 2
    with ctx.sessions() as db:
        kept = {
            s.id: s.wrapped_key
            for s in db.scalars(
                select(Share).where(Share.recipient_id == uuid.UUID(bob.user.account_id))
            )
        }
    dave.exchange.revoke(document_id, bob.email)
    alice.exchange.call(
        "POST",
        f"/practices/{practice.id}/invitations",
        json={"email": "erin@example.org", "role": "admin"},
    )
    erin_user = users.signed_in(
        "erin@example.org", invitation=outbox.last_code("erin@example.org", "Invitation code")
    )
    assert device(client, users, erin_user).revoke(document_id, bob.email) == 1
    view = alice.exchange.call("GET", f"/documents/{document_id}").json()
    assert sorted((r["version"], r["revoker_id"]) for r in view["revocations"]) == sorted(
        [(2, dave.user.account_id), (2, erin_user.account_id)]
    )
    with ctx.sessions.begin() as db:  # hostile from here on: Bob's share of 2 is back
        share = db.scalar(
            select(Share).where(
                Share.recipient_id == uuid.UUID(bob.user.account_id),
                Share.revoked_by == uuid.UUID(dave.user.account_id),
            )
        )
        share.revoked_at = share.revoked_by = share.end_reason = None
        share.wrapped_key = kept[share.id]
    with pytest.raises(ExchangeRefused, match=r"bob@example\.org again"):
        alice.exchange.new_version(document_id, report)
