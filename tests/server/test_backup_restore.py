"""The restore drill, in the laptop's layout (SQLite, blobs in the data directory) and
in production's (PostgreSQL, an S3 store): a server populated through the SDK is backed
up (`uhs-server backup`), destroyed, and restored from the backup and the operator's
recovery key alone (`uhs-server restore`); its readers then read every document and
message, the journal extends the head their devices pinned before the loss, and the
patient's consents are there. An altered backup, or another recovery key, is refused
before anything is written."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from tests.s3 import S3Endpoint
from tests.server.records.conftest import (  # noqa: F401  (shared fixtures)
    Person,
    Practice,
    device,
    practice,
    refused,
    report,
)
from tests.server_fixtures import BASE_URL, Users, make_settings
from uhealthsec.client.consent import ConsentClient
from uhealthsec.client.errors import LogRefused
from uhealthsec.client.exchange import MessagingClient
from uhealthsec.client.journal import JournalClient
from uhealthsec.crypto import envelope, wrap
from uhealthsec.crypto.keys import UserKeys
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.server import backup as backup_module
from uhealthsec.server.app import blob_store_for, build_context, create_app
from uhealthsec.server.audit.models import JournalRecord
from uhealthsec.server.backup import (
    BLOBS_FOLDER,
    KEY_FILE,
    MANIFEST_FILE,
    SERVER_KEY_PART,
    BackupRefused,
    _open_backup,
    backup,
    location_for,
    read_recovery_key,
    restore,
)
from uhealthsec.server.cli import app
from uhealthsec.server.compliance.dashboard import RESTORE_DRILL_ACTION
from uhealthsec.server.settings import Settings


def production(settings: Settings) -> bool:
    return make_url(settings.resolved_database_url).get_backend_name() == "postgresql"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, request: pytest.FixtureRequest) -> Settings:
    """SQLite with the filesystem store, or PostgreSQL with an S3 bucket (moto's)."""
    postgresql = make_url(database_url).get_backend_name() == "postgresql"
    store = request.getfixturevalue("s3").settings() if postgresql else {}
    return make_settings(tmp_path, database_url, **store)


@pytest.fixture
def backups(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Folder | Bucket:
    """A folder beside the SQLite server; a second bucket beside the PostgreSQL one."""
    if not production(settings):
        return Folder(tmp_path)
    server = request.getfixturevalue("s3_server")
    endpoint = S3Endpoint(server, f"uhs-backups-{secrets.token_hex(6)}")
    endpoint.client().create_bucket(
        Bucket=endpoint.bucket,
        CreateBucketConfiguration={"LocationConstraint": endpoint.region},
    )
    return Bucket(endpoint)


@pytest.fixture(autouse=True)
def _no_uhs_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("UHS_")]:
        monkeypatch.delenv(name)


def uhs_server(settings: Settings, *arguments: str, backup_key: str = "") -> tuple[int, str]:
    """``uhs-server *arguments`` configured as ``settings``' server; status and output."""
    environment = {
        "UHS_DATA_DIR": str(settings.data_dir),
        "UHS_DATABASE_URL": settings.resolved_database_url,
        "UHS_BACKUP_KEY": backup_key,
        "UHS_BLOB_STORE": settings.blob_store,
        "UHS_S3_BUCKET": settings.s3_bucket,
        "UHS_S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "UHS_S3_ACCESS_KEY_ID": settings.s3_access_key_id,
        "UHS_S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key.get_secret_value(),
        "COLUMNS": "300",
    }
    done = CliRunner().invoke(app, list(arguments), env=environment)
    if done.exception and not isinstance(done.exception, SystemExit):
        raise done.exception
    return done.exit_code, done.output


def new_recovery_key(settings: Settings, path: Path) -> str:
    status, output = uhs_server(settings, "backup-key", "new", "--out", str(path))
    assert status == 0, output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return output.split("UHS_BACKUP_KEY=", 1)[1].split()[0]


def destroy(settings: Settings, request: pytest.FixtureRequest) -> None:
    """The server is lost: its data directory, database and blobs are gone; what
    remains is an empty database (or none: SQLite) and an empty bucket."""
    shutil.rmtree(settings.data_dir)
    if settings.blob_store == "s3":
        bucket = request.getfixturevalue("s3")
        for key in list(blob_store_for(settings).keys()):
            bucket.client().delete_object(Bucket=bucket.bucket, Key=f"blobs/{key}")
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{url.database}{suffix}").unlink(missing_ok=True)
        return
    admin = create_engine(request.getfixturevalue("postgres").url("postgres"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE "{url.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()


def untouched(settings: Settings) -> bool:
    """Nothing was written: no data directory, no blob, and an empty database (or none)."""
    url = make_url(settings.resolved_database_url)
    if settings.data_dir.exists():
        return False
    if settings.blob_store == "s3" and next(blob_store_for(settings).keys(), None):
        return False
    if url.get_backend_name() == "sqlite":
        return not Path(str(url.database)).exists()
    engine = create_engine(settings.resolved_database_url)
    try:
        return inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


class Folder:
    """Backups in a folder (another volume, in production)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def at(self, place: str) -> str:
        return str(self.root / place)

    def names(self, place: str) -> list[str]:
        folder = self.root / place
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []

    def files(self, backup: str) -> dict[str, bytes]:
        base = self.root / backup
        return {
            p.relative_to(base).as_posix(): p.read_bytes() for p in base.rglob("*") if p.is_file()
        }

    def write(self, backup: str, files: dict[str, bytes]) -> None:
        for name, data in files.items():
            (self.root / backup / name).parent.mkdir(parents=True, exist_ok=True)
            (self.root / backup / name).write_bytes(data)


class Bucket:
    """Backups in a second bucket of the S3 endpoint."""

    def __init__(self, endpoint: S3Endpoint) -> None:
        self.endpoint = endpoint
        self.client = endpoint.client()

    def at(self, place: str) -> str:
        return f"s3://{self.endpoint.bucket}/{place}"

    def _keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.endpoint.bucket, Prefix=prefix
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def names(self, place: str) -> list[str]:
        return sorted({k.removeprefix(place + "/").split("/")[0] for k in self._keys(place + "/")})

    def files(self, backup: str) -> dict[str, bytes]:
        return {
            key.removeprefix(backup + "/"): self.client.get_object(
                Bucket=self.endpoint.bucket, Key=key
            )["Body"].read()
            for key in self._keys(backup + "/")
        }

    def write(self, backup: str, files: dict[str, bytes]) -> None:
        for name, data in files.items():
            self.client.put_object(Bucket=self.endpoint.bucket, Key=f"{backup}/{name}", Body=data)


def altered(backups: Folder | Bucket, backup: str, part: str) -> str:
    """A copy of ``backup`` with one byte of ``part`` changed; where it is."""
    files = backups.files(backup)
    data = bytearray(files[part])
    data[len(data) // 2] ^= 1
    files[part] = bytes(data)
    copy = f"altered-{part.replace('/', '-')}/{backup.rsplit('/', 1)[1]}"
    backups.write(copy, files)
    return backups.at(copy)


def serve_restored(settings: Settings, clock, request: pytest.FixtureRequest) -> TestClient:
    """The restored server, started from ``settings`` as after `uhs-server restore`."""
    restored = build_context(settings, clock=clock)
    request.addfinalizer(restored.close)
    client = TestClient(create_app(ctx=restored), base_url=BASE_URL)
    client.__enter__()
    request.addfinalizer(lambda: client.__exit__(None, None, None))
    return client


def test_a_lost_server_is_restored_from_its_backup_and_the_recovery_key(
    practice: Practice,  # noqa: F811
    report: Path,  # noqa: F811
    ctx,
    users: Users,
    clock,
    settings: Settings,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    backups: Folder | Bucket,
    monkeypatch: pytest.MonkeyPatch,
):
    """R23: an encrypted backup restores a lost server."""
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    thread = MessagingClient(alice.exchange).start_thread([bob.email])["id"]
    MessagingClient(alice.exchange).send(thread, "Pouvez-vous la voir jeudi ?")
    before_loss = JournalClient(bob.exchange.call)
    before_loss.verify()

    (blob,) = ctx.blobs.keys()  # the document's envelope

    recovery_key = tmp_path / "recovery.key"
    public = new_recovery_key(settings, recovery_key)
    # Sent while the backup copies blobs, after its database snapshot: left out whole.
    meanwhile: list[uuid.UUID] = []
    store = blob_store_for(settings)

    class SendingMeanwhile:
        def __getattr__(self, name: str):
            return getattr(store, name)

        def read(self, key: str):
            if not meanwhile:
                meanwhile.append(
                    alice.exchange.send(report, patient_file_id=practice.patient_file, to=[])
                )
            return store.read(key)

    with monkeypatch.context() as patched:
        patched.setattr("uhealthsec.server.app.blob_store_for", lambda _: SendingMeanwhile())
        status, output = uhs_server(
            settings, "backup", "--to", backups.at("daily"), backup_key=public
        )
    assert status == 0, output
    assert meanwhile and "1 blob(s)" in output  # the document's, not the one sent meanwhile
    (name,) = backups.names("daily")
    backup = f"daily/{name}"
    # Sealed: neither the server key nor the document's ciphertext is there in clear.
    server_key = settings.server_key_path.read_bytes().strip()
    sealed = b"".join(backups.files(backup).values())
    assert server_key not in sealed
    assert b"".join(ctx.blobs.read(blob))[100:200] not in sealed
    assert b"SQLite format" not in sealed and b"PGDMP" not in sealed

    # Written after the backup: lost with the server, and never claimed by the restored one.
    later = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    after_backup = JournalClient(bob.exchange.call)
    after_backup.verify()
    # A blob the database lists, lost by the store: no backup is taken for whole.
    for lost in set(ctx.blobs.keys()) - {blob}:  # the document sent meanwhile's, and later's
        ctx.blobs.delete(lost)
    status, output = uhs_server(settings, "backup", "--to", backups.at("failed"), backup_key=public)
    assert status == 1 and "2 blob(s) the database lists are missing" in output, output
    assert backups.names("failed") == []  # nor any part of one left behind

    ctx.engine.dispose()  # the fixture closes the rest
    destroy(settings, request)

    # An altered part, an altered manifest, another recovery key: refused, nothing written.
    refusals = {
        f"blobs/{blob}": "the part blobs/",
        "database": "the part database of the backup is missing or altered",
        "manifest": "the backup's manifest does not open with this recovery key",
    }
    for part, refusal in refusals.items():
        status, output = uhs_server(
            settings,
            "restore",
            "--from",
            altered(backups, backup, part),
            "--backup-key",
            str(recovery_key),
        )
        assert (status, refusal in " ".join(output.split())) == (1, True), output
        assert untouched(settings)
    other_key = tmp_path / "other.key"
    new_recovery_key(settings, other_key)
    status, output = uhs_server(
        settings, "restore", "--from", backups.at(backup), "--backup-key", str(other_key)
    )
    assert status == 1 and "sealed to another recovery key" in output, output
    assert untouched(settings)

    status, output = uhs_server(
        settings, "restore", "--from", backups.at(backup), "--backup-key", str(recovery_key)
    )
    assert status == 0, output
    assert settings.server_key_path.read_bytes().strip() == server_key
    assert stat.S_IMODE(settings.server_key_path.stat().st_mode) == 0o600
    # A second restore over the first is refused, the target named.
    status, output = uhs_server(
        settings, "restore", "--from", backups.at(backup), "--backup-key", str(recovery_key)
    )
    assert status == 1 and "(UHS_DATA_DIR) is not empty" in output, output

    client = serve_restored(settings, clock, request)
    alice2, bob2, carol2 = (
        Person(p.user, device(client, users, p.user)) for p in (alice, bob, carol)
    )

    for reader in (alice2, bob2):
        copy = tmp_path / f"{reader.email}.txt"
        reader.exchange.fetch(document, copy)
        assert copy.read_bytes() == report.read_bytes()
    (message,) = MessagingClient(bob2.exchange).read(thread)
    assert message.text == "Pouvez-vous la voir jeudi ?"
    consents = ConsentClient(carol2.exchange).directives(practice.id)
    assert [(c["purpose"], c["decision"]) for c in consents] == [("outside_team", "permit")]

    # The journal extends the head the devices pinned before the loss...
    JournalClient(bob2.exchange.call, before_loss.pin).verify()
    # ...what was written after the backup is not there, and a device that saw it is
    # told the journal was rolled back, rather than shown a history without it.
    for lost in (later, *meanwhile):
        refused(404, alice2.exchange.document_view, lost)
    status, output = uhs_server(settings, "cleanup", "--check")
    assert status == 0 and "Every blob the database lists is in the document store" in output
    with pytest.raises(LogRefused):
        JournalClient(bob2.exchange.call, after_backup.pin).verify()


@pytest.mark.parametrize("place", ["folder", "bucket"])
def test_backups_beyond_the_number_kept_are_removed_oldest_first(
    sqlite_template: Path, tmp_path: Path, place: str, request: pytest.FixtureRequest
):
    """No server needed: an empty one (its database migrated, its key, no blob)."""
    database = tmp_path / "uhs.db"
    shutil.copy(sqlite_template, database)
    settings = make_settings(tmp_path, f"sqlite:///{database}")
    settings.data_dir.mkdir()
    settings.server_key_path.write_text("c2VydmVyIGtleQ==\n")
    backups: Folder | Bucket = Folder(tmp_path)
    if place == "bucket":
        endpoint = request.getfixturevalue("s3")
        settings.s3_endpoint_url = endpoint.url
        settings.s3_access_key_id = endpoint.access_key_id
        settings.s3_secret_access_key = SecretStr(endpoint.secret_access_key)
        backups = Bucket(endpoint)
    status, output = uhs_server(settings, "backup", "--to", backups.at("kept"))
    assert status == 1 and "no recovery key: set UHS_BACKUP_KEY" in output, output
    public = new_recovery_key(settings, tmp_path / "recovery.key")
    status, output = uhs_server(
        settings, "backup-key", "new", "--out", str(tmp_path / "recovery.key")
    )
    assert status == 1 and "a recovery key is never written over" in output, output
    store = blob_store_for(settings)
    settings.backup_key = public
    destination = location_for(settings, backups.at("kept"))
    for day in (1, 2, 3):
        done = backup(settings, store, destination, keep=2, now=datetime(2026, 11, day, tzinfo=UTC))
        oldest = backups.at("kept/uhs-backup-20261101T000000Z")
        assert done.removed == ([oldest] if day == 3 else [])
    assert backups.names("kept") == ["uhs-backup-20261102T000000Z", "uhs-backup-20261103T000000Z"]


def empty_server(sqlite_template: Path, tmp_path: Path) -> tuple[Settings, UserKeys]:
    """A server with nothing in it (its database migrated, its key, no blob), and the
    recovery key its backups are sealed to."""
    database = tmp_path / "uhs.db"
    shutil.copy(sqlite_template, database)
    settings = make_settings(tmp_path, f"sqlite:///{database}")
    settings.data_dir.mkdir()
    settings.server_key_path.write_text("c2VydmVyIGtleQ==\n")
    settings.backup_key = new_recovery_key(settings, tmp_path / "recovery.key")
    return settings, read_recovery_key(tmp_path / "recovery.key")


def test_the_database_in_clear_is_never_written_where_backups_are_kept(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Backups go to another volume (a disk, a share): the database's copy before it is
    sealed is written beside the server's own database, not there, where a backup cut
    short (killed, the disk full) would leave it in clear."""
    settings, _ = empty_server(sqlite_template, tmp_path)
    folder = tmp_path / "backups"
    dumped: list[Path] = []
    dump_database = backup_module._dump_database

    def watched(url: str, target: Path) -> tuple[str, set[str]]:
        dumped.append(target)
        return dump_database(url, target)

    monkeypatch.setattr(backup_module, "_dump_database", watched)
    backup(settings, blob_store_for(settings), location_for(settings, str(folder)), keep=2)
    assert len(dumped) == 1
    assert not dumped[0].resolve().is_relative_to(folder.resolve())
    assert dumped[0].resolve().is_relative_to(settings.data_dir.resolve())
    assert not dumped[0].exists()


def test_a_manifest_naming_a_part_outside_the_backup_is_refused_before_writing(
    sqlite_template: Path, tmp_path: Path
):
    """UHS_BACKUP_KEY is no secret: whoever may write where backups are kept can seal a
    backup of their own that opens with the recovery key. Its manifest's part names go
    into paths and blob keys: one that climbs out of its folder (``blobs/../…``) is
    refused with the rest of the checks, before the restore writes anything."""
    settings, recovery_key = empty_server(sqlite_template, tmp_path)
    folder = tmp_path / "backups"
    location = location_for(settings, str(folder))
    done = backup(settings, blob_store_for(settings), location, keep=2)
    name = Path(done.where).name

    key, manifest = _open_backup(location, name, recovery_key)
    server_key_part = next(p for p in manifest["parts"] if p["name"] == SERVER_KEY_PART)
    # Reached through the backup's own blobs folder, so that its digest is right.
    (folder / name / BLOBS_FOLDER).mkdir()
    manifest["parts"].append({**server_key_part, "name": f"{BLOBS_FOLDER}/../{SERVER_KEY_PART}"})
    sealed = envelope.encrypt(key, json.dumps(manifest).encode())
    wrapped = wrap.wrap_document_key(key, recovery_key.public(), sealed[: envelope.HEADER_SIZE])
    (folder / name / MANIFEST_FILE).write_bytes(sealed)
    sealed_key = json.loads((folder / name / KEY_FILE).read_text())
    (folder / name / KEY_FILE).write_text(
        json.dumps({**sealed_key, "wrapped_key": b64u_encode(wrapped)})
    )

    target = make_settings(tmp_path / "restored", f"sqlite:///{tmp_path / 'restored.db'}")
    with pytest.raises(BackupRefused, match="names no part of a backup"):
        restore(target, location, name, recovery_key, None)
    assert untouched(target)


def test_a_restore_drill_checks_every_part_and_journals_itself_only_when_it_opens(
    sqlite_template: Path, tmp_path: Path
):
    """`uhs-server restore-drill` leaves the running server as it is: a backup that
    opens with the recovery key, every part intact and decrypting, is journaled as the
    compliance dashboard's last drill; an altered part is refused and not journaled."""
    settings, _ = empty_server(sqlite_template, tmp_path)
    # This server runs (it journals the drill): a key of its own.
    settings.server_key_path.write_text(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    folder = tmp_path / "backups"
    done = backup(settings, blob_store_for(settings), location_for(settings, str(folder)), keep=2)
    key_file = str(tmp_path / "recovery.key")

    def drills() -> int:
        with create_engine(settings.resolved_database_url).connect() as db:
            return db.execute(
                select(func.count())
                .select_from(JournalRecord)
                .where(JournalRecord.action == RESTORE_DRILL_ACTION)
            ).scalar_one()

    status, output = uhs_server(
        settings, "restore-drill", "--from", done.where, "--backup-key", key_file
    )
    assert status == 0 and "opens with this recovery key" in output, output
    assert drills() == 1
    assert not list(settings.data_dir.glob("drill-*"))  # the scratch copies are gone

    part = Path(done.where) / SERVER_KEY_PART
    part.write_bytes(part.read_bytes()[:-1] + bytes([part.read_bytes()[-1] ^ 1]))
    status, output = uhs_server(
        settings, "restore-drill", "--from", done.where, "--backup-key", key_file
    )
    assert status == 1 and "missing or altered" in output, output
    assert drills() == 1
