"""A local SMTP server for the mail tests, with self-signed certificates."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tests.certificates import write_loopback_certificate


def server_tls(directory: Path, name: str = "smtp") -> tuple[Path, ssl.SSLContext]:
    """A new self-signed certificate, and a server's TLS context presenting it."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    write_loopback_certificate(cert, key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return cert, context


@dataclass
class SmtpServer:
    """Just enough of an SMTP server (RFC 5321, 3207, 4954) to see what a client sends.

    It answers one connection after the other until stopped, each as ``behaviour``
    says when it arrives: "serve", "hang up" (closes it at once) or "mute" (says
    nothing until the client gives up). ``tls`` may be replaced between connections.
    """

    tls: ssl.SSLContext
    implicit_tls: bool = False
    offer_starttls: bool = True
    behaviour: str = "serve"
    received: list[bytes] = field(default_factory=list)
    #: Messages accepted (DATA), each as the lines received.
    messages: list[list[bytes]] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with self.listener:
            while not self.stopping.is_set():
                try:
                    conn, _ = self.listener.accept()
                except TimeoutError:
                    continue
                self.connections += 1
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            if self.behaviour == "hang up":
                return
            if self.behaviour == "mute":
                while conn.recv(1024):  # until the client gives up and closes
                    pass
                return
            if self.implicit_tls:
                conn = self.tls.wrap_socket(conn, server_side=True)
            self._dialogue(conn)
        except (OSError, ssl.SSLError):
            pass  # the client went away: what it sent so far is in ``received``
        finally:
            conn.close()

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
                message = []
                while (data := reader.readline()) not in (b".\r\n", b""):
                    self.received.append(data)
                    message.append(data)
                self.messages.append(message)
                conn.sendall(b"250 queued\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")

    def saw(self, needle: bytes) -> bool:
        return any(needle in line for line in self.received)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
