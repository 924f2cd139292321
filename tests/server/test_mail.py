"""Outgoing mail over TLS only, the SMTP server's certificate checked (issue 15, 15):
a local SMTP server with a self-signed certificate must get neither the login nor
the message, unless its CA is the one configured."""

from __future__ import annotations

import smtplib
import ssl
from pathlib import Path

import pytest

from tests.server.smtp_server import SmtpServer, server_tls
from uhealthsec.server.mail.transports import SmtpMailer
from uhealthsec.server.settings import Settings

SMTP_PASSWORD = "smtp-password-never-in-clear"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    return server_tls(tmp_path)


def mailer(tmp_path: Path, server: SmtpServer, **extra: object) -> SmtpMailer:
    return SmtpMailer(
        Settings(
            data_dir=tmp_path,
            smtp_host="localhost",
            smtp_port=server.port,
            smtp_user="uhs",
            smtp_password=SMTP_PASSWORD,
            **extra,
        )
    )


def send_code(smtp: SmtpMailer) -> None:
    smtp.send("owner@example.org", "U-HealthSec: confirm", "Your confirmation code: SECRET-CODE")


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_self_signed_smtp_server_gets_neither_the_login_nor_the_mail(
    tmp_path, certificate, security
):
    _, tls = certificate
    server = SmtpServer(tls, implicit_tls=security == "tls")
    with pytest.raises(ssl.SSLCertVerificationError):
        send_code(mailer(tmp_path, server, smtp_security=security))
    server.stop()
    assert not server.saw(b"AUTH")
    assert not server.saw(b"SECRET-CODE")


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_the_same_server_is_used_once_its_ca_is_configured(tmp_path, certificate, security):
    cert, tls = certificate
    server = SmtpServer(tls, implicit_tls=security == "tls")
    send_code(mailer(tmp_path, server, smtp_security=security, smtp_ca_file=cert))
    server.stop()
    assert server.saw(b"AUTH PLAIN")
    assert server.saw(b"SECRET-CODE")


def test_a_server_without_starttls_gets_nothing_in_clear(tmp_path, certificate):
    cert, tls = certificate
    server = SmtpServer(tls, offer_starttls=False)
    with pytest.raises(smtplib.SMTPNotSupportedError):
        send_code(mailer(tmp_path, server, smtp_ca_file=cert))
    server.stop()
    assert not server.saw(b"AUTH")
    assert not server.saw(b"SECRET-CODE")
