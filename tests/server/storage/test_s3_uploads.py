"""What an interrupted S3 upload leaves: a failed multipart upload is aborted at once;
one whose process was killed is aborted by cleanup once older than the upload expiry.
Neither shows among the store's objects, so only listing unfinished uploads finds it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.server.storage.s3_uploader import ONE_PART_AT_A_TIME, PART
from tests.server_fixtures import make_settings
from uhealthsec.server.records.service import RecordsService
from uhealthsec.server.settings import Settings
from uhealthsec.server.storage.blobs import S3BlobStore

ROOT = Path(__file__).resolve().parents[3]
MOTO_INITIATED = datetime(2010, 11, 10, 20, 48, 33, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, s3) -> Settings:
    return make_settings(tmp_path, database_url, **s3.settings())


def _unfinished(s3) -> list[str]:
    answer = s3.client().list_multipart_uploads(Bucket=s3.bucket)
    return [upload["Key"] for upload in answer.get("Uploads", [])]


def _three_parts(path: Path) -> Path:
    path.write_bytes(os.urandom(2 * PART + 1000))
    return path


def test_a_killed_upload_is_aborted_by_cleanup(ctx, s3, tmp_path):
    key = uuid.uuid4().hex
    source = _three_parts(tmp_path / "spooled")
    command = ["-m", "tests.server.storage.s3_uploader", s3.url, s3.bucket, key, str(source)]
    uploader = subprocess.Popen(
        [sys.executable, *command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert uploader.stdout is not None
        assert uploader.stdout.readline() == "part stored\n"
    finally:
        uploader.kill()  # kill -9, one part of three stored
        uploader.wait(timeout=10)
    assert uploader.returncode == -signal.SIGKILL
    assert _unfinished(s3) == [f"blobs/{key}"]
    assert list(ctx.blobs.keys()) == []  # no object: the parts are invisible there

    # One started after the cutoff is left alone: it may be an upload still running.
    # (moto answers that every upload was initiated on 2010-11-10T20:48:33Z, so the
    # cutoff that keeps it is set before that date.)
    assert ctx.blobs.abort_unfinished_uploads(started_before=MOTO_INITIATED) == 0
    assert _unfinished(s3) == [f"blobs/{key}"]
    with ctx.sessions.begin() as db:
        assert RecordsService(db, ctx).collect_unfinished_uploads() == 1
    assert _unfinished(s3) == []
    assert list(ctx.blobs.keys()) == []


def test_an_upload_that_fails_midway_is_aborted(s3, tmp_path):
    """The spool file disappears after the first part: reading the second fails."""
    store = S3BlobStore(s3.client(), s3.bucket, transfer=ONE_PART_AT_A_TIME)
    source = _three_parts(tmp_path / "spooled")
    stored: list[int] = []

    def spool_lost(**_: object) -> None:
        stored.append(1)
        source.unlink(missing_ok=True)

    store.client.meta.events.register("after-call.s3.UploadPart", spool_lost)
    with pytest.raises(FileNotFoundError):
        store.put_file(uuid.uuid4().hex, source)
    assert stored == [1]  # it failed midway: one part was in the store
    assert _unfinished(s3) == []
    assert list(store.keys()) == []
