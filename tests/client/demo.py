"""Running `uhs` in a terminal as the demo practice's people."""

from __future__ import annotations

import re

from tests.client.terminal import finished, spawn_uhs
from tests.server_fixtures import oathtool
from uhealthsec.server.demo import DEMO_PASSWORD


def login(person, config, server, clock) -> None:
    clock.advance(seconds=30)
    uhs = spawn_uhs(["login", "--email", person.email], config, server)
    uhs.expect("Password")
    uhs.sendline(DEMO_PASSWORD)
    uhs.expect("authenticator app")
    uhs.sendline(oathtool(person.totp_secret, clock.now))
    status, output = finished(uhs)
    assert status == 0, output


def run(args, config, server, password: str | None = DEMO_PASSWORD) -> str:
    uhs = spawn_uhs(args, config, server)
    if password is not None:
        uhs.expect("Password")
        uhs.sendline(password)
    status, output = finished(uhs)
    assert status == 0, output
    return output


def send(report, config, server, *extra: str) -> str:
    """Dr Martin sends a file of Camille Petit's to Paul Durand, confirming the
    recipients she is shown; returns its id."""
    uhs = spawn_uhs(
        [
            "send",
            str(report),
            "--patient",
            "camille.petit@demo.test",
            "--to",
            "kine.durand@demo.test",
            *extra,
        ],
        config,
        server,
    )
    uhs.expect("Password")
    uhs.sendline(DEMO_PASSWORD)
    uhs.expect(r"Encrypting for \(keys proven in the key directory\): (.*)\r\n")
    assert "kine.durand@demo.test" in uhs.match.group(1)
    uhs.expect(r"Encrypt for them\? \[y/N\]")
    uhs.sendline("y")
    status, sent = finished(uhs)
    assert status == 0, sent
    return re.search(r"Sent\s+([0-9a-f-]{36})", sent).group(1)
