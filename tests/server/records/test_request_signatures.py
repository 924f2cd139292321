"""R3: every change of health data or sharing carries its author's signature; a
missing, misplaced or forged one is refused before anything is written, and an upload
whose body is not the one signed leaves nothing behind."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.server.records.conftest import Practice, device, version_body
from tests.server_fixtures import declared, signed_headers
from uhealthsec.client.api import ApiError
from uhealthsec.client.consent import ConsentClient
from uhealthsec.client.exchange import ExchangeClient
from uhealthsec.client.transport import ServerClock
from uhealthsec.crypto.journal import (
    JournalEntry,
    Outcome,
    SignedRequest,
    signed_request_digest,
)
from uhealthsec.protocol.encoding import b64u_decode
from uhealthsec.server.audit.models import JournalRecord
from uhealthsec.server.errors import SIGNATURE_REQUIRED
from uhealthsec.server.idempotency.models import KeptAnswer
from uhealthsec.server.records.models import Blob, Document, DocumentVersion


def _count(ctx, table) -> int:
    with ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(table))


def _last_entry(ctx) -> JournalEntry:
    with ctx.sessions() as db:
        row = db.scalar(select(JournalRecord.entry).order_by(JournalRecord.log_index.desc()))
    return JournalEntry.decode(row)


def _document(practice: Practice, report) -> bytes:
    """The body of a new document of Alice's, as the SDK would send it."""
    return json.dumps(version_body(practice, report)).encode()


def _post(client, path: str, body: bytes, headers: dict[str, str]):
    return client.post(path, content=body, headers={**headers, "Content-Type": "application/json"})


def test_r3_a_change_without_signature_is_refused_and_writes_nothing(
    practice: Practice, client, ctx, report
):
    """R3: an unsigned change is refused (problem+json saying what to send), nothing is
    written, and the refusal is journaled; signed, the same request is carried out and
    its entry holds the user's signature."""
    alice = practice.alice
    body = _document(practice, report)
    documents = _count(ctx, Document)
    bearer = {"Authorization": f"Bearer {alice.user.tokens.access_token}"}

    refused = _post(client, "/documents", body, bearer)
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == SIGNATURE_REQUIRED
    assert "UHS-Signature" in problem["detail"] and "nothing was changed" in problem["detail"]
    assert _count(ctx, Document) == documents
    entry = _last_entry(ctx)
    assert (entry.action, entry.outcome, entry.status, entry.signature) == (
        "records.create_document",
        Outcome.REFUSED,
        400,
        None,
    )

    accepted = _post(client, "/documents", body, alice.signed("POST", "/documents", body))
    assert accepted.status_code == 201, accepted.text
    assert _count(ctx, Document) == documents + 1
    entry = JournalEntry.decode(b64u_decode(accepted.headers["UHS-Journal-Entry"]))
    assert entry.action == "records.create_document" and entry.signature is not None
    assert entry.signature.signer_key_index == alice.exchange.my_entry().index
    # Anyone with the entry and Alice's published key can check it was her request.
    SignedRequest(entry.request_digest).verify(
        alice.exchange.keys.public().signing, entry.signature.signature
    )


def test_r3_reads_need_no_signature(practice: Practice, client):
    """R3 covers changes: a read is answered unsigned (GET is exempt)."""
    bearer = {"Authorization": f"Bearer {practice.alice.user.tokens.access_token}"}
    assert client.get("/documents", headers=bearer).status_code == 200


def test_r3_a_signature_replayed_onto_another_request_is_refused(
    practice: Practice, client, ctx, report
):
    """R3: a hostile server (or anyone who saw a signed request) cannot move its
    signature to another path or another body."""
    alice = practice.alice
    body = _document(practice, report)
    signed = alice.signed("POST", "/documents", body)
    documents = _count(ctx, Document)

    other_body = _document(practice, report)  # another document id
    for path, sent in (("/documents", other_body), ("/documents?x=1", body), ("/threads", body)):
        refused = _post(client, path, sent, signed)
        assert refused.status_code in (400, 422), (path, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    # The body swapped after signing: refused as a signature over another request.
    swapped = _post(client, "/documents", other_body, signed)
    assert "signature does not match this request" in swapped.json()["detail"]
    assert _count(ctx, Document) == documents


def test_r3_another_accounts_key_or_a_malformed_header_is_refused(
    practice: Practice, client, ctx, report
):
    """R3: a signature is checked against the signed-in account's own current key;
    malformed or oversized headers are refused with a problem, never a 500."""
    alice, bob = practice.alice, practice.bob
    body = _document(practice, report)
    documents = _count(ctx, Document)
    bearer = {"Authorization": f"Bearer {alice.user.tokens.access_token}"}

    # Bob's own valid signature of the very same request, sent with Alice's token.
    bobs = bob.signed("POST", "/documents", body)
    keyed = {**bearer, "Idempotency-Key": bobs["Idempotency-Key"]}
    refused = _post(client, "/documents", body, {**keyed, "UHS-Signature": bobs["UHS-Signature"]})
    assert refused.status_code == 400
    assert "sign with your current key" in refused.json()["detail"]

    alices = alice.signed("POST", "/documents", body)
    keyed = {**bearer, "Idempotency-Key": alices["Idempotency-Key"]}
    good = alices["UHS-Signature"]
    index, at, signature = good.split(";")
    for header in (
        f"+{index};{at};{signature}",
        f"{index}_0;{at};{signature}",
        f"-{index};{at};{signature}",
        f"{index};-{at};{signature}",
        f"{'9' * 19};{at};{signature}",  # past 2^63
        f"{index};{'9' * 19};{signature}",
        f"{'9' * 5000};{at};{signature}",
        f"{index};{at};{signature}=",
        f"{index};{at};{signature};{signature}",
        f"{index};{at};{signature}" + "A" * 100_000,
        f"{index};{signature}",  # the replayable two-part form
        ";;",
        "",
    ):
        refused = _post(client, "/documents", body, {**keyed, "UHS-Signature": header})
        assert refused.status_code == 400, header[:40]
        assert refused.headers["content-type"] == "application/problem+json"
    twice = [*keyed.items(), ("UHS-Signature", good), ("UHS-Signature", good)]
    refused = client.post(
        "/documents", content=body, headers=[*twice, ("Content-Type", "application/json")]
    )
    assert refused.status_code == 400 and "one UHS-Signature" in refused.json()["detail"]
    assert _count(ctx, Document) == documents


def test_r3_an_upload_whose_body_is_not_the_signed_one_leaves_nothing(
    practice: Practice, client, ctx
):
    """R3: an upload is signed over the SHA-256 its Content-Digest declares; a body that
    does not hash to it (swapped or cut after signing) is refused once read, and
    leaves no blob, no stored object, no spool file, no version."""
    alice = practice.alice
    signed_data, other = b"\x01" * 70_000, b"\x02" * 70_000
    signed = {**alice.signed("POST", "/blobs", signed_data)}
    octets = {"Content-Type": "application/octet-stream"}
    blobs, versions = _count(ctx, Blob), _count(ctx, DocumentVersion)

    for sent in (other, signed_data[:-1], signed_data + b"\x01"):
        refused = client.post("/blobs", content=iter([sent]), headers={**signed, **octets})
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "does not match its Content-Digest" in refused.json()["detail"]
        entry = _last_entry(ctx)
        assert (entry.action, entry.outcome, entry.signature) == (
            "records.upload",
            Outcome.REFUSED,
            None,
        )
    # The declared digest changed to the body's: the signature no longer matches it.
    resigned = {**signed, **declared(other)}
    refused = client.post("/blobs", content=iter([other]), headers={**resigned, **octets})
    assert refused.status_code == 400
    assert "signature does not match this request" in refused.json()["detail"]
    # Signed, but with no Content-Digest to check the body against.
    undeclared = {k: v for k, v in signed.items() if k != "Content-Digest"}
    refused = client.post("/blobs", content=iter([signed_data]), headers={**undeclared, **octets})
    assert refused.status_code == 400 and refused.json()["type"] == SIGNATURE_REQUIRED
    # Unsigned.
    bearer = {"Authorization": signed["Authorization"], **declared(signed_data)}
    refused = client.post("/blobs", content=iter([signed_data]), headers={**bearer, **octets})
    assert refused.status_code == 400 and refused.json()["type"] == SIGNATURE_REQUIRED
    for digest in ("sha-256=:AAAA:", "sha-256=:" + "A" * 2000 + ":", "sha-256=abc", "md5=:x:"):
        refused = client.post(
            "/blobs",
            content=iter([signed_data]),
            headers={**signed, "Content-Digest": digest, **octets},
        )
        assert refused.status_code == 400, digest[:30]

    assert (_count(ctx, Blob), _count(ctx, DocumentVersion)) == (blobs, versions)
    assert list(ctx.settings.upload_dir.iterdir()) == []
    assert len(list(ctx.blobs.keys())) == blobs

    # The body signed, in any pieces, is taken; its entry holds the signature.
    accepted = client.post(
        "/blobs",
        content=iter([signed_data[:5], signed_data[5:]]),
        headers={**signed, **octets},
    )
    assert accepted.status_code == 201, accepted.text
    entry = JournalEntry.decode(b64u_decode(accepted.headers["UHS-Journal-Entry"]))
    assert entry.signature is not None
    digest = hashlib.sha256(signed_data).digest()
    signed_at = int(signed["UHS-Signature"].split(";")[1])
    nonce = signed["Idempotency-Key"].strip('"')
    assert entry.request_digest == signed_request_digest("POST", "/blobs", digest, signed_at, nonce)
    SignedRequest(entry.request_digest).verify(
        alice.exchange.keys.public().signing, entry.signature.signature
    )


def test_r3_a_captured_upload_sent_again_stores_nothing(practice: Practice, client, ctx):
    """R3 (PROTOCOL 13.0): an upload is keyed like any signed change, by the digest its
    Content-Digest declares: sent again with the same headers (whoever captured it,
    within the 10 minutes), it gets the first answer and stores no second blob, counts
    nothing against the quota and makes no journal entry; the same key with another body
    is refused (422) and stores nothing either."""
    alice = practice.alice
    data = b"\x03" * 50_000
    signed = alice.signed("POST", "/blobs", data)
    octets = {"Content-Type": "application/octet-stream"}
    blobs = _count(ctx, Blob)
    first = client.post("/blobs", content=iter([data]), headers={**signed, **octets})
    assert first.status_code == 201, first.text
    entries = _count(ctx, JournalRecord)

    again = client.post("/blobs", content=iter([data]), headers={**signed, **octets})
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(ctx, Blob) == blobs + 1 and len(list(ctx.blobs.keys())) == blobs + 1
    assert list(ctx.settings.upload_dir.iterdir()) == []

    # Alice's own signature over another body with that key: a key names one request.
    other = b"\x04" * 50_000
    reused = alice.signed("POST", "/blobs", other, idempotency_key=signed["Idempotency-Key"])
    refused = client.post("/blobs", content=iter([other]), headers={**reused, **octets})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert _count(ctx, Blob) == blobs + 1 and list(ctx.settings.upload_dir.iterdir()) == []
    # The copy made no entry of its own; the refusal made one.
    assert _count(ctx, JournalRecord) == entries + 1


def test_r3_an_upload_whose_copy_took_its_key_meanwhile_leaves_no_object(
    practice: Practice, client, ctx, monkeypatch
):
    """R3: of one upload sent twice at once, the one whose copy commits the key first
    is answered as that copy and leaves no stored object behind (each stored object is
    a row the quota counts)."""
    alice = practice.alice
    data = b"\x05" * 50_000
    signed = alice.signed("POST", "/blobs", data)
    put_file = ctx.blobs.put_file
    objects = len(list(ctx.blobs.keys()))

    def copy_commits_meanwhile(blob_key, path):
        put_file(blob_key, path)
        with ctx.sessions() as db:
            db.add(
                KeptAnswer(
                    account_id=uuid.UUID(alice.user.account_id),
                    key=signed["Idempotency-Key"].strip('"'),
                    request_digest=b"\x00" * 32,
                    status=201,
                    media_type=None,
                    body=None,
                    created_at=ctx.now(),
                )
            )
            db.commit()

    monkeypatch.setattr(ctx.blobs, "put_file", copy_commits_meanwhile)
    octets = {"Content-Type": "application/octet-stream"}
    answer = client.post("/blobs", content=iter([data]), headers={**signed, **octets})
    assert 400 <= answer.status_code < 500, answer.text
    assert len(list(ctx.blobs.keys())) == objects


def test_r3_the_sdk_unlocks_locked_keys_to_sign_a_change(practice: Practice, client, users, report):
    """R3: an SDK client whose keys are locked (a CLI command that reads only) opens
    them, once, when a change must be signed, rather than send it unsigned; with no
    way to open them, the change is refused by the server."""
    alice = practice.alice
    unlocked = device(client, users, alice.user)
    opened: list[int] = []

    def unlock():
        opened.append(1)
        return unlocked.keys

    public = unlocked.keys.public()
    token = lambda: alice.user.tokens.access_token  # noqa: E731
    locked = ExchangeClient(client, token, None, public_keys=public, unlock=unlock)
    locked.call("GET", "/documents")
    assert opened == []  # a read does not ask for the password
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[practice.bob.email]
    )
    locked.revoke(document_id, practice.bob.email)
    assert opened == [1]

    never = ExchangeClient(client, token, None, public_keys=public)
    with pytest.raises(ApiError) as refused:
        never.call("POST", "/documents", json=version_body(practice, report))
    assert refused.value.status == 400
    assert refused.value.body["type"] == SIGNATURE_REQUIRED


def test_r3_a_signed_request_is_fresh_and_single_use(
    practice: Practice, client, ctx, users, report
):
    """R3 (PROTOCOL 13.0): a signed change sent again with the same headers (a replay by
    whoever captured it, within the 10 minutes) is answered with the first answer, not
    carried out again; its signature with another Idempotency-Key, a signature made 11
    minutes away from the server's clock, or a signed change without Idempotency-Key, is
    refused before anything is written; 9 minutes away is taken."""
    alice = practice.alice
    token = alice.user.tokens.access_token
    body = _document(practice, report)
    documents = _count(ctx, Document)
    signed = signed_headers(alice.exchange, token, "POST", "/documents", body)

    first = _post(client, "/documents", body, signed)
    assert first.status_code == 201, first.text
    replayed = _post(client, "/documents", body, signed)
    assert (replayed.status_code, replayed.json()) == (201, first.json())
    assert _count(ctx, Document) == documents + 1  # carried out once

    # The captured signature with a fresh key: the signature covers the first key.
    other_key = {**signed, "Idempotency-Key": "k" * 32}
    refused = _post(client, "/documents", body, other_key)
    assert refused.status_code == 400
    assert "signature does not match this request" in refused.json()["detail"]
    # No key at all.
    unkeyed = {k: v for k, v in signed.items() if k != "Idempotency-Key"}
    refused = _post(client, "/documents", body, unkeyed)
    assert refused.status_code == 400 and refused.json()["type"] == SIGNATURE_REQUIRED
    assert "Idempotency-Key" in refused.json()["detail"]
    assert _count(ctx, Document) == documents + 1

    now_ms = int(users.clock().timestamp() * 1000)
    minute = 60_000
    for away in (-11 * minute, 11 * minute):
        stale = signed_headers(
            alice.exchange, token, "POST", "/documents", body, signed_at_ms=now_ms + away
        )
        refused = _post(client, "/documents", body, stale)
        assert refused.status_code == 400 and refused.json()["type"] == SIGNATURE_REQUIRED
        assert "clock" in refused.json()["detail"]
    assert _count(ctx, Document) == documents + 1
    for away in (-9 * minute, 9 * minute):
        body = _document(practice, report)
        late = signed_headers(
            alice.exchange, token, "POST", "/documents", body, signed_at_ms=now_ms + away
        )
        taken = _post(client, "/documents", body, late)
        assert taken.status_code == 201, taken.text
    assert _count(ctx, Document) == documents + 3


def test_r3_a_captured_consent_change_sent_again_is_not_carried_out_again(
    practice: Practice, client
):
    """R3: a patient's signed permit, captured (by a token thief, or shown by a hostile
    server in its journal) and sent again after she changed her mind, is answered with
    its first answer: her directive stays the later deny, its version does not move."""
    carol, bob = practice.carol, practice.bob
    consent = ConsentClient(carol.exchange)
    token = carol.user.tokens.access_token
    permit = {
        "practice_id": practice.id,
        "purpose": "outside_team",
        "decision": "permit",
        "recipient_email": bob.email,
    }
    sent = json.dumps(permit).encode()
    captured = {
        **signed_headers(carol.exchange, token, "POST", "/consents", sent),
        "Content-Type": "application/json",
    }
    consent.decide(practice.id, "outside_team", "deny", bob.email)
    first = client.post("/consents", content=sent, headers=captured)
    assert first.status_code in (200, 201), first.text
    consent.decide(practice.id, "outside_team", "deny", bob.email)
    before = consent.directives(history=True)

    again = client.post("/consents", content=sent, headers=captured)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert consent.directives(history=True) == before
    current = [d for d in consent.directives(practice.id) if d["recipient_email"] == bob.email]
    assert [d["decision"] for d in current] == ["deny"]


def test_r3_a_device_whose_clock_is_wrong_signs_again_at_the_servers_time(
    practice: Practice, client, ctx, users, report
):
    """R3: a device whose clock is two hours fast is refused (400, with the server's
    time), signs again at that time and is accepted, a JSON change and an upload alike;
    a refusal of another kind, or a time no clock gives, teaches it nothing."""
    alice = practice.alice
    keys = device(client, users, alice.user).keys
    token = lambda: alice.user.tokens.access_token  # noqa: E731
    fast = ExchangeClient(client, token, keys)
    fast.clock = ServerClock(lambda: users.clock() + timedelta(hours=2))
    assert fast.clock() == users.clock() + timedelta(hours=2)
    documents = _count(ctx, Document)
    fast.call("POST", "/documents", json=version_body(practice, report))
    assert _count(ctx, Document) == documents + 1
    assert abs(fast.clock() - users.clock()) <= timedelta(seconds=1)

    uploading = ExchangeClient(client, token, keys)
    uploading.clock = ServerClock(lambda: users.clock() - timedelta(hours=3))
    uploading.send(
        report, patient_file_id=practice.patient_file, to=[], patient=practice.carol.email
    )
    assert _count(ctx, Document) == documents + 2

    clock = ServerClock(users.clock)
    stale = {"type": SIGNATURE_REQUIRED, "server_time_ms": 0}
    for status, body in (
        (400, {**stale, "server_time_ms": -1}),
        (400, {**stale, "server_time_ms": 10**15}),  # the year 33658
        (400, {**stale, "server_time_ms": "1700000000000"}),
        (400, {"type": "about:blank", "server_time_ms": 1_700_000_000_000}),
        (502, {**stale, "server_time_ms": 1_700_000_000_000}),
    ):
        assert not clock.learn(ApiError(status, "refused", body))
    assert clock.offset == timedelta(0)


class _Capturing:
    """An HTTP client keeping a copy of what it sends, as a proxy on the way would."""

    def __init__(self, inner) -> None:
        self.inner, self.sent = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def send(self, request, **kwargs):
        self.sent.append(request)
        return self.inner.send(request, **kwargs)


def test_r3_a_refused_signed_change_sent_again_gets_its_refusal(practice: Practice, client, report):
    """R3: Alice revokes Bob from a document he cannot read yet: refused (404). She then
    shares it with him on purpose. Her captured revocation, sent again within its 10
    minutes, gets the refusal again and does not take his access away: the refusal
    used its signature and key up."""
    alice, bob = practice.alice, practice.bob
    document = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[])
    http = _Capturing(client)
    sdk = ExchangeClient(http, lambda: alice.user.tokens.access_token, alice.exchange.keys)
    with pytest.raises(ApiError) as refused:
        sdk.revoke(document, bob.email)
    assert refused.value.status == 404
    captured = [r for r in http.sent if r.url.path.endswith("/revocations")][-1]

    alice.exchange.share(document, [bob.email])

    def readers() -> set[str]:
        answer = alice.exchange.call("GET", f"/documents/{document}").json()
        return {r["email"] for r in answer["recipients"]}

    assert bob.email in readers()
    headers = {k: v for k, v in captured.headers.items() if k.lower() != "content-length"}
    replay = client.post(captured.url.path, content=captured.content, headers=headers)
    assert (replay.status_code, replay.json()["detail"]) == (404, refused.value.detail)
    assert bob.email in readers()
