"""A revocation is signed: the server checks the statement and serves it
(docs/PROTOCOL.md 11.3)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from tests.server.records.conftest import Person, Practice, colleague, refused
from uhealthsec.client.api import ApiError
from uhealthsec.crypto.manifest import Reader, RevocationStatement
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.server.records.models import RevocationStatementRecord


@pytest.fixture
def dave(practice: Practice, client, users, outbox) -> Person:
    """A colleague of Alice's practice, who writes the next version."""
    return colleague(practice, client, users, outbox, "dave@example.org")


def _recipients(person: Person, document_id) -> list[str]:
    view = person.exchange.call("GET", f"/documents/{document_id}").json()
    return sorted(r["email"] for r in view["recipients"])


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
    assert bob.exchange.fetch(document_id, tmp_path / "v3.txt").version == 3
