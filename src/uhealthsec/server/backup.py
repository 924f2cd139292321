"""Backups of a whole server, sealed to its operator's recovery key, and their restore.

A backup is one folder, or one prefix of a bucket (``backup_locations``): the database
(SQLite's online backup, or ``pg_dump`` in one snapshot), the blobs that snapshot
lists, and the server key, each sealed in its own envelope (``crypto.envelope``) under
one fresh backup key; a manifest naming every part with the SHA-256 of its sealed
file, sealed too; and that backup key wrapped to the operator's recovery key
(``crypto.wrap``: X-Wing, the suite of every document key), bound to the manifest's
envelope header. Only the recovery key's private half, kept offline by the operator,
opens a backup: the server that writes backups holds the public half only
(``UHS_BACKUP_KEY``). The public half also lets anyone who holds it make a backup that
opens: what vouches for a restored server is its log key, derived from the server key
in the backup, which every device pinned and checks.

Consistency: the database is read first, in one snapshot; then exactly the blobs that
snapshot lists are copied. Blobs added meanwhile belong to rows the snapshot does not
have and are left out; a blob the snapshot lists is never deleted before its row is
(a purge commits the row's removal first), so a listed blob found missing is a loss,
and the backup fails rather than be taken for complete.

A restore opens the manifest, checks every part's digest and that the target (data
directory, database, blob store) is empty before it writes anything.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.engine import make_url

from uhealthsec.crypto import envelope, wrap
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.keys import PublicKeys, UserKeys
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode
from uhealthsec.server.backup_locations import (
    KEY_FILE,
    BackupLocation,
    BackupWriter,
    BucketLocation,
    ChunksReader,
    FolderLocation,
    LocationRefused,
    split_location,
)
from uhealthsec.server.records.models import Blob
from uhealthsec.server.settings import Settings
from uhealthsec.server.storage.blobs import (
    BlobMissing,
    BlobStore,
    FilesystemBlobStore,
    is_blob_key,
)
from uhealthsec.server.storage.db import make_engine

FORMAT = "uhealthsec-backup/1"
#: The files of a backup: the wrapped backup key (KEY_FILE), the sealed manifest, parts.
MANIFEST_FILE = "manifest"
DATABASE_PART = "database"
SERVER_KEY_PART = "server-key"
BLOBS_FOLDER = "blobs"
_PRIVATE_KEY_LABEL = "U-HealthSec backup recovery key"


class BackupRefused(Exception):
    """Why a backup or a restore did not happen (nothing secret in the message)."""


# -- the operator's recovery key ---------------------------------------------------------


def new_recovery_key(path: Path) -> str:
    """Write a new recovery key's private half to ``path`` (created, mode 600; an
    existing file is never replaced); return its public half for ``UHS_BACKUP_KEY``."""
    keys = UserKeys.generate()
    text = f"# {_PRIVATE_KEY_LABEL}: keep offline\n{b64u_encode(keys.encode())}\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupRefused(f"{path} exists: a recovery key is never written over") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return b64u_encode(keys.public().encode())


def read_recovery_key(path: Path) -> UserKeys:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupRefused(f"the recovery key {path} cannot be read") from exc
    encoded = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    try:
        return UserKeys.decode(b64u_decode(encoded[0]) if len(encoded) == 1 else b"")
    except (ValueError, CryptoError):
        raise BackupRefused(f"{path} is not a backup recovery key") from None


def backup_public_key(value: str) -> PublicKeys:
    """``UHS_BACKUP_KEY``: the recovery key's public half."""
    try:
        return PublicKeys.decode(b64u_decode(value.strip()))
    except (ValueError, CryptoError):
        raise BackupRefused(
            "UHS_BACKUP_KEY is not a recovery key's public half (`uhs-server backup-key new`)"
        ) from None


# -- sealing parts -----------------------------------------------------------------------


class _HashingWriter:
    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        self.sha256.update(data)
        self.size += len(data)
        written: int = self._handle.write(data)
        return written


@dataclass(frozen=True)
class Part:
    """One sealed file of a backup, named by its path inside the backup."""

    name: str
    sha256: str
    size: int


def _seal(key: bytes, source: Any, writer: BackupWriter, name: str) -> Part:
    """Seal ``source`` as the part ``name`` of the backup ``writer`` writes."""
    sealed = writer.scratch / "part"
    with open(sealed, "xb") as handle:
        sink = _HashingWriter(handle)
        envelope.encrypt_stream(key, source, sink, digest=False)
        handle.flush()
        os.fsync(handle.fileno())
    writer.put(name, sealed)
    return Part(name, sink.sha256.hexdigest(), sink.size)


def _digest(handle: io.BufferedIOBase) -> str:
    with handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# -- backup ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupDone:
    where: str
    blobs: int
    size: int
    removed: list[str]


def location_for(settings: Settings, text: str) -> BackupLocation:
    """A folder, or ``s3://bucket/prefix`` on the blob store's S3 endpoint."""
    try:
        bucket, prefix = split_location(text)
    except LocationRefused as exc:
        raise BackupRefused(str(exc)) from None
    if bucket is None:
        return FolderLocation(Path(prefix).expanduser().resolve())
    from uhealthsec.server.app import s3_client_for

    return BucketLocation(s3_client_for(settings), bucket, prefix)


def backup_at(settings: Settings, text: str) -> tuple[BackupLocation, str]:
    """One backup, as ``--from`` names it: its location, and its name there."""
    bucket, path = split_location(text.rstrip("/"))
    if bucket is None:
        folder = Path(path).expanduser().resolve()
        return FolderLocation(folder.parent), folder.name
    parent, _, name = path.rpartition("/")
    return location_for(settings, f"s3://{bucket}/{parent}"), name


def backup(
    settings: Settings,
    store: BlobStore,
    destination: BackupLocation,
    *,
    keep: int,
    now: datetime | None = None,
) -> BackupDone:
    """Write one backup to ``destination``; then keep only the ``keep`` newest there."""
    if not settings.backup_key:
        raise BackupRefused("no recovery key: set UHS_BACKUP_KEY (`uhs-server backup-key new`)")
    recipient = backup_public_key(settings.backup_key)
    server_key = _server_key_text(settings)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    try:
        writer = destination.start(f"uhs-backup-{stamp}")
    except LocationRefused as exc:
        raise BackupRefused(str(exc)) from None
    try:
        key = envelope.generate_document_key()
        parts: list[Part] = []
        # The copy in clear stays beside the server's data, never where backups are kept
        # (another volume: a backup cut short there would leave it behind).
        local = settings.data_dir if settings.data_dir.is_dir() else None
        with tempfile.TemporaryDirectory(dir=local, prefix="backup-") as scratch:
            dump = Path(scratch) / "dump"
            kind, blob_keys = _dump_database(settings.resolved_database_url, dump)
            with open(dump, "rb") as source:
                parts.append(_seal(key, source, writer, DATABASE_PART))
        parts.append(_seal(key, io.BytesIO(server_key), writer, SERVER_KEY_PART))
        missing = []
        for blob_key in sorted(blob_keys):
            try:
                chunks = store.read(blob_key)
            except BlobMissing:
                missing.append(blob_key)
                continue
            source = io.BufferedReader(ChunksReader(chunks))
            parts.append(_seal(key, source, writer, f"{BLOBS_FOLDER}/{blob_key}"))
        if missing:
            raise BackupRefused(
                f"{len(missing)} blob(s) the database lists are missing from the blob store "
                "(`uhs-server cleanup --check` lists them): this backup would not be whole"
            )
        manifest = {
            "format": FORMAT,
            "created_at": stamp,
            "database": kind,
            "parts": [{"name": p.name, "sha256": p.sha256, "size": p.size} for p in parts],
        }
        sealed_manifest = envelope.encrypt(key, json.dumps(manifest).encode())
        wrapped = wrap.wrap_document_key(key, recipient, sealed_manifest[: envelope.HEADER_SIZE])
        sealed_key = {
            "format": FORMAT,
            "recovery_key": recipient.fingerprint().hex(),
            "wrapped_key": b64u_encode(wrapped),
        }
        for name, data in (
            (MANIFEST_FILE, sealed_manifest),
            (KEY_FILE, json.dumps(sealed_key).encode()),  # last: the backup is whole
        ):
            (writer.scratch / name).write_bytes(data)
            writer.put(name, writer.scratch / name)
        where = writer.commit()
    except BaseException:
        writer.abort()
        raise
    size = sum(p.size for p in parts) + len(sealed_manifest)
    return BackupDone(where, len(blob_keys), size, _keep_newest(destination, keep))


def _server_key_text(settings: Settings) -> bytes:
    """The server key as the server reads it (``UHS_SERVER_KEY``, else its file)."""
    if value := os.environ.get("UHS_SERVER_KEY"):
        return value.encode() + b"\n"
    try:
        return settings.server_key_path.read_bytes()
    except FileNotFoundError:
        raise BackupRefused(
            f"there is no server key at {settings.server_key_path}: is UHS_DATA_DIR this server's?"
        ) from None


def _dump_database(url: str, target: Path) -> tuple[str, set[str]]:
    """Copy the database to ``target`` in one consistent snapshot; its kind, and the
    keys of the blobs that snapshot lists."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        import sqlite3

        source = sqlite3.connect(f"file:{parsed.database}?mode=ro", uri=True)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # the online backup API: one consistent copy
        finally:
            copy.close()
            source.close()
        return "sqlite", _blob_keys(f"sqlite:///{target}")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            snapshot = connection.execution_options(isolation_level="REPEATABLE READ")
            with snapshot.begin():
                # pg_dump reads the very snapshot this transaction reads the blobs in.
                exported = snapshot.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
                _pg("pg_dump", url, "--format=custom", f"--snapshot={exported}", f"--file={target}")
                keys = {row.hex for row in snapshot.scalars(select(Blob.id))}
    finally:
        engine.dispose()
    return "postgresql", keys


def _blob_keys(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {row.hex for row in connection.scalars(select(Blob.id))}
    finally:
        engine.dispose()


def _pg(program: str, url: str, *arguments: str) -> None:
    """Run a PostgreSQL client program on ``url``'s database, its password passed in the
    environment (never on a command line, which every user of the machine can read)."""
    parsed = make_url(url)
    environment = dict(os.environ)
    if parsed.password:
        environment["PGPASSWORD"] = str(parsed.password)
    target = parsed.set(drivername="postgresql", password=None)
    done = subprocess.run(  # noqa: S603 (a fixed program; the URL is the operator's)
        [program, f"--dbname={target.render_as_string(hide_password=False)}", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        # Its first line says what failed; the lines after it may quote the data.
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise BackupRefused(f"{program} failed: {first}")


def _keep_newest(destination: BackupLocation, keep: int) -> list[str]:
    """Remove all but the ``keep`` newest backups (names sort by time); what was removed."""
    backups = destination.backups()
    old = backups[: max(0, len(backups) - keep)]
    for name in old:
        destination.remove(name)
    return [destination.where(name) for name in old]


# -- restore -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Restored:
    created_at: str
    database: str
    blobs: int


def restore(
    settings: Settings,
    source: BackupLocation,
    name: str,
    recovery_key: UserKeys,
    store: BlobStore | None,
) -> Restored:
    """Restore the backup ``name`` of ``source`` into this configuration's data
    directory, database and blob store (``store``: the S3 store; None for the filesystem
    store, made under the data directory once it was found empty). Nothing is written
    unless every part's digest is right and every target is empty."""
    key, manifest, parts = _checked(source, name, recovery_key)
    kind = make_url(settings.resolved_database_url).get_backend_name()
    if kind != manifest["database"]:
        raise BackupRefused(
            f"the backup holds a {manifest['database']} database; UHS_DATABASE_URL is {kind}"
        )
    server_key = _open_part(key, source.read(name, SERVER_KEY_PART))
    configured = os.environ.get("UHS_SERVER_KEY")
    if configured and configured.strip().encode() != server_key.strip():
        raise BackupRefused(
            "UHS_SERVER_KEY is set to another key than the backup's: unset it, or set it to "
            "the backed-up server's key"
        )
    _refuse_unless_empty(settings, store)

    try:
        restored = _write(settings, source, name, key, server_key, parts, store)
    except (OSError, BackupRefused, CryptoError) as exc:
        raise BackupRefused(
            f"the restore stopped after it began writing ({exc}): empty the data directory, "
            "the database and the blob store before restoring again"
        ) from exc
    return Restored(manifest["created_at"], manifest["database"], restored)


def _checked(
    source: BackupLocation, name: str, recovery_key: UserKeys
) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    """The backup's key, manifest and parts, once every part's digest is right."""
    key, manifest = _open_backup(source, name, recovery_key)
    parts = _parts_of(manifest)
    for part_name, part in parts.items():
        try:
            intact = _digest(source.read(name, part_name)) == part["sha256"]
        except FileNotFoundError:
            intact = False
        if not intact:
            raise BackupRefused(
                f"the part {part_name} of the backup is missing or altered: nothing restored"
            )
    return key, manifest, parts


def drill(
    settings: Settings, source: BackupLocation, name: str, recovery_key: UserKeys
) -> Restored:
    """A restore drill that leaves the running server alone: the backup opens with the
    recovery key, every part's digest is right and every part decrypts whole (each into
    a scratch file beside the server's data, removed at once). Loading the database is
    what ``restore`` adds, on an empty server."""
    key, manifest, parts = _checked(source, name, recovery_key)
    local = settings.data_dir if settings.data_dir.is_dir() else None
    blobs = 0
    with tempfile.TemporaryDirectory(dir=local, prefix="drill-") as scratch:
        for part_name in parts:
            opened = Path(scratch) / "part"
            try:
                _open_part_into(key, source.read(name, part_name), opened)
            except CryptoError:
                raise BackupRefused(f"the part {part_name} of the backup does not open") from None
            opened.unlink()
            blobs += part_name.startswith(BLOBS_FOLDER + "/")
    return Restored(manifest["created_at"], manifest["database"], blobs)


def _write(
    settings: Settings,
    source: BackupLocation,
    name: str,
    key: bytes,
    server_key: bytes,
    parts: dict[str, Any],
    store: BlobStore | None,
) -> int:
    """Write a checked backup into the empty target; how many blobs it restored."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(settings.server_key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(server_key)
    with tempfile.TemporaryDirectory(dir=settings.data_dir) as scratch:
        dump = Path(scratch) / "dump"
        _open_part_into(key, source.read(name, DATABASE_PART), dump)
        _load_database(settings.resolved_database_url, dump)
        blobs = store or FilesystemBlobStore(settings.blob_dir)
        restored = 0
        for part in parts:
            if not part.startswith(BLOBS_FOLDER + "/"):
                continue
            opened = Path(scratch) / "blob"
            _open_part_into(key, source.read(name, part), opened)
            blobs.put_file(part.removeprefix(BLOBS_FOLDER + "/"), opened)  # consumes it
            restored += 1
    return restored


def _open_backup(
    source: BackupLocation, name: str, recovery_key: UserKeys
) -> tuple[bytes, dict[str, Any]]:
    where = source.where(name)
    try:
        with source.read(name, KEY_FILE) as handle:
            sealed_key = json.loads(handle.read())
        with source.read(name, MANIFEST_FILE) as handle:
            sealed_manifest = handle.read()
    except (OSError, ValueError):
        raise BackupRefused(
            f"{where} is not a backup: it has no readable {KEY_FILE} and {MANIFEST_FILE}"
        ) from None
    if sealed_key.get("format") != FORMAT:
        raise BackupRefused(f"{where} is not a backup of this format ({FORMAT})")
    if sealed_key.get("recovery_key") != recovery_key.public().fingerprint().hex():
        raise BackupRefused("this backup was sealed to another recovery key than the one given")
    try:
        header = sealed_manifest[: envelope.HEADER_SIZE]
        wrapped = b64u_decode(sealed_key["wrapped_key"])
        key = wrap.unwrap_document_key(wrapped, recovery_key, header)
        manifest = json.loads(envelope.decrypt(key, sealed_manifest))
    except (CryptoError, ValueError, KeyError):
        raise BackupRefused(
            "the backup's manifest does not open with this recovery key: altered, or sealed "
            "to another key"
        ) from None
    if manifest.get("format") != FORMAT:
        raise BackupRefused(f"the backup's manifest is not of this format ({FORMAT})")
    return key, manifest


def _parts_of(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest's parts by name, each one a backup has: the database, the server key,
    blobs named by their key. A manifest is sealed with the public half of the recovery
    key, which is no secret: its names become paths and blob keys, so one that is none
    of these (``blobs/../…``) refuses the backup before anything is read or written."""
    try:
        parts = {str(part["name"]): part for part in manifest["parts"]}
    except (KeyError, TypeError):
        raise BackupRefused("the backup's manifest does not list its parts") from None
    for part_name in parts:
        blob_key = part_name.removeprefix(BLOBS_FOLDER + "/")
        if part_name not in (DATABASE_PART, SERVER_KEY_PART) and (
            blob_key == part_name or not is_blob_key(blob_key)
        ):
            raise BackupRefused(
                f"the backup's manifest names no part of a backup ({part_name!r}): nothing restored"
            )
    if DATABASE_PART not in parts or SERVER_KEY_PART not in parts:
        raise BackupRefused("the backup's manifest lists no database or no server key")
    return parts


def _open_part(key: bytes, sealed: io.BufferedIOBase) -> bytes:
    plain = io.BytesIO()
    with sealed:
        envelope.decrypt_stream(key, sealed, plain, digest=False)
    return plain.getvalue()


def _open_part_into(key: bytes, sealed: io.BufferedIOBase, target: Path) -> None:
    with sealed, open(target, "xb") as plain:
        envelope.decrypt_stream(key, sealed, plain, digest=False)


def _refuse_unless_empty(settings: Settings, store: BlobStore | None) -> None:
    """Refuse, naming it, a target that holds anything: a restore never mixes servers."""
    if settings.data_dir.exists() and any(settings.data_dir.iterdir()):
        raise BackupRefused(f"the data directory {settings.data_dir} (UHS_DATA_DIR) is not empty")
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        if path.exists() and path.stat().st_size:
            raise BackupRefused(f"the database {path} (UHS_DATABASE_URL) exists already")
    else:
        engine = make_engine(settings.resolved_database_url)
        try:
            tables = inspect(engine).get_table_names()
        finally:
            engine.dispose()
        if tables:
            raise BackupRefused(
                f"the database {url.render_as_string(hide_password=True)} (UHS_DATABASE_URL) "
                f"has {len(tables)} table(s): restore into an empty database"
            )
    if store is not None and next(iter(store.keys()), None) is not None:
        raise BackupRefused(f"the blob store (UHS_S3_BUCKET={settings.s3_bucket}) is not empty")


def _load_database(url: str, dump: Path) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        target = Path(str(parsed.database))
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(dump, 0o600)
        shutil.move(dump, target)
        return
    _pg(
        "pg_restore",
        url,
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        str(dump),
    )
