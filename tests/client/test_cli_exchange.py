"""The README's walkthrough in a terminal: the demo practice, then send, inbox, get,
keys verify, share and revoke with `uhs`, against the server on loopback."""

from __future__ import annotations

import json
import re
import uuid

from sqlalchemy import delete, select

from tests.client.demo import login, run, send
from tests.client.terminal import finished, spawn_uhs
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.demo import DEMO_PASSWORD
from uhealthsec.server.records.models import RevocationStatementRecord, Share


def test_demo_walkthrough(signed_in, live_server, tmp_path):
    martin, durand = signed_in

    report = tmp_path / "compte-rendu.txt"
    report.write_text("Entorse de cheville droite: 10 seances de reeducation.\n")
    document_id = send(report, martin, live_server, "--title", "Prescription de reeducation")

    inbox = run(["inbox"], durand, live_server)
    assert document_id in inbox and "Prescription de reeducation" in inbox
    assert "Dr Claire Martin" in inbox

    received_dir = tmp_path / "received"
    received_dir.mkdir()
    got = run(["get", document_id, "-o", str(received_dir)], durand, live_server)
    assert "signed by dr.martin@demo.test, signature verified)" in " ".join(got.split())
    assert (received_dir / "compte-rendu.txt").read_text() == report.read_text()
    # Again into the same folder: the file there is not written over without --force.
    (received_dir / "compte-rendu.txt").write_text("annotated by hand\n")
    uhs = spawn_uhs(["get", document_id, "-o", str(received_dir)], durand, live_server)
    uhs.expect("Password")
    uhs.sendline(DEMO_PASSWORD)
    status, output = finished(uhs)
    assert status == 1 and "exists already" in " ".join(output.split())
    assert (received_dir / "compte-rendu.txt").read_text() == "annotated by hand\n"
    run(["get", document_id, "-o", str(received_dir), "--force"], durand, live_server)
    assert (received_dir / "compte-rendu.txt").read_text() == report.read_text()

    # Each side asks about the other and both read the same twelve groups: one number
    # for the pair, which holds both people's keys.
    hers = run(["keys", "verify", "kine.durand@demo.test"], martin, live_server, password=None)
    his = run(["keys", "verify", "dr.martin@demo.test"], durand, live_server, password=None)
    pair_numbers = [re.findall(r"^\s+((?:\d{5} ){5}\d{5})\s*$", o, re.M) for o in (hers, his)]
    assert pair_numbers[0] == pair_numbers[1] and len(pair_numbers[0]) == 2
    own = run(["keys", "verify"], martin, live_server, password=None)
    her_key = re.search(r"Your key's safety number: ((?:\d{5} ){5}\d{5})", own).group(1)
    assert her_key in pair_numbers[0]  # her half of the pair's number

    updated = run(["update", document_id, str(report), "--yes"], martin, live_server)
    assert "Version 2" in updated
    # The verified readers are shown before the new version is encrypted.
    shown = updated.split("Encrypting for (keys proven in the key directory):")[1]
    assert "kine.durand@demo.test" in shown.split("Version 2")[0]

    revoked = run(["revoke", document_id, "--from", "kine.durand@demo.test"], martin, live_server)
    assert "can no longer read it" in revoked
    uhs = spawn_uhs(
        ["get", document_id, "-o", str(received_dir / "again.txt")], durand, live_server
    )
    uhs.expect("Password")
    uhs.sendline(DEMO_PASSWORD)
    status, output = finished(uhs)
    assert status == 1 and "Refused" in output and "no access" in output


def test_a_monitor_audits_the_key_directory(signed_in, live_server, ctx):
    martin, _ = signed_in
    ctx.settings = ctx.settings.model_copy(update={"directory_monitors": ["dr.martin@demo.test"]})
    audited = " ".join(run(["keys", "audit"], martin, live_server, password=None).split())
    assert re.search(r"Key directory audited: (\d+) entries, (\d+) accounts, \2 maps", audited)


def test_uhs_update_keeps_out_a_reader_this_device_revoked(demo, live_server, clock, ctx, tmp_path):
    """The server lists Paul Durand again and withholds Dr Martin's signed revocation:
    her profile remembers it, and `uhs update` refuses to encrypt to him."""
    martin = tmp_path / "martin"
    login(demo["dr.martin"], martin, live_server, clock)
    report = tmp_path / "bilan.txt"
    report.write_text("Bilan: rien a signaler.\n")
    document_id = send(report, martin, live_server)
    with ctx.sessions() as db:
        paul = db.scalar(select(Account.id).where(Account.email == "kine.durand@demo.test"))
        his_share = select(Share).where(
            Share.document_id == uuid.UUID(document_id), Share.recipient_id == paul
        )
        wrapped_key = db.scalar(his_share).wrapped_key
    run(["revoke", document_id, "--from", "kine.durand@demo.test"], martin, live_server)
    [remembered] = json.loads((martin / "default.json").read_text())["revoked"]
    assert remembered["document_id"] == document_id
    assert (remembered["email"], remembered["version"]) == ("kine.durand@demo.test", 1)
    with ctx.sessions.begin() as db:
        share = db.scalar(his_share)
        share.wrapped_key = wrapped_key
        share.revoked_at = share.revoked_by = share.end_reason = None
        db.execute(delete(RevocationStatementRecord))

    uhs = spawn_uhs(["update", document_id, str(report), "--yes"], martin, live_server)
    uhs.expect("Password")
    uhs.sendline(DEMO_PASSWORD)
    status, output = finished(uhs)
    output = " ".join(output.split())
    assert status == 1 and "kine.durand@demo.test again" in output
    assert "whom you revoked at version 1" in output


def test_a_wrong_password_does_not_unlock_the_keys(demo, live_server, clock, tmp_path):
    config = tmp_path / "martin"
    login(demo["dr.martin"], config, live_server, clock)
    uhs = spawn_uhs(["inbox"], config, live_server)
    uhs.expect("Password")
    uhs.sendline("not the password at all")
    status, output = finished(uhs)
    assert status == 12 and "wrong password" in output


def test_messages_between_the_demo_practitioners(signed_in, live_server, tmp_path):
    martin, durand = signed_in
    note = tmp_path / "radio.txt"
    note.write_text("Radiographie: pas de fracture.\n")
    sent = run(
        [
            "write",
            "Pouvez-vous la voir jeudi ?",
            "--to",
            "kine.durand@demo.test",
            "--attach",
            str(note),
            "--patient",
            "camille.petit@demo.test",
            "--yes",
        ],
        martin,
        live_server,
    )
    thread_id = re.search(r"conversation ([0-9a-f-]{36})", sent).group(1)
    # Who receives is shown, as verified, before anything is encrypted.
    assert "Encrypting for (keys proven in the key directory)" in sent
    assert "kine.durand@demo.test" in sent
    listed = run(["threads"], durand, live_server, password=None)
    assert "Dr Claire Martin" in listed and "1 unread" in listed
    shown = run(["read", thread_id], durand, live_server)
    assert "Pouvez-vous la voir jeudi ?" in shown and "attachment radio.txt" in shown
    run(["write", "Oui, à 10 h.", "--thread", thread_id, "--yes"], durand, live_server)
    answer = run(["read", thread_id], martin, live_server)
    assert "Oui, à 10 h." in answer
    assert "read by kine.durand@demo.test" in answer  # her message was read


def test_the_patient_reads_her_access_history_and_anyone_verifies_the_journal(
    signed_in, demo, live_server, clock, tmp_path
):
    martin, durand = signed_in
    report = tmp_path / "bilan.txt"
    report.write_text("Bilan: rien a signaler.\n")
    document_id = send(report, martin, live_server)
    run(["get", document_id, "-o", str(tmp_path / "copy.txt")], durand, live_server)

    camille = tmp_path / "camille"
    login(demo["camille.petit"], camille, live_server, clock)
    history = run(["journal", "history"], camille, live_server, password=None)
    assert "Paul Durand downloaded a document" in history
    assert "Dr Claire Martin added a document to your file" in history
    assert "Complete: " in " ".join(history.split())  # chained back to the first entry
    exported = tmp_path / "history.json"
    run(["journal", "export", "-o", str(exported)], camille, live_server, password=None)
    bundle = json.loads(exported.read_text())
    assert bundle["resourceType"] == "Bundle" and len(bundle["entry"]) >= 3

    verified = run(["journal", "verify"], durand, live_server, password=None)
    assert "Journal verified" in verified
    again = run(["journal", "verify", "--all-heads"], durand, live_server, password=None)
    again = " ".join(again.split())
    assert re.search(r"extend the [1-9]\d* entries this device verified before", again)


def test_keys_rotate_replaces_the_keys_and_keeps_documents_readable(
    signed_in, demo, live_server, clock, tmp_path
):
    """`uhs keys rotate`: the password, a second factor, new recovery words; what was
    sent before still opens, what is sent after goes to the new keys."""
    from tests.server_fixtures import oathtool

    martin, durand = signed_in
    report = tmp_path / "bilan.txt"
    report.write_text("Bilan avant le changement de cles.\n")
    before = send(report, martin, live_server)
    old_number = run(["keys", "verify"], durand, live_server, password=None)

    def rotate(config, person, *options) -> str:
        clock.advance(seconds=30)  # a fresh TOTP step
        uhs = spawn_uhs(["keys", "rotate", *options], config, live_server)
        uhs.expect("Password")
        uhs.sendline(DEMO_PASSWORD)
        uhs.expect("6-digit code")
        uhs.sendline(oathtool(person.totp_secret, clock.now))
        uhs.expect("Have you written them down")
        uhs.sendline("y")
        status, output = finished(uhs)
        assert status == 0, output
        return " ".join(output.split())

    assert "Keys replaced: key version 2" in rotate(durand, demo["kine.durand"])
    new_number = run(["keys", "verify"], durand, live_server, password=None)
    assert new_number != old_number

    received = tmp_path / "received"
    received.mkdir()
    run(["get", before, "-o", str(received / "before.txt")], durand, live_server)
    assert (received / "before.txt").read_text() == report.read_text()
    after = send(report, martin, live_server)
    run(["get", after, "-o", str(received / "after.txt")], durand, live_server)
    assert (received / "after.txt").read_text() == report.read_text()
    # Once Dr Martin rotated too, what she signed before says it was her former keys.
    # She thinks her keys were stolen: her copies of every key are wrapped again.
    rotated = rotate(martin, demo["dr.martin"], "--compromised")
    assert re.search(r"Wrapped again to your new keys: [1-9]\d* document version", rotated)
    got = run(["get", before, "-o", str(received / "again.txt")], durand, live_server)
    assert "with former keys (key version 1), signature verified" in " ".join(got.split())
    run(["get", before, "-o", str(received / "hers.txt")], martin, live_server)
    assert (received / "hers.txt").read_text() == report.read_text()


def test_r28_uhs_send_gives_the_patient_her_result_held_back_three_days(
    signed_in, demo, live_server, clock, tmp_path
):
    """The patient is a reader by default, shown with the others before encrypting;
    held back, her inbox lists the document by its date, its title still hers to read."""
    martin, _ = signed_in
    report = tmp_path / "analyse.txt"
    report.write_text("Glycemie a jeun: 1,02 g/L.\n")
    document_id = send(report, martin, live_server, "--patient-waits-days", "3")
    camille = tmp_path / "camille"
    login(demo["camille.petit"], camille, live_server, clock)
    listed = " ".join(run(["inbox"], camille, live_server).split())
    assert document_id in listed and "Available from" in listed
    assert "analyse" not in listed  # its title is encrypted under the key not served yet


def test_r28_uhs_restrict_keeps_a_document_from_the_other_readers_until_unrestrict(
    signed_in, demo, live_server, clock, tmp_path
):
    """The patient restricts one document with `uhs restrict`, told that copies already
    opened cannot be taken back; Paul is refused it, saying why; her inbox and its
    author's say it is restricted; `uhs unrestrict` gives it back to him."""
    martin, durand = signed_in
    report = tmp_path / "bilan.txt"
    report.write_text("Bilan: rien a signaler.\n")
    document_id = send(report, martin, live_server)
    camille = tmp_path / "camille"
    login(demo["camille.petit"], camille, live_server, clock)
    restricted = " ".join(run(["restrict", document_id], camille, live_server).split())
    assert "only you and its author can read it now" in restricted
    assert "cannot be taken back" in restricted
    for inbox in (camille, martin):
        assert "restricted by the patient" in " ".join(run(["inbox"], inbox, live_server).split())
    uhs = spawn_uhs(["get", document_id, "-o", str(tmp_path / "paul.txt")], durand, live_server)
    uhs.expect("Password")
    uhs.sendline(DEMO_PASSWORD)
    status, output = finished(uhs)
    assert status == 1 and "the patient restricted this document" in " ".join(output.split())
    run(["unrestrict", document_id], camille, live_server)
    run(["get", document_id, "-o", str(tmp_path / "paul.txt")], durand, live_server)
    assert (tmp_path / "paul.txt").read_text() == report.read_text()
