"""Outgoing mail over TLS only, the SMTP server's certificate checked (issue 15, 15):
a local SMTP server with a self-signed certificate must get neither the login nor
the message, unless its CA is the one configured."""

from __future__ import annotations

import datetime
import ipaddress
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from uhealthsec.server.mail.transports import SmtpMailer
from uhealthsec.server.settings import Settings

SMTP_PASSWORD = "smtp-password-never-in-clear"


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp.crt", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class SmtpServer:
    """Just enough of an SMTP server (RFC 5321, 3207, 4954) to see what a client sends."""

    tls: ssl.SSLContext
    implicit_tls: bool = False
    offer_starttls: bool = True
    received: list[bytes] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(10)
        try:
            if self.implicit_tls:
                conn = self.tls.wrap_socket(conn, server_side=True)
            self._dialogue(conn)
        except (OSError, ssl.SSLError):
            pass  # the client went away: what it sent so far is in ``received``
        finally:
            conn.close()
            self.listener.close()

    def _dialogue(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        conn.sendall(b"220 localhost ESMTP\r\n")
        secure = self.implicit_tls
        while True:
            line = reader.readline()
            if not line:
                return
            self.received.append(line)
            verb = line[:4].upper()
            if verb == b"EHLO":
                extensions = [b"AUTH PLAIN LOGIN"] if secure else []
                if self.offer_starttls and not secure:
                    extensions.append(b"STARTTLS")
                lines = [b"localhost", *extensions]
                reply = b"".join(
                    b"250" + (b" " if i == len(lines) - 1 else b"-") + text + b"\r\n"
                    for i, text in enumerate(lines)
                )
                conn.sendall(reply)
            elif verb == b"STAR":
                conn.sendall(b"220 go ahead\r\n")
                conn = self.tls.wrap_socket(conn, server_side=True)
                reader = conn.makefile("rb")
                secure = True
            elif verb == b"AUTH":
                conn.sendall(b"235 accepted\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go on\r\n")
                while (data := reader.readline()) not in (b".\r\n", b""):
                    self.received.append(data)
                conn.sendall(b"250 queued\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")

    def saw(self, needle: bytes) -> bool:
        return any(needle in line for line in self.received)

    def stop(self) -> None:
        self.thread.join(timeout=10)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return cert, context


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
