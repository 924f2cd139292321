"""Where backups are written and read back: a folder (another volume), or a second
S3 bucket (``s3://bucket/prefix``, on the blob store's endpoint and credentials).

A backup is written part by part: each is sealed into a local scratch file, then put
in place. In a folder, a backup is assembled under a ``.partial-`` name and renamed
once complete; in a bucket, the file naming the backup's key (``backup-key``) is put
last, so a backup without it is incomplete and neither listed nor restored.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from uhealthsec.server.storage.blobs import READ_CHUNK

#: A complete backup's name: its time, so that names sort by age.
BACKUP_NAME = re.compile(r"^uhs-backup-\d{8}T\d{6}Z$")
#: Put last: a backup is complete once it is there.
KEY_FILE = "backup-key"


class LocationRefused(Exception):
    """The location cannot be used as asked (nothing secret in the message)."""


class BackupWriter(Protocol):
    #: Where parts are sealed before ``put`` moves them into the backup.
    scratch: Path

    def put(self, part: str, path: Path) -> None:
        """Move the sealed file ``path`` into the backup as ``part`` (``path`` is consumed)."""

    def commit(self) -> str:
        """The backup is whole: make it visible; where it is."""

    def abort(self) -> None:
        """Remove what was written."""


class BackupLocation(Protocol):
    def start(self, name: str) -> BackupWriter: ...

    def backups(self) -> list[str]:
        """The complete backups' names, oldest first."""

    def remove(self, name: str) -> None: ...

    def read(self, name: str, part: str) -> io.BufferedIOBase:
        """A part of a backup, to read.

        :raises FileNotFoundError: no such part.
        """

    def where(self, name: str) -> str: ...


class _FolderWriter:
    def __init__(self, root: Path, name: str) -> None:
        self.final = root / name
        if self.final.exists():
            raise LocationRefused(f"{self.final} exists already: one backup per second at most")
        self.work = Path(tempfile.mkdtemp(prefix=f".partial-{name}-", dir=root))
        self.scratch = self.work / ".scratch"
        self.scratch.mkdir()

    def put(self, part: str, path: Path) -> None:
        target = self.work / part
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)

    def commit(self) -> str:
        self.scratch.rmdir()
        self.work.rename(self.final)
        return str(self.final)

    def abort(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


class FolderLocation:
    def __init__(self, root: Path) -> None:
        self.root = root

    def start(self, name: str) -> BackupWriter:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return _FolderWriter(self.root, name)

    def backups(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if BACKUP_NAME.match(p.name))

    def remove(self, name: str) -> None:
        shutil.rmtree(self.root / name)

    def read(self, name: str, part: str) -> io.BufferedIOBase:
        return open(self.root / name / part, "rb")  # the caller closes it

    def where(self, name: str) -> str:
        return str(self.root / name)


class _BucketWriter:
    def __init__(self, location: BucketLocation, name: str) -> None:
        self.location = location
        self.name = name
        if location.objects(name):
            raise LocationRefused(f"{location.where(name)} exists already")
        self._scratch = tempfile.TemporaryDirectory(prefix="uhs-backup-")
        self.scratch = Path(self._scratch.name)
        self.written: list[str] = []

    def put(self, part: str, path: Path) -> None:
        key = self.location.key(self.name, part)
        self.location.client.upload_file(str(path), self.location.bucket, key)
        self.written.append(key)
        path.unlink()

    def commit(self) -> str:
        self._scratch.cleanup()
        return self.location.where(self.name)

    def abort(self) -> None:
        self._scratch.cleanup()
        self.location.delete(self.written)


class BucketLocation:
    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def key(self, name: str, part: str) -> str:
        return f"{self.prefix}{name}/{part}"

    def where(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{name}"

    def objects(self, name: str) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self.key(name, ""))
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # at most 1,000 per request
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch})

    def start(self, name: str) -> BackupWriter:
        return _BucketWriter(self, name)

    def backups(self) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self.prefix, Delimiter="/")
        names = [
            common["Prefix"][len(self.prefix) :].rstrip("/")
            for page in pages
            for common in page.get("CommonPrefixes", [])
        ]
        return sorted(n for n in names if BACKUP_NAME.match(n) and self._complete(n))

    def _complete(self, name: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(name, KEY_FILE))
        except self.client.exceptions.ClientError:
            return False
        return True

    def remove(self, name: str) -> None:
        # The key file first: a backup interrupted in its removal is no longer listed.
        objects = self.objects(name)
        first = self.key(name, KEY_FILE)
        self.delete([k for k in objects if k == first])
        self.delete([k for k in objects if k != first])

    def read(self, name: str, part: str) -> io.BufferedIOBase:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(name, part))["Body"]
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(self.key(name, part)) from None
        return io.BufferedReader(ChunksReader(body.iter_chunks(READ_CHUNK)))


class ChunksReader(io.RawIOBase):
    """Chunks (a blob store's, an S3 object's), read as a file."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def split_location(text: str) -> tuple[str | None, str]:
    """``s3://bucket/prefix`` as (bucket, prefix); a folder as (None, the folder)."""
    if not text.startswith("s3://"):
        return None, text
    bucket, _, prefix = text.removeprefix("s3://").partition("/")
    if not bucket:
        raise LocationRefused(f"{text} names no bucket: s3://bucket/prefix")
    return bucket, prefix
