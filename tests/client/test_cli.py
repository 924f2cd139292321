"""The ``uhs`` command line: help, and whole sign-in journeys in a terminal against the
running server (real HTTP, real TOTP codes from oathtool)."""

import json
import re
import stat
from datetime import timedelta

import typer
from typer.testing import CliRunner

from tests.client.terminal import finished, spawn_uhs
from tests.server_fixtures import PASSWORD, oathtool
from uhealthsec import __version__
from uhealthsec.client.cli import app
from uhealthsec.client.recovery import from_words


def test_version():
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_help_lists_the_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("register", "login", "logout", "sessions"):
        assert command in result.output


def test_the_server_s_commands_are_the_operator_s_not_the_client_s():
    listed = set(typer.main.get_command(app).commands)
    assert {"register", "send", "sessions", "journal"} <= listed
    assert listed.isdisjoint({"serve", "worker", "cleanup", "verify-practitioner", "witnesses"})


def test_register_then_first_login_enrols_totp_from_the_terminal_qr(
    live_server, outbox, clock, tmp_path
):
    address = "alice.martin@example.org"
    config = tmp_path / "config"

    uhs = spawn_uhs(["register", "--email", address, "--name", "Alice Martin"], config, live_server)
    uhs.expect("Password")
    uhs.sendline("password123")
    uhs.expect("at least 12|too")  # refused on the device, asked again
    uhs.expect("Password")
    uhs.sendline(PASSWORD)
    uhs.expect("Password again")
    uhs.sendline(PASSWORD)
    uhs.expect("Your recovery key")
    uhs.expect("written them down")
    words = re.findall(r"\d+\. ([a-z]+)", uhs.before)
    assert len(words) == 24
    from_words(" ".join(words))  # the checksum holds: the words are a real key
    uhs.sendline("y")
    status, output = finished(uhs)
    assert status == 0, output
    assert "We sent a code" in output

    # The code is asked, not echoed, rather than put in the arguments others can see.
    uhs = spawn_uhs(["verify-email"], config, live_server)
    uhs.expect("Code from the e-mail: ")
    code = outbox.last_code(address)
    uhs.sendline(code)
    uhs.expect("Password")
    assert code not in uhs.before
    uhs.sendline(PASSWORD)
    status, output = finished(uhs)
    assert status == 0 and "Address confirmed" in output

    uhs = spawn_uhs(["login", "--email", address], config, live_server)
    uhs.expect("Password")
    uhs.sendline(PASSWORD)
    uhs.expect("Scan this QR code")
    uhs.expect(r"type this key into the app: ([A-Z2-7]+)")
    secret = uhs.match.group(1)
    assert "▀" in uhs.before or "█" in uhs.before  # the QR code, drawn in the terminal
    uhs.expect("6-digit code")
    uhs.sendline(oathtool(secret, clock.now))
    uhs.expect("Recovery codes")
    status, output = finished(uhs)
    assert status == 0 and "Signed in." in output

    saved = config / "default.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    profile = json.loads(saved.read_text())
    assert profile["email"] == address and profile["refresh_token"]
    assert PASSWORD not in saved.read_text()

    status, output = finished(spawn_uhs(["whoami"], config, live_server))
    assert status == 0 and "Alice Martin" in output
    status, output = finished(spawn_uhs(["sessions"], config, live_server))
    assert status == 0 and re.search(r"[0-9a-f-]{36}\*", output)

    status, output = finished(spawn_uhs(["logout"], config, live_server))
    assert status == 0 and "Signed out." in output
    status, output = finished(spawn_uhs(["sessions"], config, live_server))
    assert status == 4 and "not signed in" in output  # exit_codes.AUTHENTICATION


def test_login_asks_again_after_a_wrong_code_and_signs_other_devices_out(
    live_server, users, clock, tmp_path, client, sdk
):
    user = users.signed_in("bob@example.org")
    config = tmp_path / "config"

    uhs = spawn_uhs(["login", "--email", user.email], config, live_server)
    uhs.expect("Password")
    uhs.sendline(user.password)
    uhs.expect("authenticator app")
    # A code from ten minutes ago: outside the accepted window.
    uhs.sendline(oathtool(user.totp_secret, clock.now - timedelta(minutes=10)))
    uhs.expect("incorrect|wrong|refused")
    uhs.expect("authenticator app")
    uhs.sendline(users.next_totp(user.totp_secret))
    status, output = finished(uhs)
    assert status == 0 and "Signed in." in output

    status, output = finished(spawn_uhs(["sessions"], config, live_server))
    assert status == 0
    other = [line for line in output.splitlines() if "tests" in line]
    assert len(other) == 1
    session_id = re.search(r"[0-9a-f-]{36}", other[0]).group(0)

    status, output = finished(spawn_uhs(["sessions", "revoke", session_id], config, live_server))
    assert status == 0, output
    refused = client.get("/accounts/me", headers=sdk.bearer(user.tokens))
    assert refused.status_code == 401


def test_a_wrong_password_is_refused_without_saying_more(live_server, users, tmp_path):
    user = users.signed_in("carol@example.org")
    uhs = spawn_uhs(["login", "--email", user.email], tmp_path / "config", live_server)
    uhs.expect("Password")
    uhs.sendline("not the password at all")
    status, output = finished(uhs)
    assert status == 4  # exit_codes.AUTHENTICATION: the server did not sign anyone in
    assert "e-mail address or the password is incorrect" in output
    assert not (tmp_path / "config" / "default.json").exists()


def test_an_unreachable_server_is_explained(tmp_path):
    uhs = spawn_uhs(["login", "--email", "x@example.org"], tmp_path, "http://127.0.0.1:9")
    uhs.expect("Password")
    uhs.sendline("whatever password")
    status, output = finished(uhs)
    assert status == 1 and "cannot reach the server" in output


def test_after_many_failures_login_asks_for_the_code_with_the_password(
    live_server, users, ctx, clock, tmp_path
):
    from uhealthsec.server.shield.service import SECOND_FACTOR_AFTER, Shield

    user = users.signed_in("dora@example.org")
    with ctx.sessions.begin() as db:
        for _ in range(SECOND_FACTOR_AFTER):
            Shield(db, ctx).fail(user.email)
    config = tmp_path / "config"
    uhs = spawn_uhs(["login", "--email", user.email], config, live_server)
    uhs.expect("Password")
    uhs.sendline(user.password)
    uhs.expect("many failed attempts")
    uhs.expect("code from your app")
    uhs.sendline(users.next_totp(user.totp_secret))
    status, output = finished(uhs)
    assert status == 0 and "Signed in." in output

    # Then a new password, re-sealed on this device after a fresh second factor.
    uhs = spawn_uhs(["password"], config, live_server)
    uhs.expect("Current password")
    uhs.sendline(user.password)
    uhs.expect("Password")
    uhs.sendline("password123456")
    uhs.expect("guess|common|too")  # refused on the device, asked again
    uhs.expect("Password")
    uhs.sendline("harbour violet compass thimble meadow")
    uhs.expect("Password again")
    uhs.sendline("harbour violet compass thimble meadow")
    uhs.expect("code from your app")
    uhs.sendline(users.next_totp(user.totp_secret))
    status, output = finished(uhs)
    assert status == 0 and "Password changed." in output, output
