"""Uploads are atomic, bounded and checked; what a client leaves unfinished is cleaned up."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import time
import uuid

import pytest
from sqlalchemy import func, select

from tests.server.records.conftest import Practice, version_body
from tests.server_fixtures import declared
from uhealthsec.client.api import ApiError
from uhealthsec.client.wire import body
from uhealthsec.crypto import envelope
from uhealthsec.crypto.manifest import NO_PREVIOUS
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode
from uhealthsec.server.records.models import Blob
from uhealthsec.server.records.service import RecordsService
from uhealthsec.server.storage.blobs import Spool


def _blob_count(ctx) -> int:
    with ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(Blob))


def _stored_objects(ctx) -> list[str]:
    return sorted(ctx.blobs.keys())


def test_an_interrupted_upload_leaves_nothing(practice: Practice, ctx, live_server):
    signed = practice.alice.signed("POST", "/blobs", bytes(10 << 20))
    port = int(live_server.rsplit(":", 1)[1])
    spool = ctx.settings.upload_dir

    def wait_for(condition) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline
            time.sleep(0.05)

    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(
            b"POST /blobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in signed.items()).encode()
            + b"Content-Type: application/octet-stream\r\nContent-Length: 10485760\r\n\r\n"
        )
        connection.sendall(b"\x00" * (1 << 20))
        # The server is receiving: its spool file exists. Then the client goes away.
        wait_for(lambda: spool.is_dir() and any(spool.iterdir()))
    wait_for(lambda: not any(spool.iterdir()))
    assert list(ctx.settings.upload_dir.iterdir()) == []
    assert _blob_count(ctx) == 0
    assert _stored_objects(ctx) == []


def test_cleanup_removes_unattached_uploads_and_orphans_only(
    practice: Practice, ctx, clock, report, tmp_path
):
    alice = practice.alice.exchange
    kept = alice.send(report, patient_file_id=practice.patient_file, to=[practice.bob.email])
    data = report.read_bytes()
    abandoned = alice._upload(io.BytesIO(data), len(data), hashlib.sha256(data).digest(), None)
    orphan = tmp_path / "orphan"
    orphan.write_bytes(b"left by a crash between object and row")
    ctx.blobs.put_file(uuid.uuid4().hex, orphan)
    assert len(_stored_objects(ctx)) == 3

    with ctx.sessions.begin() as db:
        # A fresh abandoned upload is kept: its client may still attach it; so is a
        # fresh object without a row: its upload may not have committed yet.
        assert RecordsService(db, ctx).collect_unfinished_uploads() == 0
    assert len(_stored_objects(ctx)) == 3
    clock.advance(hours=2)
    with ctx.sessions.begin() as db:
        assert RecordsService(db, ctx).collect_unfinished_uploads() == 2
    assert _blob_count(ctx) == 1
    assert abandoned.id.hex not in _stored_objects(ctx)
    clock.advance(hours=-2)
    practice.bob.exchange.fetch(kept, tmp_path / "kept.txt")
    assert (tmp_path / "kept.txt").read_bytes() == report.read_bytes()


def test_cleanup_removes_the_spool_files_no_live_upload_holds(ctx):
    """At once, not after the upload expiry; test_spool_crash.py kills a real server."""
    live = Spool(ctx.settings.upload_dir, 1 << 20)
    live.write(b"received so far")
    # What a killed process leaves: its file, which no lock holds any more.
    (ctx.settings.upload_dir / "upload-k1lled99").write_bytes(b"received before the kill")
    with ctx.sessions.begin() as db:
        assert RecordsService(db, ctx).collect_unfinished_uploads() == 1
    assert list(ctx.settings.upload_dir.iterdir()) == [live.path]
    live.discard()
    assert list(ctx.settings.upload_dir.iterdir()) == []


def test_uploads_must_be_octet_streams_and_within_the_limit(practice: Practice, ctx):
    alice = practice.alice.exchange
    with pytest.raises(ApiError) as wrong_type:
        alice.call(
            "POST",
            "/blobs",
            content=b"x" * 100,
            headers={**declared(b"x" * 100), "Content-Type": "text/plain"},
        )
    assert wrong_type.value.status == 400
    ctx.settings.max_upload_bytes = 1 << 20
    with pytest.raises(ApiError) as too_large:
        alice.call(
            "POST",
            "/blobs",
            content=iter([b"\x00" * (1 << 19)] * 3),
            headers={**declared(bytes(3 << 19)), "Content-Type": "application/octet-stream"},
        )
    assert too_large.value.status == 413
    assert _blob_count(ctx) == 0 and list(ctx.settings.upload_dir.iterdir()) == []


def test_an_upload_is_answered_with_its_content_digest(practice: Practice):
    """The server digests an upload as it arrives, whatever the pieces: an envelope by
    its version's content digest (the chunk tree for version 2), other bytes whole."""
    sealed = envelope.encrypt(envelope.generate_document_key(), os.urandom(9000), chunk_log2=12)
    garbage = b"UHSE\x03" + os.urandom(5000)
    for data, expected in (
        (sealed, envelope.content_digest(sealed)),
        (garbage, hashlib.sha256(garbage).digest()),
    ):
        answer = practice.alice.exchange.call(
            "POST",
            "/blobs",
            content=iter([data[:50], data[50:4200], data[4200:]]),
            headers={**declared(data), "Content-Type": "application/octet-stream"},
        ).json()
        assert b64u_decode(answer["sha256"]) == expected
    assert envelope.content_digest(sealed) != hashlib.sha256(sealed).digest()


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        (lambda b: b.update(signature=b64u_encode(bytes(64))), 400, "signature does not match"),
        (
            lambda b: b.update(patient_file_id=str(uuid.uuid4())),
            404,
            "no such patient file",
        ),
        (
            lambda b: b.update(envelope_header=b64u_encode(b"UHSE" + bytes(74))),
            400,
            "envelope",
        ),
        (lambda b: b.update(signer_key_index=1), 400, "current key"),  # bob's entry
        (lambda b: b.update(shares=b["shares"][1:]), 400, "wrap the document key for yourself"),
        (
            lambda b: b["shares"][1].update(wrapped_key=b64u_encode(b"\x01" + bytes(86))),
            400,
            "wrapped key",
        ),
        (lambda b: b.update(blob_id=str(uuid.uuid4())), 400, "unknown upload"),
    ],
)
def test_a_document_that_does_not_hold_together_is_refused(
    practice: Practice, ctx, report, change, status, detail
):
    body = version_body(practice, report)
    change(body)
    with pytest.raises(ApiError) as refused:
        practice.alice.exchange.call("POST", "/documents", json=body)
    assert (refused.value.status, detail in refused.value.detail) == (status, True)
    with ctx.sessions() as db:
        assert (
            db.scalar(select(func.count()).select_from(Blob).where(Blob.attached_at.isnot(None)))
            == 0
        )


def test_an_upload_belongs_to_its_uploader(practice: Practice, report):
    body = version_body(practice, report)
    with pytest.raises(ApiError) as refused:
        practice.bob.exchange.call("POST", "/documents", json=body)
    assert refused.value.status == 404  # bob is not in the practice: no such patient file
    assert b64u_decode(body["signature"])


def test_a_refused_upload_stops_the_encryption_too(practice: Practice, ctx, tmp_path):
    import threading

    big = tmp_path / "scan.tiff"
    big.write_bytes(bytes(3 << 20))
    ctx.settings.max_upload_bytes = 1 << 20
    with pytest.raises(ApiError) as refused:
        practice.alice.exchange.send(big, patient_file_id=practice.patient_file, to=[])
    assert refused.value.status == 413
    assert not [t for t in threading.enumerate() if t.name == "uhs-encrypt"]
    assert _blob_count(ctx) == 0


def test_an_account_cannot_upload_beyond_its_quota(practice: Practice, ctx):
    """Uploads never attached stay an hour, attached ones for years: without a quota one
    account fills the blob store for everyone."""
    alice, bob = practice.alice.exchange, practice.bob.exchange
    ctx.settings.account_upload_quota_bytes = 100_000

    def upload(client, size: int) -> dict:
        return client.call(
            "POST",
            "/blobs",
            content=iter([b"\x01" * size]),
            headers={**declared(b"\x01" * size), "Content-Type": "application/octet-stream"},
        ).json()

    upload(alice, 60_000)
    with pytest.raises(ApiError) as refused:
        upload(alice, 60_000)
    assert refused.value.status == 413 and "quota" in refused.value.detail
    upload(alice, 40_000)  # exactly the quota
    with pytest.raises(ApiError) as full:
        upload(alice, 1)  # refused before the body is read
    assert full.value.status == 413 and "quota" in full.value.detail
    assert _blob_count(ctx) == 2 and list(ctx.settings.upload_dir.iterdir()) == []
    assert upload(bob, 60_000)["size"] == 60_000  # each account has its own


def test_a_used_document_id_gets_one_answer_wherever_it_is_used(practice: Practice, report, users):
    """No oracle: whether Alice's document id is taken in Bob's own file or reused by
    Alice in hers, the refusal is the same, and says nothing of the other document."""
    alice, bob = practice.alice.exchange, practice.bob.exchange
    document_id = alice.send(report, patient_file_id=practice.patient_file, to=[])
    elsewhere = bob.call("POST", "/practices", json={"name": "Cabinet Bob"}).json()["id"]
    users.join_practice(practice.bob.user, elsewhere, users.signed_in("eve@example.org", "patient"))
    bob_file = bob.patient_file(elsewhere, "eve@example.org")["id"]

    answers = []
    for client, patient_file in ((bob, bob_file), (alice, practice.patient_file)):
        version, _ = client._prepare_version(
            document_id,
            uuid.UUID(patient_file),
            1,
            report,
            None,
            None,
            client._recipients([]),
            {},
            None,
            NO_PREVIOUS,
        )
        with pytest.raises(ApiError) as refused:
            client.call(
                "POST",
                "/documents",
                json={"id": str(document_id), "patient_file_id": patient_file, **body(version)},
            )
        answers.append((refused.value.status, refused.value.detail))
    assert answers[0] == answers[1]
    assert answers[0][0] == 400 and "exists" not in answers[0][1]
    assert bob.documents() == []


def test_a_refused_document_leaves_no_row_behind(practice: Practice, report, ctx):
    """The document's row is written in a savepoint before its version is checked: on
    SQLite that savepoint opened the transaction and its release committed it, so a
    refused creation (here a reader list changed after signing) left a document
    without a version or a reader, and its id burnt."""
    from uhealthsec.server.records.models import Document

    alice = practice.alice.exchange
    body = version_body(practice, report)
    forged = {**body, "readers": body["readers"][:1]}
    forged["shares"] = [s for s in body["shares"] if s["recipient_id"] == alice.me["id"]]
    with pytest.raises(ApiError) as refusal:
        alice.call("POST", "/documents", json=forged)
    assert refusal.value.status == 400
    with ctx.sessions.begin() as db:
        assert db.scalar(select(func.count()).select_from(Document)) == 0
    alice.call("POST", "/documents", json=body)  # the id is still free
