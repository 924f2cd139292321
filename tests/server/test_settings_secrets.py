"""Secrets in the settings show masked when the settings are printed or logged."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.server_fixtures import make_settings
from uhealthsec.server.app import build_context
from uhealthsec.server.settings import Settings

SECRETS = {
    "smtp_password": "smtp-password-7f3a",
    "oidc_client_secret": "oidc-client-secret-91cd",
    "s3_secret_access_key": "s3-secret-key-52be",
    "metrics_token": "metrics-token-c04e",
}
DATABASE_PASSWORD = "db-password-e8d1"


def test_repr_and_str_of_the_settings_mask_every_secret(tmp_path: Path):
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"postgresql+psycopg://uhs:{DATABASE_PASSWORD}@db.example/uhs",
        **SECRETS,
    )
    for shown in (repr(settings), str(settings)):
        for secret in [*SECRETS.values(), DATABASE_PASSWORD]:
            assert secret not in shown
    # Revealed where used only.
    assert settings.smtp_password.get_secret_value() == SECRETS["smtp_password"]
    assert DATABASE_PASSWORD in settings.resolved_database_url


def test_secrets_are_read_from_the_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("UHS_SMTP_PASSWORD", SECRETS["smtp_password"])
    monkeypatch.setenv("UHS_OIDC_CLIENT_SECRET", SECRETS["oidc_client_secret"])
    settings = Settings(data_dir=tmp_path)
    assert settings.smtp_password.get_secret_value() == SECRETS["smtp_password"]
    assert settings.oidc_client_secret.get_secret_value() == SECRETS["oidc_client_secret"]


def test_the_startup_log_shows_the_settings_without_their_secrets(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
):
    settings = make_settings(
        tmp_path,
        database_url,
        oidc_issuer="https://idp.example",
        oidc_client_id="uhs",
        **SECRETS,
    )
    caplog.set_level(logging.INFO, logger="uhealthsec.server")
    build_context(settings, migrate_schema=False).close()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "starting with" in logged and "smtp_password=SecretStr('**********')" in logged
    for secret in [*SECRETS.values(), settings.resolved_database_url]:
        assert secret not in logged
