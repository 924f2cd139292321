"""Both blob stores keep the same promises."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from uhealthsec.server.app import blob_store_for
from uhealthsec.server.settings import Settings
from uhealthsec.server.storage import blobs
from uhealthsec.server.storage.blobs import (
    S3_MAX_RETRIES,
    BlobMissing,
    FilesystemBlobStore,
    S3BlobStore,
)


@pytest.fixture(params=["filesystem", "s3"])
def store(request, tmp_path):
    if request.param == "filesystem":
        return FilesystemBlobStore(tmp_path / "blobs")
    s3 = request.getfixturevalue("s3")
    return S3BlobStore(s3.client(), s3.bucket)


def test_put_read_prefix_list_delete(store, tmp_path):
    key = uuid.uuid4().hex
    data = bytes(range(256)) * 10_000  # 2.5 MB: several read chunks, multipart on S3
    source = tmp_path / "upload"
    source.write_bytes(data)
    store.put_file(key, source)
    assert not source.exists()  # consumed
    assert b"".join(store.read(key)) == data
    assert store.read_prefix(key, 78) == data[:78]
    assert list(store.keys()) == [key]
    store.delete(key)
    store.delete(key)  # deleting twice is fine
    assert list(store.keys()) == []
    with pytest.raises(BlobMissing):
        b"".join(store.read(key))


def test_keys_are_checked(store, tmp_path):
    source = tmp_path / "upload"
    source.write_bytes(b"x")
    for bad in ("../../etc/passwd", "ABCDEF" * 6, ""):
        with pytest.raises(ValueError, match="hex"):
            store.put_file(bad, source)


def test_a_filesystem_blob_is_durable_once_stored(tmp_path, monkeypatch):
    """The blob's data, then the directory entries naming it, reach the disk."""
    flushed: list[Path] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        flushed.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(blobs.os, "fsync", recording_fsync)
    store = FilesystemBlobStore(tmp_path / "blobs")
    key = "ab" + "0" * 30
    for name in ("first", "second"):
        source = tmp_path / name
        source.write_bytes(b"ciphertext")
        store.put_file(key if name == "first" else "ab" + "1" * 30, source)
    shard = store.root / "ab"
    # First blob: new shard directory, so the root is flushed too; second: the shard only.
    assert flushed == [tmp_path / "first", shard, store.root, tmp_path / "second", shard]


def test_the_s3_client_times_out_retries_and_sends_checksums_only_when_required(tmp_path):
    settings = Settings(data_dir=tmp_path, blob_store="s3", s3_bucket="uhs")
    store = blob_store_for(settings)
    assert isinstance(store, S3BlobStore)
    config = store.client.meta.config
    # botocore keeps the total: the first attempt and the retries.
    assert config.retries == {"mode": "standard", "total_max_attempts": S3_MAX_RETRIES + 1}
    assert (config.connect_timeout, config.read_timeout) == (5.0, 30.0)
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"

    settings = Settings(
        data_dir=tmp_path,
        blob_store="s3",
        s3_bucket="uhs",
        s3_connect_timeout_seconds=2,
        s3_read_timeout_seconds=7.5,
        s3_max_retries=0,
    )
    config = blob_store_for(settings).client.meta.config  # type: ignore[attr-defined]
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert (config.connect_timeout, config.read_timeout) == (2.0, 7.5)
