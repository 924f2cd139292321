"""The production check (`uhs-server check`), the example settings and the systemd units."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from uhealthsec.crypto.keys import UserKeys
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.server.cli import app
from uhealthsec.server.deployment import data_locations, production_problems
from uhealthsec.server.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
EXAMPLE = DEPLOY / "uhs.env.example"
UHS_SERVER = Path(sys.executable).with_name("uhs-server")
#: A recovery key's public half, as `uhs-server backup-key new` prints it.
RECOVERY_KEY = b64u_encode(UserKeys.generate().public().encode())


def _mounts(tmp_path: Path, kind: str) -> Path:
    """A /proc/mounts saying ``tmp_path`` is on a file system of ``kind``."""
    mounts = tmp_path.parent / f"mounts-{kind}"
    mounts.write_text(f"/dev/root / ext4 rw 0 0\nstore {tmp_path} {kind} rw 0 0\n")
    return mounts


def _data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    return data


def _production(tmp_path: Path, **changes: object) -> Settings:
    """The example settings, on a private data directory of a persistent volume, with
    the operator's recovery key in place of the example's CHANGE-ME."""
    changes.setdefault("backup_key", RECOVERY_KEY)
    return Settings(_env_file=EXAMPLE, data_dir=_data_dir(tmp_path), **changes)  # type: ignore[call-arg]


def _check(settings: Settings, tmp_path: Path, kind: str = "ext4", env_file: Path | None = None):
    """The check, with ``tmp_path`` on a file system of ``kind`` (and /tmp not volatile:
    pytest's folders are there)."""
    return production_problems(
        settings, env_file=env_file, mounts=_mounts(tmp_path, kind), volatile_folders=()
    )


def _settings_named(problems: list) -> list[str]:
    return [p.setting for p in problems]


@pytest.fixture(autouse=True)
def _no_uhs_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("UHS_")]:
        monkeypatch.delenv(name)


def test_the_embedded_defaults_are_refused_for_production_each_with_its_setting(tmp_path):
    settings = Settings(_env_file=None)
    settings.data_dir = _data_dir(tmp_path)
    problems = _check(settings, tmp_path)
    assert _settings_named(problems) == [
        "UHS_PUBLIC_URL",
        "UHS_WEBAUTHN_ORIGINS",
        "UHS_DATABASE_URL",
        "UHS_BACKUP_KEY",
        "UHS_BACKUP_TO",
        "UHS_SMTP_HOST",
    ]
    assert "http://127.0.0.1:8000 is not https" in problems[0].problem


def test_the_example_settings_name_every_setting_and_pass_the_check(tmp_path):
    text = EXAMPLE.read_text()
    named = {
        line.removeprefix("# ").split("=", 1)[0]
        for line in text.splitlines()
        if line.removeprefix("# ").startswith("UHS_")
    }
    assert named == {f"UHS_{name.upper()}" for name in Settings.model_fields}
    settings = _production(tmp_path)
    assert settings.production and settings.issuer == "https://uhs.example.org"
    assert settings.webauthn_rp_id == "uhs.example.org"
    assert settings.webauthn_origins == ["https://uhs.example.org"]
    assert _check(settings, tmp_path) == []


@pytest.mark.parametrize("kind", ["tmpfs", "overlay"])
def test_a_data_directory_on_a_volatile_file_system_is_refused(tmp_path, kind):
    settings = _production(tmp_path)
    problems = _check(settings, tmp_path, kind)
    assert _settings_named(problems) == ["UHS_DATA_DIR"]
    assert f"not on a persistent volume (a {kind} file system)" in problems[0].problem


def test_a_data_directory_under_tmp_is_refused_whatever_its_file_system(tmp_path):
    settings = _production(tmp_path)
    settings.data_dir = Path("/tmp/uhs-data")
    problems = production_problems(settings, env_file=None, mounts=_mounts(tmp_path, "ext4"))
    assert _settings_named(problems) == ["UHS_DATA_DIR"]


def test_secrets_readable_by_others_are_refused_until_chmod(tmp_path):
    settings = _production(tmp_path)
    env_file = tmp_path / "uhs.env"
    shutil.copy(EXAMPLE, env_file)
    key = settings.server_key_path
    key.write_bytes(b"k" * 32)
    env_file.chmod(0o644)
    key.chmod(0o640)
    settings.data_dir.chmod(0o755)
    problems = _check(settings, tmp_path, env_file=env_file)
    assert _settings_named(problems) == ["UHS_DATA_DIR", "UHS_*", "UHS_DATA_DIR"]
    assert "mode 640" in problems[0].problem and "mode 644" in problems[1].problem
    env_file.chmod(0o600)
    key.chmod(0o600)
    settings.data_dir.chmod(0o700)
    assert _check(settings, tmp_path, env_file=env_file) == []


def test_the_shield_turned_off_and_a_bucketless_s3_store_are_refused(tmp_path):
    settings = _production(tmp_path, shield_enabled=False, s3_bucket="")
    problems = _check(settings, tmp_path)
    assert _settings_named(problems) == ["UHS_S3_BUCKET", "UHS_SHIELD_ENABLED"]


def test_no_backup_configured_is_refused_and_a_backup_beside_its_data_too(tmp_path):
    example = Settings(_env_file=EXAMPLE, data_dir=_data_dir(tmp_path))  # type: ignore[call-arg]
    (problem,) = _check(example, tmp_path)  # the example's CHANGE-ME
    assert problem.setting == "UHS_BACKUP_KEY"
    assert "not a recovery key's public half" in problem.problem
    for folder in ("unset", "inside"):
        (tmp_path / folder).mkdir()
    unset = _check(_production(tmp_path / "unset", backup_key="", backup_to=""), tmp_path)
    assert [(p.setting, p.problem.split(":")[0]) for p in unset] == [
        ("UHS_BACKUP_KEY", "no backup configured"),
        ("UHS_BACKUP_TO", "no backup configured"),
    ]
    settings = _production(tmp_path / "inside")
    settings.backup_to = str(settings.data_dir / "backups")
    (problem,) = _check(settings, tmp_path)
    assert problem.setting == "UHS_BACKUP_TO" and "inside the data directory" in problem.problem
    settings.backup_to = f"s3://{settings.s3_bucket}/backups"
    (problem,) = _check(settings, tmp_path)
    assert problem.setting == "UHS_BACKUP_TO" and "the blob store's own bucket" in problem.problem
    settings.backup_to = "s3://uhealthsec-backups/daily"
    assert _check(settings, tmp_path) == []


def test_an_explicit_issuer_is_kept_beside_the_public_url():
    settings = Settings(
        _env_file=None, public_url="https://uhs.example.org", issuer="https://api.example.org"
    )
    assert settings.issuer == "https://api.example.org"
    assert settings.webauthn_origins == ["https://uhs.example.org"]
    with pytest.raises(ValueError, match="http"):
        Settings(_env_file=None, public_url="uhs.example.org")


def test_where_the_data_lives_is_said_without_the_database_password(tmp_path):
    """R23: PostgreSQL and S3 locations are configured and shown."""
    settings = _production(tmp_path)
    shown = dict(data_locations(settings))
    assert shown["Database"] == "postgresql+psycopg://uhs:***@127.0.0.1:5432/uhealthsec"
    assert shown["Documents (blob store)"] == "s3://uhealthsec-documents at https://s3.example.org"
    assert shown["Server key"] == str(settings.data_dir / "server.key")


def _run(args: list[str], env: dict[str, str], cwd: Path):
    """``uhs-server ARGS`` from ``cwd`` (no .env there) with only ``env`` set."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        return CliRunner().invoke(app, args, env=env)


def test_uhs_server_check_lists_the_problems_and_the_locations(tmp_path):
    data = _data_dir(tmp_path)
    result = _run(["check"], {"UHS_DATA_DIR": str(data)}, tmp_path)
    assert result.exit_code == 1
    assert f"Data directory: {data}" in result.output
    assert "- UHS_DATABASE_URL: the database is sqlite, not PostgreSQL" in result.output
    assert "problem(s) to fix before a production start" in result.output


def test_a_production_start_is_refused_while_a_problem_remains(tmp_path):
    data = _data_dir(tmp_path)
    env = {"UHS_DATA_DIR": str(data), "UHS_PRODUCTION": "true"}
    for command in (["serve", "--port", "1"], ["worker", "--once"]):
        result = _run(command, env, tmp_path)
        assert result.exit_code == 1, result.output
        assert "UHS_PRODUCTION is set and the configuration has" in result.output
        assert "- UHS_SMTP_HOST: no mail server" in result.output
    assert not (data / "uhealthsec.db").exists()  # refused before anything was opened


def test_invalid_settings_name_the_variable_never_its_value(tmp_path):
    env = {"UHS_DATA_DIR": str(_data_dir(tmp_path)), "UHS_SMTP_PORT": "s3cret-not-a-port"}
    result = _run(["check"], env, tmp_path)
    assert result.exit_code == 1
    assert "the settings are not valid: UHS_SMTP_PORT: Input should be a valid integer" in (
        result.output
    )
    assert "s3cret" not in result.output


HARDENING = [
    "User=uhs",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "CapabilityBoundingSet=",
    "SystemCallFilter=@system-service",
    "UMask=0077",
    "EnvironmentFile=/etc/uhealthsec/uhs.env",
]


@pytest.mark.parametrize(
    "unit", ["uhs-api.service", "uhs-worker.service", "uhs-backup.service", "uhs-backup.timer"]
)
def test_the_systemd_units_verify_and_are_hardened(tmp_path, unit):
    # systemd-analyze checks that the command exists: point it at this installation's.
    for path in (DEPLOY / "systemd").iterdir():
        text = path.read_text().replace("/opt/uhealthsec/.venv/bin/uhs-server", str(UHS_SERVER))
        (tmp_path / path.name).write_text(text)
    text = (tmp_path / unit).read_text()
    if unit.endswith(".service"):
        assert all(line in text.splitlines() for line in HARDENING)
    else:  # a timer starts its service, verified with it
        assert "Unit=uhs-backup.service" in text.splitlines()
    local = tmp_path / unit
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(local)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (verified.returncode, verified.stdout, verified.stderr) == (0, "", "")


def test_systemd_analyze_would_see_a_mistake(tmp_path):
    """The check above can fail: a mistyped key and a missing command are reported."""
    text = (DEPLOY / "systemd" / "uhs-api.service").read_text()
    local = tmp_path / "broken.service"
    local.write_text(text.replace("ProtectSystem=", "ProtectSystm="))
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(local)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode != 0
    assert "Unknown key 'ProtectSystm'" in verified.stderr
    assert "is not executable" in verified.stderr


@pytest.mark.parametrize("anyone", [["*"], ["0.0.0.0/0"], ["127.0.0.1", "::/0"]])
def test_believing_every_address_s_forwarded_headers_is_refused(tmp_path, anyone):
    """With every address a trusted proxy, any client names its own address in
    X-Forwarded-For: the shield's and the rate limits' counts, the journal's address
    and the metrics' loopback rule would all be the client's to choose."""
    problems = _check(_production(tmp_path, trusted_proxies=anyone), tmp_path)
    assert "UHS_TRUSTED_PROXIES" in _settings_named(problems)
