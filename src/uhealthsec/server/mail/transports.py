"""How mail leaves the server: .eml files for the embedded defaults, SMTP in production.

Requests never call these: they queue their mail in the outbox (mail/outbox.py), which
delivers it through one of them once the request has committed."""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from uhealthsec.server.settings import Settings

log = logging.getLogger(__name__)


class Mailer(Protocol):
    """Sends one message; a transport raises if it could not (the outbox retries)."""

    def send(self, to: str, subject: str, body: str) -> None: ...


def _message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


class FileMailer:
    """Writes each message as an .eml file under ``data_dir/outbox``, for a laptop
    install with no mail server."""

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self.sender = sender

    def send(self, to: str, subject: str, body: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{secrets.token_hex(8)}.eml"
        path.write_bytes(bytes(_message(self.sender, to, subject, body)))
        # Where to read it on a laptop; the recipient and the codes stay out of the log.
        log.info("mail written to %s", path.resolve())


class SmtpMailer:
    """Sends through an SMTP server over TLS only, its certificate and host name checked.

    The mail carries confirmation and invitation codes (an invitation code activates an
    account) and the SMTP login carries a password: a server that cannot prove its
    name, or that does not offer STARTTLS, gets neither. ``smtp_security`` is
    "starttls" (port 587) or "tls" (implicit TLS, RFC 8314, port 465);
    ``smtp_ca_file`` names the CA to trust instead of the system's (a private CA).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tls = ssl.create_default_context(
            cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None
        )
        self.tls.minimum_version = ssl.TLSVersion.TLSv1_2

    def send(self, to: str, subject: str, body: str) -> None:
        s = self.settings
        timeout = s.smtp_timeout_seconds
        smtp = (
            smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=timeout, context=self.tls)
            if s.smtp_security == "tls"
            else smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=timeout)
        )
        with smtp:
            if s.smtp_security == "starttls":
                # Refused (SMTPNotSupportedError) if not offered: never falls back to plain.
                smtp.starttls(context=self.tls)
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
            smtp.send_message(_message(s.mail_from, to, subject, body))


def transport_for(settings: Settings) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(settings)
    return FileMailer(settings.outbox_dir, settings.mail_from)
