"""Both blob stores keep the same promises."""

from __future__ import annotations

import uuid

import pytest

from uhealthsec.server.storage.blobs import BlobMissing, FilesystemBlobStore, S3BlobStore


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
