"""The main job end to end: the server on loopback (uvicorn), three people with the SDK
over real HTTP. On SQLite with the filesystem store, and on PostgreSQL with S3."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from tests.server.records.conftest import device
from tests.server_fixtures import Users, make_settings
from uhealthsec.client.api import ApiError, AuthClient
from uhealthsec.client.consent import ConsentClient
from uhealthsec.server.settings import Settings


@pytest.fixture
def settings(tmp_path: Path, database_url: str, request) -> Settings:
    storage: dict[str, str] = {}
    if database_url.startswith("postgresql"):
        s3 = request.getfixturevalue("s3")
        storage = {
            "blob_store": "s3",
            "s3_bucket": s3.bucket,
            "s3_endpoint_url": s3.url,
            "s3_region": s3.region,
            "s3_access_key_id": s3.access_key_id,
            "s3_secret_access_key": s3.secret_access_key,
        }
    return make_settings(tmp_path, database_url, **storage)


def test_send_receive_share_revoke_and_new_version_over_http(
    live_server, outbox, clock, ctx, settings, tmp_path
):
    with httpx2.Client(base_url=live_server, timeout=30) as http:
        users = Users(AuthClient(http), outbox, clock, ctx)
        alice_user = users.signed_in("alice@cabinet.example")
        bob_user = users.signed_in("bob@kine.example")
        carol_user = users.signed_in("carol@patient.example", "patient")
        alice, bob, carol = (device(http, users, u) for u in (alice_user, bob_user, carol_user))

        practice = alice.call("POST", "/practices", json={"name": "Cabinet"}).json()["id"]
        users.join_practice(alice_user, practice, carol_user)
        patient_file = alice.patient_file(practice, carol_user.email)["id"]
        # Bob works elsewhere: Carol consents to his receiving her documents.
        ConsentClient(carol).decide(practice, "outside_team", "permit", bob_user.email)
        report = tmp_path / "ordonnance.pdf"
        report.write_bytes(b"%PDF-1.7 ordonnance kinesitherapie 10 seances" * 40_000)  # 1.8 MB
        sent = []
        document_id = alice.send(
            report,
            patient_file_id=patient_file,
            to=[bob_user.email],
            title="Ordonnance de kinesitherapie",
            progress=lambda done, total: sent.append((done, total)),
        )
        assert sent[-1][0] == sent[-1][1] > report.stat().st_size

        [summary] = bob.documents()
        assert (summary.title, summary.media_type) == (
            "Ordonnance de kinesitherapie",
            "application/pdf",
        )
        received = bob.fetch(document_id, tmp_path / "bob.pdf")
        assert received.path.read_bytes() == report.read_bytes()
        assert (received.signer.entry.email, received.author_email) == (alice_user.email,) * 2

        alice.share(document_id, [carol_user.email])
        assert carol.fetch(document_id, tmp_path / "carol.pdf").path.read_bytes() == (
            report.read_bytes()
        )

        alice.revoke(document_id, bob_user.email)
        with pytest.raises(ApiError):
            bob.fetch(document_id, tmp_path / "bob-again.pdf")

        report.write_bytes(b"%PDF-1.7 ordonnance modifiee: 15 seances")
        assert alice.new_version(document_id, report) == 2
        latest = carol.fetch(document_id, tmp_path / "carol-v2.pdf")
        assert (latest.version, latest.path.read_bytes()) == (2, report.read_bytes())
        assert bob.documents() == []

    stored = list(ctx.blobs.keys())
    assert len(stored) == 2
    if settings.blob_store == "s3":
        assert not settings.blob_dir.exists()
