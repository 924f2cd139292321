"""Blob stores: where document ciphertext lives (a local directory, or S3-compatible).

Blobs are envelopes, encrypted on the user's device; the store never sees plaintext.
An upload is first spooled to a local file while its size and SHA-256 are computed,
then handed to the store in one piece, so a store holds only complete objects. What an
interrupted upload can leave: a spool file, when its process was killed (removed when
a server starts, and by cleanup, as soon as no live process holds it: see ``Spool``);
on S3, an unfinished multipart upload, when its process was killed or the store
failed to abort it (aborted by cleanup after the upload expiry).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from uhealthsec.crypto.envelope import EnvelopeDigest

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

log = logging.getLogger("uhealthsec.server.blobs")

READ_CHUNK = 1 << 20
#: Retries of a failed S3 call (after its first attempt) before the error reaches the
#: caller; botocore's ``max_attempts`` counts retries, not the first attempt.
S3_MAX_RETRIES = 4
#: Waits of the S3 client (settings ``s3_connect_timeout_seconds``,
#: ``s3_read_timeout_seconds``): a hung store fails a call instead of holding a
#: request (and its thread) forever.
S3_CONNECT_TIMEOUT = 5.0
S3_READ_TIMEOUT = 30.0
#: Every spool file's name starts so; the rest is random (``tempfile``).
SPOOL_PREFIX = "upload-"
_KEY = re.compile(r"^[0-9a-f]{32}$")


class BlobMissing(LookupError):
    pass


class BlobStore(Protocol):
    def put_file(self, key: str, path: Path) -> None:
        """Store the local file ``path`` under ``key``; the file is consumed."""

    def read(self, key: str) -> Iterator[bytes]:
        """The blob's bytes, in chunks."""

    def read_prefix(self, key: str, size: int) -> bytes: ...

    def delete(self, key: str) -> None:
        """Remove a blob; removing a missing blob is not an error."""

    def keys(self, written_before: datetime | None = None) -> Iterator[str]:
        """Every blob's key; only those written before ``written_before`` if given."""

    def abort_unfinished_uploads(self, started_before: datetime) -> int:
        """Abort the store's own unfinished writes started before ``started_before``
        (S3 multipart uploads a killed process left); how many were aborted."""

    def check_reachable(self) -> None:
        """Raise (the store's own error) unless the store answers and can be written."""


def is_blob_key(key: str) -> bool:
    """Whether ``key`` is a blob's key (32 lowercase hex digits), nothing of a path."""
    return _KEY.fullmatch(key) is not None


def _check(key: str) -> str:
    if not is_blob_key(key):
        raise ValueError("blob keys are 32 lowercase hex digits")
    return key


class FilesystemBlobStore:
    """One file per blob under ``root/ab/``; written by rename, so never half there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / _check(key)[:2] / key

    def check_reachable(self) -> None:
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "the blob directory cannot be written")

    def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir()
            new_directory = True
        except FileExistsError:
            new_directory = False
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(path, target)
        # The rename survives a power loss only once the directory naming the blob is
        # on disk too (and the root, for a directory made just now).
        _fsync_directory(target.parent)
        if new_directory:
            _fsync_directory(self.root)

    def read(self, key: str) -> Iterator[bytes]:
        try:
            handle = open(self._path(key), "rb")  # noqa: SIM115 (closed by the generator)
        except FileNotFoundError as exc:
            raise BlobMissing(key) from exc
        return _chunks(handle)

    def read_prefix(self, key: str, size: int) -> bytes:
        try:
            with open(self._path(key), "rb") as handle:
                return handle.read(size)
        except FileNotFoundError as exc:
            raise BlobMissing(key) from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def keys(self, written_before: datetime | None = None) -> Iterator[str]:
        limit = written_before.timestamp() if written_before else None
        for path in self.root.glob("??/*"):
            if _KEY.match(path.name) and (limit is None or path.stat().st_mtime < limit):
                yield path.name

    def abort_unfinished_uploads(self, started_before: datetime) -> int:
        # A blob appears by a rename of a complete file: nothing is ever half written
        # here (what a crash leaves is a spool file, see Spool).
        return 0


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def s3_client_config(
    connect_timeout: float = S3_CONNECT_TIMEOUT,
    read_timeout: float = S3_READ_TIMEOUT,
    max_retries: int = S3_MAX_RETRIES,
) -> Config:
    """How the S3 client talks to the store: a connection must open within
    ``connect_timeout`` seconds and every read of an answer (each chunk of a streamed
    blob included) must get data within ``read_timeout``, so that a hung store fails
    calls instead of hanging them; transient errors, timeouts included, and throttling
    are retried ``max_retries`` times with backoff ("standard" mode); checksums only
    where the API requires them, since S3-compatible stores other than AWS refuse or
    mishandle botocore's default (a CRC checksum on every upload and download)."""
    # Imported here, as boto3 is: only a server with an S3 store needs them.
    from botocore.config import Config

    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": max_retries},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


def _chunks(handle: Any) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(READ_CHUNK):
            yield chunk


class S3BlobStore:
    """An S3-compatible bucket (HDS-certified object storage in production)."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "blobs/",
        transfer: TransferConfig | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        #: How ``upload_file`` splits an upload (boto3's defaults when None).
        self.transfer = transfer

    def _name(self, key: str) -> str:
        return self.prefix + _check(key)

    def check_reachable(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)

    def put_file(self, key: str, path: Path) -> None:
        # upload_file switches to a multipart upload for large files; the object
        # appears only when the upload completes. A failed multipart upload is aborted
        # by upload_file itself once it knows the upload's id; what it could not abort
        # (its abort failed too, or the answer creating the upload was lost) is looked
        # for under this key and aborted here; what a killed process left, or what the
        # store refused to abort now, cleanup aborts later (abort_unfinished_uploads).
        name = self._name(key)
        try:
            self.client.upload_file(str(path), self.bucket, name, Config=self.transfer)
        except BaseException:
            self._abort_uploads_of(name)
            raise
        path.unlink()

    def _unfinished_uploads(self, prefix: str) -> list[dict[str, Any]]:
        paginator = self.client.get_paginator("list_multipart_uploads")
        return [
            upload
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for upload in page.get("Uploads", [])
        ]

    def _abort(self, upload: dict[str, Any]) -> None:
        # NoSuchUpload: completed or aborted meanwhile.
        with contextlib.suppress(self.client.exceptions.NoSuchUpload):
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )

    def _abort_uploads_of(self, name: str) -> None:
        try:
            for upload in self._unfinished_uploads(name):
                if upload["Key"] == name:
                    self._abort(upload)
        except Exception:
            # The store failing is most likely why the upload failed: cleanup will
            # abort it once it is older than the upload expiry.
            log.warning("could not abort the unfinished upload of %s", name, exc_info=True)

    def _get(self, key: str, **kwargs: Any) -> Any:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._name(key), **kwargs)
        except self.client.exceptions.NoSuchKey as exc:
            raise BlobMissing(key) from exc

    def read(self, key: str) -> Iterator[bytes]:
        body = self._get(key)["Body"]

        def chunks() -> Iterator[bytes]:
            with body:
                yield from body.iter_chunks(READ_CHUNK)

        return chunks()

    def read_prefix(self, key: str, size: int) -> bytes:
        data: bytes = self._get(key, Range=f"bytes=0-{size - 1}")["Body"].read()
        return data

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def keys(self, written_before: datetime | None = None) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                name = item["Key"][len(self.prefix) :]
                if _KEY.match(name) and (
                    written_before is None or item["LastModified"] < written_before
                ):
                    yield name

    def abort_unfinished_uploads(self, started_before: datetime) -> int:
        # Listed first, then aborted: no listing is changed while it is paged through.
        stale = [
            upload
            for upload in self._unfinished_uploads(self.prefix)
            if upload["Initiated"] < started_before
        ]
        for upload in stale:
            self._abort(upload)
        return len(stale)


class Spool:
    """A local file receiving an upload, with its running size and content digest.

    The digest is the envelope's content digest (``envelope.EnvelopeDigest``, PROTOCOL
    3.5), computed as the bytes arrive: what the uploader signs and checks against
    the answer (bytes that are no envelope get the SHA-256 of them all).

    The file is locked (``flock``, exclusive) from its creation until it is handed to
    the store and closed, or discarded: a file in the spool directory that nobody
    holds locked was left by a process that died (kill -9, power loss), since the
    kernel drops a dead process's locks, and ``remove_abandoned_spool_files`` removes
    it, however many API processes share the directory. ``flock`` rather than
    ``lockf``: a POSIX record lock would be dropped as soon as the process closed any
    descriptor of the file, as the filesystem store does when it syncs the file.
    """

    def __init__(self, directory: Path, limit: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.limit = limit
        self.size = 0
        self._digest = EnvelopeDigest()
        self._handle, self.path = _locked_spool_file(directory)

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise UploadTooLarge(self.limit)
        self._digest.update(data)
        self._handle.write(data)

    def finish(self) -> tuple[Path, int, bytes]:
        """The complete file, still locked until ``close``: hand it to the store."""
        self._handle.flush()
        return self.path, self.size, self._digest.digest()

    def close(self) -> None:
        """Once the store consumed the file: release it."""
        self._handle.close()

    def discard(self) -> None:
        """Remove the file (unlinked while still locked), then release it."""
        self.path.unlink(missing_ok=True)
        self._handle.close()


def _locked_spool_file(directory: Path) -> tuple[Any, Path]:
    while True:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed by the Spool)
            dir=directory, prefix=SPOOL_PREFIX, delete=False
        )
        # Waits an instant at most: another process holds a new, unlocked file only
        # while it checks whether it may remove it.
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        path = Path(handle.name)
        try:
            if os.path.samestat(os.stat(path), os.fstat(handle.fileno())):
                return handle, path
        except FileNotFoundError:
            pass
        # Removed between its creation and the lock, as a file nobody held: again.
        handle.close()


def remove_abandoned_spool_files(directory: Path) -> int:
    """Remove the spool files that no live process holds (see ``Spool``): what uploads
    interrupted by a crash left. An upload in progress, in this process or another,
    keeps its file. How many were removed."""
    if not directory.is_dir():
        return 0
    removed = 0
    for path in directory.iterdir():
        if not path.name.startswith(SPOOL_PREFIX):
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue  # gone meanwhile, or not a file of ours (a link)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # an upload in progress
            try:
                ours = os.path.samestat(os.stat(path), os.fstat(fd))
            except FileNotFoundError:
                continue
            if ours:
                path.unlink()
                removed += 1
        finally:
            os.close(fd)
    return removed


class UploadTooLarge(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the upload is larger than {limit} bytes")
