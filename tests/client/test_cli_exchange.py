"""The README's walkthrough in a terminal: the demo practice, then send, inbox, get,
keys verify, share and revoke with `uhs`, against the server on loopback."""

from __future__ import annotations

import json
import re

import pytest

from tests.client.terminal import finished, spawn_uhs
from tests.server_fixtures import oathtool
from uhealthsec.server.demo import DEMO_PASSWORD, ensure_demo_practice


@pytest.fixture
def demo(ctx):
    people = ensure_demo_practice(ctx)
    assert ensure_demo_practice(ctx) == people  # once only; secrets shown again
    return {p.email.split("@")[0]: p for p in people}


def _login(person, config, server, clock) -> None:
    clock.advance(seconds=30)
    uhs = spawn_uhs(["login", "--email", person.email], config, server)
    uhs.expect("Password")
    uhs.sendline(DEMO_PASSWORD)
    uhs.expect("authenticator app")
    uhs.sendline(oathtool(person.totp_secret, clock.now))
    status, output = finished(uhs)
    assert status == 0, output


def _run(args, config, server, password: str | None = DEMO_PASSWORD) -> str:
    uhs = spawn_uhs(args, config, server)
    if password is not None:
        uhs.expect("Password")
        uhs.sendline(password)
    status, output = finished(uhs)
    assert status == 0, output
    return output


@pytest.fixture
def signed_in(demo, live_server, clock, tmp_path):
    """Profiles of Dr Martin and Paul Durand, each signed in on their own "device"."""
    martin, durand = tmp_path / "martin", tmp_path / "durand"
    _login(demo["dr.martin"], martin, live_server, clock)
    _login(demo["kine.durand"], durand, live_server, clock)
    return martin, durand


def _send(report, config, server, *extra: str) -> str:
    """Dr Martin sends a file of Camille Petit's to Paul Durand; returns its id."""
    sent = _run(
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
    return re.search(r"Sent\s+([0-9a-f-]{36})", sent).group(1)


def test_demo_walkthrough(signed_in, live_server, tmp_path):
    martin, durand = signed_in

    report = tmp_path / "compte-rendu.txt"
    report.write_text("Entorse de cheville droite: 10 seances de reeducation.\n")
    document_id = _send(report, martin, live_server, "--title", "Prescription de reeducation")

    inbox = _run(["inbox"], durand, live_server)
    assert document_id in inbox and "Prescription de reeducation" in inbox
    assert "Dr Claire Martin" in inbox

    received_dir = tmp_path / "received"
    received_dir.mkdir()
    got = _run(["get", document_id, "-o", str(received_dir)], durand, live_server)
    assert "signature verified" in got
    assert (received_dir / "compte-rendu.txt").read_text() == report.read_text()

    mine = _run(["keys", "verify"], martin, live_server, password=None)
    theirs = _run(["keys", "verify", "dr.martin@demo.test"], durand, live_server, password=None)
    number = re.search(r"Safety number: ([0-9 ]{35})", mine).group(1)
    assert number in theirs  # both sides read the same number

    revoked = _run(
        ["revoke", document_id, "--from", "kine.durand@demo.test"], martin, live_server, None
    )
    assert "can no longer read it" in revoked
    uhs = spawn_uhs(
        ["get", document_id, "-o", str(received_dir / "again.txt")], durand, live_server
    )
    uhs.expect("Password")
    uhs.sendline(DEMO_PASSWORD)
    status, output = finished(uhs)
    assert status == 1 and "Refused" in output and "no access" in output


def test_a_wrong_password_does_not_unlock_the_keys(demo, live_server, clock, tmp_path):
    config = tmp_path / "martin"
    _login(demo["dr.martin"], config, live_server, clock)
    uhs = spawn_uhs(["inbox"], config, live_server)
    uhs.expect("Password")
    uhs.sendline("not the password at all")
    status, output = finished(uhs)
    assert status == 1 and "wrong password" in output


def test_messages_between_the_demo_practitioners(signed_in, live_server, tmp_path):
    martin, durand = signed_in
    note = tmp_path / "radio.txt"
    note.write_text("Radiographie: pas de fracture.\n")
    sent = _run(
        [
            "write",
            "Pouvez-vous la voir jeudi ?",
            "--to",
            "kine.durand@demo.test",
            "--attach",
            str(note),
            "--patient",
            "camille.petit@demo.test",
        ],
        martin,
        live_server,
    )
    thread_id = re.search(r"conversation ([0-9a-f-]{36})", sent).group(1)
    listed = _run(["threads"], durand, live_server, password=None)
    assert "Dr Claire Martin" in listed and "1 unread" in listed
    shown = _run(["read", thread_id], durand, live_server)
    assert "Pouvez-vous la voir jeudi ?" in shown and "attachment radio.txt" in shown
    _run(["write", "Oui, à 10 h.", "--thread", thread_id], durand, live_server)
    answer = _run(["read", thread_id], martin, live_server)
    assert "Oui, à 10 h." in answer
    assert "read by kine.durand@demo.test" in answer  # her message was read


def test_the_patient_reads_her_access_history_and_anyone_verifies_the_journal(
    signed_in, demo, live_server, clock, tmp_path
):
    martin, durand = signed_in
    report = tmp_path / "bilan.txt"
    report.write_text("Bilan: rien a signaler.\n")
    document_id = _send(report, martin, live_server)
    _run(["get", document_id, "-o", str(tmp_path / "copy.txt")], durand, live_server)

    camille = tmp_path / "camille"
    _login(demo["camille.petit"], camille, live_server, clock)
    history = _run(["journal", "history"], camille, live_server, password=None)
    assert "Paul Durand downloaded a document" in history
    assert "Dr Claire Martin added a document to your file" in history
    exported = tmp_path / "history.json"
    _run(["journal", "export", "-o", str(exported)], camille, live_server, password=None)
    bundle = json.loads(exported.read_text())
    assert bundle["resourceType"] == "Bundle" and len(bundle["entry"]) >= 3

    verified = _run(["journal", "verify"], durand, live_server, password=None)
    assert "Journal verified" in verified
    again = _run(["journal", "verify", "--all-heads"], durand, live_server, password=None)
    again = " ".join(again.split())
    assert re.search(r"extend the [1-9]\d* entries this device verified before", again)
