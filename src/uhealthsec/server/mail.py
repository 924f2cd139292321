"""Outgoing mail: a file outbox for the embedded defaults, SMTP in production."""

from __future__ import annotations

import secrets
import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from uhealthsec.server.settings import Settings


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


def _message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


class OutboxMailer:
    """Writes each message as an .eml file, for a laptop install with no mail server."""

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self.sender = sender

    def send(self, to: str, subject: str, body: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{secrets.token_hex(8)}.eml"
        (self.directory / name).write_bytes(bytes(_message(self.sender, to, subject, body)))


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, to: str, subject: str, body: str) -> None:
        s = self.settings
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=30) as smtp:
            smtp.starttls()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password)
            smtp.send_message(_message(s.mail_from, to, subject, body))


def mailer_for(settings: Settings) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(settings)
    return OutboxMailer(settings.outbox_dir, settings.mail_from)
