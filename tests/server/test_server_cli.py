"""``uhs-server``: one address sets the issuer and the passkeys' origin, the data
directory is absolute and never made anew by a start from the wrong folder, and mail
written to the outbox is logged with its path."""

from __future__ import annotations

import logging
import os
import socket
import subprocess

import httpx2
import pexpect
import pytest
import typer

from tests.serving import HTTP_TIMEOUT, UHS_SERVER
from uhealthsec.server.cli import _settings, public_address
from uhealthsec.server.mail.transports import FileMailer
from uhealthsec.server.settings import Settings


def _environment(**values: str) -> dict[str, str]:
    """The environment without any UHS_ setting of the machine running the tests."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("UHS_")}
    return {**kept, "NO_COLOR": "1", "COLUMNS": "200", **values}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_port_sets_the_issuer_and_the_passkeys_origin(monkeypatch):
    monkeypatch.delenv("UHS_ISSUER", raising=False)
    settings = Settings(_env_file=None)
    public_address(settings, "127.0.0.1", 8123, None)
    assert settings.issuer == "http://127.0.0.1:8123"
    # A passkey is bound to a name, never to an IP address: localhost, same port.
    assert settings.webauthn_rp_id == "localhost"
    assert settings.webauthn_origins == ["http://localhost:8123"]


def test_a_public_url_sets_both_behind_a_proxy():
    settings = Settings(_env_file=None, issuer="http://127.0.0.1:8000")
    public_address(settings, "127.0.0.1", 8000, "https://uhs.example.org/")
    assert settings.issuer == "https://uhs.example.org"
    assert settings.webauthn_rp_id == "uhs.example.org"
    assert settings.webauthn_origins == ["https://uhs.example.org"]


def test_a_configured_issuer_is_kept_without_a_public_url():
    settings = Settings(_env_file=None, issuer="https://configured.example", webauthn_rp_id="x")
    public_address(settings, "127.0.0.1", 9000, None)
    assert (settings.issuer, settings.webauthn_rp_id) == ("https://configured.example", "x")


def test_a_public_url_that_is_not_http_is_refused():
    with pytest.raises(typer.Exit):
        public_address(Settings(_env_file=None), "127.0.0.1", 8000, "uhs.example.org")


def test_a_missing_data_directory_is_refused_unless_init(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("UHS_DATA_DIR", "data")  # relative: made absolute
    with pytest.raises(typer.Exit) as refused:
        _settings()
    assert refused.value.exit_code == 1
    assert not (tmp_path / "data").exists()
    created = _settings(init=True)
    assert created.data_dir == tmp_path / "data" and created.data_dir.is_dir()
    assert _settings().data_dir == tmp_path / "data"  # there now: no --init needed


def test_serve_from_another_folder_refuses_and_creates_nothing(tmp_path):
    done = subprocess.run(
        [*UHS_SERVER, "serve", "--port", str(_free_port())],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    said = " ".join(done.stderr.split())  # a refusal is said on stderr
    assert done.returncode == 1 and done.stdout == "", done.stdout + done.stderr
    assert f"no data directory at {tmp_path / 'var'}" in said and "--init" in said
    assert list(tmp_path.iterdir()) == []


def test_the_operator_s_commands_refuse_a_missing_data_directory(tmp_path):
    missing = tmp_path / "unmounted"
    for command in (["cleanup"], ["worker", "--once"], ["witnesses", "list"]):
        done = subprocess.run(
            [*UHS_SERVER, *command],
            env=_environment(UHS_DATA_DIR=str(missing)),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1 and "no data directory" in done.stderr, command
        assert done.stdout == "", command
    assert not missing.exists()


def test_serve_prints_its_data_directory_and_the_line_for_the_command_line(tmp_path):
    port = _free_port()
    data = tmp_path / "new-server"
    server = pexpect.spawn(
        UHS_SERVER[0],
        [*UHS_SERVER[1:], "serve", "--port", str(port), "--init"],
        cwd=tmp_path,
        env=_environment(UHS_DATA_DIR="new-server"),
        encoding="utf-8",
        timeout=60,
        dimensions=(60, 200),
    )
    try:
        server.expect(f"Data directory: {data}\r?\n")
        server.expect(f"Server key: {data / 'server.key'}\r?\n")
        server.expect(f"export UHS_SERVER=http://127.0.0.1:{port}\r?\n")
        server.expect("Uvicorn running|Application startup complete")
        discovery = httpx2.get(
            f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server", timeout=HTTP_TIMEOUT
        )
        assert discovery.json()["issuer"] == f"http://127.0.0.1:{port}"
    finally:
        server.terminate(force=True)
    assert (data / "uhealthsec.db").exists()
    assert (data.stat().st_mode & 0o777) == 0o700  # it holds the server's key


def test_the_outbox_logs_where_each_mail_was_written(tmp_path, caplog):
    mailer = FileMailer(tmp_path / "outbox", "U-HealthSec <no-reply@localhost>")
    with caplog.at_level(logging.INFO, logger="uhealthsec.server.mail.transports"):
        mailer.send("camille.petit@example.org", "Your code", "123456")
    [written] = (tmp_path / "outbox").iterdir()
    [record] = caplog.records
    assert str(written) in record.getMessage()
    # Neither the recipient nor what the mail says (a code) goes to the log.
    assert "camille" not in record.getMessage() and "123456" not in record.getMessage()


def test_serve_sets_up_the_log_the_outbox_writes_to():
    from uhealthsec.server.logs import configure_logging

    configure_logging("text")
    logger = logging.getLogger("uhealthsec.server.mail.transports")
    assert logger.isEnabledFor(logging.INFO)
    assert any(
        isinstance(h, logging.StreamHandler) for h in logging.getLogger("uhealthsec").handlers
    )


@pytest.fixture(autouse=True)
def _restore_the_server_log():
    logger = logging.getLogger("uhealthsec")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate


def test_uhs_server_lists_the_operator_s_commands():
    shown = subprocess.run(
        [*UHS_SERVER, "-h"], capture_output=True, text=True, timeout=60, check=False
    ).stdout
    for command in ("serve", "worker", "cleanup", "witnesses", "verify-practitioner"):
        assert command in shown
