"""The server checks the readers an author signs and the statements a sharer signs, so
that what it serves to the next author is what someone accountable signed."""

from __future__ import annotations

import uuid

import pytest

from tests.server.records.conftest import Practice, device, version_body
from uhealthsec.client.api import ApiError
from uhealthsec.client.wire import body
from uhealthsec.crypto.manifest import Reader, ShareStatement
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.server.records.models import Document


def _refused(call, *args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as refused:
        call(*args, **kwargs)
    assert refused.value.status == 400
    return refused.value


def test_a_version_must_sign_exactly_its_readers(practice: Practice, report, ctx):
    """R3: a version whose author's signature does not cover it is refused."""
    alice = practice.alice.exchange
    body = version_body(practice, report)
    assert sorted(r["email"] for r in body["readers"]) == [alice.me["email"], practice.bob.email]

    # A reader list changed after signing no longer matches the author's signature.
    changed = {**body, "readers": body["readers"][:1]}
    changed["shares"] = [s for s in body["shares"] if s["recipient_id"] == alice.me["id"]]
    assert (
        "signature does not match"
        in _refused(alice.call, "POST", "/documents", json=changed).detail
    )
    # Refused means nothing written: the id stays free for the author's next attempt.
    with ctx.sessions() as db:
        assert db.get(Document, uuid.UUID(body["id"])) is None

    # A reader under an address that is not their account's.
    renamed = {**body, "readers": [dict(r) for r in body["readers"]]}
    renamed["readers"][1]["email"] = "mallory@example.org"
    assert (
        "is not that account's address"
        in _refused(alice.call, "POST", "/documents", json=renamed).detail
    )

    # A wrapped key for someone the author did not sign as a reader.
    extra = {**body, "shares": [*body["shares"], {**body["shares"][-1]}]}
    extra["shares"][-1]["recipient_id"] = practice.carol.user.account_id
    assert (
        "not in the readers you signed"
        in _refused(alice.call, "POST", "/documents", json=extra).detail
    )

    with pytest.raises(ApiError) as unsigned:
        alice.call("POST", "/documents", json={k: v for k, v in body.items() if k != "readers"})
    assert unsigned.value.status == 422

    alice.call("POST", "/documents", json=body)
    [version] = alice.call("GET", f"/documents/{body['id']}").json()["versions"]
    assert version["readers"] == sorted(
        body["readers"], key=lambda r: uuid.UUID(r["account_id"]).bytes
    )


def test_a_share_to_someone_not_signed_for_needs_the_sharers_statement(practice: Practice, report):
    alice, carol = practice.alice.exchange, practice.carol
    document_id = alice.send(
        report, patient_file_id=practice.patient_file, to=[practice.bob.email], to_patient=False
    )
    [version] = alice.call("GET", f"/documents/{document_id}").json()["versions"]
    share = {"recipient_id": carol.user.account_id, "wrapped_key": version["wrapped_key"]}
    path = f"/documents/{document_id}/shares"

    assert (
        "sign a share statement"
        in _refused(alice.call, "POST", path, json={"version": 1, "shares": [share]}).detail
    )

    signer = alice.my_entry()
    carol_reader = Reader(uuid.UUID(carol.user.account_id), carol.email)

    def statement(reader: Reader) -> dict:
        signed = ShareStatement(
            uuid.UUID(str(document_id)), 1, uuid.UUID(alice.me["id"]), signer.index, reader
        )
        return {
            "recipient_email": carol.email,
            "signer_key_index": signer.index,
            "signature": b64u_encode(signed.sign(alice.keys.signing)),
        }

    # Signed for someone else than the recipient it comes with.
    other = Reader(uuid.UUID(practice.bob.user.account_id), carol.email)
    forged = {**share, "statement": statement(other)}
    assert (
        "signature does not match"
        in _refused(alice.call, "POST", path, json={"version": 1, "shares": [forged]}).detail
    )

    good = {**share, "statement": statement(carol_reader)}
    alice.call("POST", path, json={"version": 1, "shares": [good]})
    [version] = alice.call("GET", f"/documents/{document_id}").json()["versions"]
    [kept] = version["statements"]
    assert kept["recipient"] == {"account_id": carol.user.account_id, "email": carol.email}
    assert kept["granter_id"] == alice.me["id"]


def test_the_author_writes_a_new_version_after_an_outside_reader_shared(
    practice: Practice, users, client, report
):
    """Bob (outside Alice's practice) shares Alice's document with Dave, Alice's
    colleague: Alice's client must read the entry that signed Bob's statement, or she
    could no longer write a new version."""
    alice, bob = practice.alice, practice.bob
    dave = users.signed_in("dave@example.org", "practitioner")
    users.join_practice(alice.user, practice.id, dave, role="practitioner")
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    bob.exchange.share(document_id, [dave.email])  # Bob signs a statement for Dave

    shown = []
    alice_device = device(client, users, alice.user)
    assert alice_device.new_version(document_id, report, before_encrypting=shown.append) == 2
    assert dave.email in [e.entry.email for e in shown[0]]


def test_a_version_must_chain_to_the_manifest_before(practice: Practice, report):
    """The server checks a new version's signature over the digest of the latest
    version's manifest: a version signed as the successor of another is refused."""
    alice = practice.alice.exchange
    document_id = alice.send(report, patient_file_id=practice.patient_file, to=[])
    recipients = alice._recipients([])
    elsewhere, _ = alice._prepare_version(
        document_id,
        uuid.UUID(practice.patient_file),
        2,
        report,
        None,
        None,
        recipients,
        {},
        None,
        bytes(31) + b"\x01",
    )
    refusal = _refused(
        alice.call,
        "POST",
        f"/documents/{document_id}/versions",
        json={"number": 2, **body(elsewhere)},
    )
    assert "signature does not match" in refusal.detail
    assert alice.new_version(document_id, report) == 2  # chained as served: accepted
