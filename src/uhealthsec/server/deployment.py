"""Whether a configuration is fit for production, and where its data lives.

``uhs-server check`` prints both; with ``UHS_PRODUCTION=true`` the server and the
worker refuse to start while any problem remains. The embedded defaults (SQLite, a
local blob directory, mail written to files, an http address) are right on a laptop
and wrong for health data in production: each rule names the setting that fixes it.
"""

from __future__ import annotations

import ipaddress
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from uhealthsec.server.settings import Settings

#: File systems that do not survive a restart, or that belong to one container.
_VOLATILE_FILE_SYSTEMS = frozenset({"tmpfs", "ramfs", "devtmpfs", "overlay", "squashfs"})
#: Folders cleared at boot or private to a session.
VOLATILE_FOLDERS = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), Path("/run"))  # noqa: S108


@dataclass(frozen=True)
class SettingProblem:
    """What is wrong, and the environment variable that fixes it."""

    setting: str
    problem: str


def production_problems(
    settings: Settings,
    *,
    env_file: Path | None = Path(".env"),
    mounts: Path = Path("/proc/mounts"),
    volatile_folders: tuple[Path, ...] = VOLATILE_FOLDERS,
) -> list[SettingProblem]:
    """Every reason ``settings`` is not fit for production (none: it is). ``env_file``
    is the settings file whose mode is checked; ``mounts`` and ``volatile_folders`` say
    which file systems and folders do not keep data."""
    problems = [
        *_address_problems(settings),
        *_database_problems(settings),
        *_storage_problems(settings, mounts, volatile_folders),
        *_secret_file_problems(settings, env_file),
        *_backup_problems(settings),
    ]
    if not settings.smtp_host:
        problems.append(
            SettingProblem(
                "UHS_SMTP_HOST",
                "no mail server: confirmation codes and notices would only be written to "
                f"{settings.outbox_dir}, never sent",
            )
        )
    if not settings.shield_enabled:
        problems.append(
            SettingProblem(
                "UHS_SHIELD_ENABLED",
                "the shield in front of sign-in is off: credential stuffing and bots meet "
                "no defence",
            )
        )
    return problems


def _address_problems(settings: Settings) -> list[SettingProblem]:
    problems = []
    if urlsplit(settings.issuer).scheme != "https":
        problems.append(
            SettingProblem(
                "UHS_PUBLIC_URL",
                f"the public address {settings.issuer} is not https: tokens, passwords' "
                "secrets and documents would cross the network in clear",
            )
        )
    anyone = [p for p in settings.trusted_proxies if _is_everyone(p)]
    if anyone:
        problems.append(
            SettingProblem(
                "UHS_TRUSTED_PROXIES",
                f"{', '.join(anyone)} makes every client a trusted proxy: each would choose "
                "the address the shield, the rate limits and the journal see",
            )
        )
    plain = [o for o in settings.webauthn_origins if urlsplit(o).scheme != "https"]
    if plain:
        problems.append(
            SettingProblem(
                "UHS_WEBAUTHN_ORIGINS",
                f"passkeys are accepted from {', '.join(plain)}, not over https",
            )
        )
    return problems


def _is_everyone(proxy: str) -> bool:
    """``*``, or a network of prefix length 0 (every IPv4 or IPv6 address)."""
    if proxy.strip() == "*":
        return True
    try:
        return ipaddress.ip_network(proxy.strip(), strict=False).prefixlen == 0
    except ValueError:
        return False


def _database_problems(settings: Settings) -> list[SettingProblem]:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "postgresql":
        return [
            SettingProblem(
                "UHS_DATABASE_URL",
                f"the database is {url.get_backend_name()}, not PostgreSQL: one file on "
                "one machine, without replication or point-in-time recovery",
            )
        ]
    return []


def _storage_problems(
    settings: Settings, mounts: Path, volatile_folders: tuple[Path, ...]
) -> list[SettingProblem]:
    problems = []
    where = settings.data_dir.resolve()
    kind = _file_system_of(where, mounts)
    if any(where.is_relative_to(folder) for folder in volatile_folders) or (
        kind in _VOLATILE_FILE_SYSTEMS
    ):
        what = "the blob store, the server key and the outbox"
        if settings.blob_store != "filesystem":
            what = "the server key and the outbox"
        problems.append(
            SettingProblem(
                "UHS_DATA_DIR",
                f"{where} holds {what} but is not on a persistent volume"
                + (f" (a {kind} file system)" if kind in _VOLATILE_FILE_SYSTEMS else ""),
            )
        )
    if settings.blob_store == "s3" and not settings.s3_bucket:
        problems.append(SettingProblem("UHS_S3_BUCKET", "the S3 blob store has no bucket"))
    return problems


def _backup_problems(settings: Settings) -> list[SettingProblem]:
    """A backup is configured (``uhs-server backup``), sealed to a recovery key, and
    written elsewhere than the data it saves."""
    from uhealthsec.server.backup import BackupRefused, backup_public_key
    from uhealthsec.server.backup_locations import LocationRefused, split_location

    problems = []
    if not settings.backup_key:
        problems.append(
            SettingProblem(
                "UHS_BACKUP_KEY",
                "no backup configured: no recovery key to seal backups to (`uhs-server "
                "backup-key new`)",
            )
        )
    else:
        try:
            backup_public_key(settings.backup_key)
        except BackupRefused as exc:
            problems.append(SettingProblem("UHS_BACKUP_KEY", str(exc)))
    try:
        bucket, folder = split_location(settings.backup_to)
    except LocationRefused as exc:
        return [*problems, SettingProblem("UHS_BACKUP_TO", str(exc))]
    if not settings.backup_to:
        problems.append(
            SettingProblem("UHS_BACKUP_TO", "no backup configured: no place to write backups")
        )
    elif bucket is None and Path(folder).resolve().is_relative_to(settings.data_dir.resolve()):
        problems.append(
            SettingProblem(
                "UHS_BACKUP_TO",
                f"{folder} is inside the data directory: a backup must survive the loss "
                "of the volume it saves",
            )
        )
    elif bucket is not None and settings.blob_store == "s3" and bucket == settings.s3_bucket:
        problems.append(
            SettingProblem(
                "UHS_BACKUP_TO",
                f"the backups would be in the blob store's own bucket, {bucket}: a backup "
                "must survive the loss of the store it saves (a second bucket)",
            )
        )
    return problems


def _file_system_of(path: Path, mounts: Path) -> str | None:
    """The type of the file system ``path`` is on, from the longest mount point above it."""
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return None
    best: tuple[int, str] | None = None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = Path(fields[1].replace("\\040", " "))
        if path.is_relative_to(point) and (best is None or len(point.parts) > best[0]):
            best = (len(point.parts), fields[2])
    return best[1] if best else None


def _secret_file_problems(settings: Settings, env_file: Path | None) -> list[SettingProblem]:
    problems = []
    secrets = [(settings.server_key_path, "UHS_DATA_DIR", "the server's signing key")]
    if env_file is not None:
        secrets.append((env_file, "UHS_*", "the settings file (database password, keys)"))
    for path, setting, what in secrets:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            problems.append(
                SettingProblem(
                    setting,
                    f"{path}, {what}, is readable by other users (mode "
                    f"{stat.S_IMODE(mode):o}): chmod 600 it",
                )
            )
    try:
        data_mode = settings.data_dir.stat().st_mode
    except OSError:
        data_mode = 0
    if data_mode & stat.S_IRWXO:
        problems.append(
            SettingProblem(
                "UHS_DATA_DIR",
                f"{settings.data_dir} is open to every user of the machine (mode "
                f"{stat.S_IMODE(data_mode):o}): chmod 700 it",
            )
        )
    return problems


def data_locations(settings: Settings) -> list[tuple[str, str]]:
    """Where this server keeps everything, for its operator (never a password)."""
    url = make_url(settings.resolved_database_url)
    database = (
        str(url.database)
        if url.get_backend_name() == "sqlite"
        else url.render_as_string(hide_password=True)
    )
    if settings.blob_store == "filesystem":
        blobs = str(settings.blob_dir)
    else:
        blobs = f"s3://{settings.s3_bucket}"
        if settings.s3_endpoint_url:
            blobs += f" at {settings.s3_endpoint_url}"
    return [
        ("Data directory", str(settings.data_dir)),
        ("Database", database),
        ("Documents (blob store)", blobs),
        ("Uploads in progress", str(settings.upload_dir)),
        ("Server key", str(settings.server_key_path)),
        ("Mail", settings.smtp_host or f"files in {settings.outbox_dir}"),
    ]
