"""The conventions scripts rely on (age, gh, restic): results on stdout and nothing
else there, errors and questions on stderr, one exit status per kind of failure,
``--json``, stdin and stdout as files, ids by prefix, the password from a file or a
program, the recipients confirmed before encrypting, and a cancellation that says what
was done. Whole ``uhs`` processes against the server on loopback."""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.client.demo import login, run, send
from tests.client.terminal import UHS, finished, spawn_uhs
from uhealthsec.client.cli import exit_codes
from uhealthsec.client.cli._common import resolve_id
from uhealthsec.server.demo import DEMO_PASSWORD
from uhealthsec.terminal import Refused


def _uhs(
    args: list[str],
    config: Path,
    server: str,
    *,
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """``uhs`` as a script runs it: no terminal, streams captured apart."""
    return subprocess.run(
        [UHS, *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
        env={
            **os.environ,
            "UHS_CONFIG_DIR": str(config),
            "UHS_SERVER": server,
            "NO_COLOR": "1",
            "COLUMNS": "200",
            **(env or {}),
        },
    )


@pytest.fixture
def password_file(tmp_path) -> Path:
    path = tmp_path / "password"
    path.write_text(DEMO_PASSWORD + "\n")
    path.chmod(0o600)
    return path


def test_exit_statuses_are_listed_in_help_and_each_kind_has_its_own(tmp_path):
    shown = _uhs(["--help"], tmp_path, "http://127.0.0.1:9")
    assert shown.returncode == 0
    for code, meaning in exit_codes.MEANINGS:
        assert f"{code:<4} {meaning}" in shown.stdout.decode()

    signed_out = _uhs(["whoami"], tmp_path, "http://127.0.0.1:9")
    assert signed_out.returncode == exit_codes.AUTHENTICATION
    assert signed_out.stdout == b"" and b"not signed in" in signed_out.stderr

    wrong_usage = _uhs(["inbox", "--limit", "0"], tmp_path, "http://127.0.0.1:9")
    assert wrong_usage.returncode == exit_codes.USAGE and wrong_usage.stdout == b""


def test_results_go_to_stdout_as_json_and_everything_else_to_stderr(
    signed_in, live_server, tmp_path, password_file
):
    martin, durand = signed_in
    report = tmp_path / "bilan.txt"
    report.write_text("Bilan: rien a signaler.\n")
    document_id = send(report, martin, live_server)

    me = _uhs(["whoami", "--json"], durand, live_server)
    assert me.returncode == 0 and json.loads(me.stdout)["email"] == "kine.durand@demo.test"

    listed = _uhs(["--password-file", str(password_file), "inbox", "--json"], durand, live_server)
    assert listed.returncode == 0, listed.stderr
    [document] = json.loads(listed.stdout)  # stdout is the JSON, and nothing more
    assert document["id"] == document_id and document["title"] == "bilan.txt"
    assert b"Unlocking" not in listed.stdout

    practices = _uhs(["practice", "list", "--json"], durand, live_server)
    assert [p["role"] for p in json.loads(practices.stdout)] == ["practitioner"]
    assert json.loads(_uhs(["practices", "--json"], durand, live_server).stdout) == json.loads(
        practices.stdout
    )

    fetched = _uhs(
        [
            "--password-file",
            str(password_file),
            "get",
            document_id,
            "-o",
            str(tmp_path / "c"),
            "--json",
        ],
        durand,
        live_server,
    )
    result = json.loads(fetched.stdout)
    assert result["signature_verified"] and result["author_email"] == "dr.martin@demo.test"


def test_send_reads_stdin_and_get_writes_stdout(signed_in, live_server, password_file):
    martin, durand = signed_in
    letter = "Courrier: séances à poursuivre.\n".encode() * 1000
    sent = _uhs(
        [
            "--password-file",
            str(password_file),
            "send",
            "-",
            "--name",
            "courrier.txt",
            "--patient",
            "camille.petit@demo.test",
            "--to",
            "kine.durand@demo.test",
            "--yes",
            "--json",
        ],
        martin,
        live_server,
        stdin=letter,
    )
    assert sent.returncode == 0, sent.stderr
    document_id = json.loads(sent.stdout)["id"]
    assert b"Encrypting for" in sent.stderr and b"kine.durand@demo.test" in sent.stderr

    got = _uhs(
        ["--password-file", str(password_file), "get", document_id[:8], "-o", "-"],
        durand,
        live_server,
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout == letter  # the document, and nothing else
    assert b"signature verified" in got.stderr

    # Without a name, or without --yes (stdin cannot answer the question): refused
    # before anything is read or sent.
    for missing in (["--yes"], ["--name", "courrier.txt"]):
        refused = _uhs(
            [
                "--password-file",
                str(password_file),
                "send",
                "-",
                *missing,
                "--patient",
                "camille.petit@demo.test",
            ],
            martin,
            live_server,
            stdin=letter,
        )
        assert refused.returncode == exit_codes.USAGE and refused.stdout == b""


def test_ids_are_taken_by_unambiguous_prefix(signed_in, live_server, password_file):
    _martin, durand = signed_in
    too_short = _uhs(
        ["--password-file", str(password_file), "get", "abc", "-o", "-"], durand, live_server
    )
    assert too_short.returncode == exit_codes.USAGE and b"at least 4" in too_short.stderr
    unknown = _uhs(
        ["--password-file", str(password_file), "get", "ffffffff", "-o", "-"], durand, live_server
    )
    assert unknown.returncode == exit_codes.REFUSED and b"no document" in unknown.stderr

    ids = ["0a1b2c3d-0000-4000-8000-000000000000", "0a1b9999-0000-4000-8000-000000000000"]
    assert resolve_id("0A1B2C", lambda: ids, "document") == ids[0]
    with pytest.raises(Refused) as ambiguous:
        resolve_id("0a1b", lambda: ids, "document")
    assert ambiguous.value.exit_code == exit_codes.USAGE

    def never_listed() -> list[str]:
        raise AssertionError("a whole id needs no listing")

    assert resolve_id(ids[1].upper(), never_listed, "document") == ids[1]


def test_the_password_file_must_be_private_and_is_never_shown(
    signed_in, live_server, tmp_path, password_file
):
    _, durand = signed_in
    password_file.chmod(0o640)
    refused = _uhs(["--password-file", str(password_file), "inbox"], durand, live_server)
    assert refused.returncode == exit_codes.REFUSED
    assert b"may be read by other users (permissions 0640)" in refused.stderr
    assert b"chmod 600" in refused.stderr
    password_file.chmod(0o600)

    wrong = tmp_path / "wrong"
    wrong.write_text("not the password at all\nsecond line\n")
    wrong.chmod(0o600)
    failed = _uhs(["--password-file", str(wrong), "inbox"], durand, live_server)
    assert failed.returncode == exit_codes.WRONG_PASSWORD
    assert b"not the password" not in failed.stdout + failed.stderr

    # The variable does as the option does.
    listed = _uhs(["inbox"], durand, live_server, env={"UHS_PASSWORD_FILE": str(password_file)})
    assert listed.returncode == 0 and b"No documents" in listed.stdout


def test_the_password_comes_from_a_program(signed_in, live_server, tmp_path):
    _, durand = signed_in
    # Run without a shell: the quotes are split as a shell would, no more.
    printing = f'{sys.executable} -c \'print("{DEMO_PASSWORD}"); print("ignored")\''
    listed = _uhs(["inbox"], durand, live_server, env={"UHS_PASSWORD_COMMAND": printing})
    assert listed.returncode == 0, listed.stderr
    assert b"No documents" in listed.stdout and DEMO_PASSWORD.encode() not in listed.stdout

    failing = f"{sys.executable} -c 'import sys; sys.exit(\"vault locked\")'"
    failed = _uhs(["inbox"], durand, live_server, env={"UHS_PASSWORD_COMMAND": failing})
    assert failed.returncode == exit_codes.REFUSED
    assert b"vault locked" in failed.stderr  # the program's own message passes through
    assert b"failed (exit status 1)" in failed.stderr


def test_declining_the_recipients_sends_nothing(signed_in, live_server, tmp_path):
    martin, durand = signed_in
    report = tmp_path / "bilan.txt"
    report.write_text("Bilan: rien a signaler.\n")
    uhs = spawn_uhs(
        [
            "send",
            str(report),
            "--patient",
            "camille.petit@demo.test",
            "--to",
            "kine.durand@demo.test",
        ],
        martin,
        live_server,
    )
    uhs.expect("Password")
    uhs.sendline(DEMO_PASSWORD)
    uhs.expect("kine.durand@demo.test")
    uhs.expect(r"Encrypt for them\? \[y/N\]")
    uhs.sendline("n")
    status, output = finished(uhs)
    assert status == exit_codes.CANCELLED
    assert "Cancelled: nothing was sent." in output and "Traceback" not in output
    assert "No documents" in run(["inbox"], durand, live_server)


def test_ctrl_c_cancels_without_a_traceback(signed_in, live_server):
    martin, _ = signed_in
    uhs = spawn_uhs(["inbox"], martin, live_server)
    uhs.expect("Password")
    uhs.kill(signal.SIGINT)
    status, output = finished(uhs)
    assert status == exit_codes.CANCELLED
    assert "Cancelled: nothing was sent." in output and "Traceback" not in output


def test_a_practice_is_set_up_from_the_command_line(
    demo, signed_in, live_server, clock, outbox, tmp_path
):
    martin, durand = signed_in
    created = json.loads(
        _uhs(["practice", "create", "Cabinet des Lilas", "--json"], martin, live_server).stdout
    )
    assert created["role"] == "admin" and created["name"] == "Cabinet des Lilas"
    practice = created["id"][:8]  # its first characters are enough

    invited = _uhs(
        [
            "practice",
            "invite",
            "kine.durand@demo.test",
            "--role",
            "practitioner",
            "--practice",
            practice,
        ],
        martin,
        live_server,
    )
    assert invited.returncode == 0, invited.stderr
    assert b"Invited kine.durand@demo.test as practitioner" in invited.stdout
    bad_role = _uhs(
        ["practice", "invite", "x@demo.test", "--role", "owner", "--practice", practice],
        martin,
        live_server,
    )
    assert bad_role.returncode == exit_codes.USAGE

    code = outbox.last_code("kine.durand@demo.test")
    joined = _uhs(["practice", "join", code], durand, live_server)
    assert joined.returncode == 0 and b"Joined Cabinet des Lilas as practitioner" in joined.stdout

    members = json.loads(
        _uhs(["practice", "members", "--practice", practice, "--json"], martin, live_server).stdout
    )
    assert {(m["display_name"], m["role"]) for m in members} == {
        ("Dr Claire Martin", "admin"),
        ("Paul Durand", "practitioner"),
    }
    table = _uhs(["practice", "members", "--practice", practice], durand, live_server)
    assert b"Paul Durand" in table.stdout and b"Dr Claire Martin" in table.stdout
    # Two practices now: a command that needs one asks which.
    ambiguous = _uhs(["practice", "members"], durand, live_server)
    assert ambiguous.returncode == exit_codes.USAGE and b"--practice" in ambiguous.stderr


def test_ctrl_c_during_an_upload_sends_nothing_and_the_server_logs_one_line(
    signed_in, live_server, ctx, tmp_path, caplog
):
    martin, durand = signed_in
    large = tmp_path / "imagerie.bin"
    with large.open("wb") as sparse:  # 1 GiB: still uploading when interrupted
        sparse.truncate(1 << 30)
    caplog.set_level(logging.INFO)
    uvicorn_log = logging.getLogger("uvicorn")  # does not propagate to the root
    uvicorn_log.addHandler(caplog.handler)
    try:
        uhs = spawn_uhs(
            ["send", str(large), "--patient", "camille.petit@demo.test", "--yes"],
            martin,
            live_server,
        )
        uhs.expect("Password")
        uhs.sendline(DEMO_PASSWORD)
        _wait_for(lambda: _spooled(ctx.settings.upload_dir) > 0)  # the upload is under way
        uhs.kill(signal.SIGINT)
        status, output = finished(uhs)
        assert status == exit_codes.CANCELLED, output
        assert "Cancelled: nothing was sent." in output and "Traceback" not in output
        _wait_for(lambda: bool(_disconnections(caplog)))
    finally:
        uvicorn_log.removeHandler(caplog.handler)
    assert len(_disconnections(caplog)) == 1
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert "No documents" in run(["inbox"], durand, live_server)


def _disconnections(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.getMessage() == "client disconnected before the end of POST /blobs"
    ]


def _spooled(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def _wait_for(condition) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "waited in vain"
        time.sleep(0.02)


def test_consent_and_rights_print_json_too(signed_in, demo, live_server, clock, tmp_path):
    martin, _ = signed_in
    camille = tmp_path / "camille"
    login(demo["camille.petit"], camille, live_server, clock)

    # A change is signed: its command unlocks the keys with the password (R3).
    password = {"UHS_PASSWORD_COMMAND": shlex.join(["echo", DEMO_PASSWORD])}

    def as_json(args: list[str], config: Path):
        done = _uhs([*args, "--json"], config, live_server, env=password)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    study = as_json(
        [
            "consent",
            "declare-study",
            "--title",
            "Douleurs lombaires",
            "--sponsor",
            "CHU de Tours",
            "--purpose",
            "Comparer deux rééducations.",
            "--methodology",
            "MR-004",
            "--starts",
            clock.now.date().isoformat(),
            "--months",
            "12",
        ],
        martin,
    )
    assert study["state"] == "open" and study["consenting"] == 0
    recorded = as_json(["consent", "deny", "research", "--study", study["id"][:8]], camille)
    assert recorded["directive"]["decision"] == "deny"
    assert recorded["directive"]["study_id"] == study["id"]
    [directive] = as_json(["consent", "list"], camille)
    assert directive["purpose"] == "research" and directive["decision"] == "deny"
    [listed] = as_json(["consent", "studies"], camille)
    assert listed["my_decision"] == "deny" and listed["consenting"] is None

    asked = as_json(["rights", "ask", "access"], camille)
    assert asked["right"] == "access" and asked["status"] == "pending"
    assert [r["id"] for r in as_json(["rights", "list"], camille)] == [asked["id"]]
    assert asked["id"] in [r["id"] for r in as_json(["rights", "list"], martin)]

    shown = as_json(["patient", "show", "camille.petit@demo.test"], martin)
    assert [c["purpose"] for c in shown["consents"]] == ["research"]
    assert [r["id"] for r in shown["requests"]] == [asked["id"]]
    assert as_json(["retention-policy"], martin)["years"] == 20
    # The practitioner names the request by its first characters.
    extended = as_json(["rights", "extend", asked["id"][:8], "--reason", "dossier archivé"], martin)
    assert extended["id"] == asked["id"] and extended["status"] == "extended"


def test_sessions_and_keys_speak_json_and_a_session_is_named_by_prefix(
    signed_in, demo, live_server, clock, tmp_path
):
    _, durand = signed_in
    laptop = tmp_path / "durand-laptop"
    login(demo["kine.durand"], laptop, live_server, clock)
    sessions = json.loads(_uhs(["sessions", "--json"], durand, live_server).stdout)
    [other] = [s for s in sessions if not s["current"]]

    revoked = _uhs(["sessions", "revoke", other["id"][:8]], durand, live_server)
    assert revoked.returncode == 0, revoked.stderr
    signed_out = _uhs(["whoami"], laptop, live_server)
    assert signed_out.returncode == exit_codes.AUTHENTICATION and signed_out.stdout == b""

    mine = json.loads(_uhs(["keys", "verify", "--json"], durand, live_server).stdout)
    theirs = json.loads(
        _uhs(["keys", "verify", "kine.durand@demo.test", "--json"], durand, live_server).stdout
    )
    assert mine == theirs and mine["email"] == "kine.durand@demo.test"
    assert len(mine["safety_number"].replace(" ", "")) == 30
    pair = json.loads(
        _uhs(["keys", "verify", "dr.martin@demo.test", "--json"], durand, live_server).stdout
    )
    assert pair["between"] == ["dr.martin@demo.test", "kine.durand@demo.test"]
    assert len(pair["safety_number"].replace(" ", "")) == 60
    assert mine["safety_number"] in pair["safety_number"]


def test_a_cancellation_says_what_was_done_before_it(live_server, tmp_path):
    uhs = spawn_uhs(
        ["register", "--email", "eve@example.org", "--name", "Eve Laurent"],
        tmp_path / "eve",
        live_server,
    )
    for question in ("Password", "Password again"):
        uhs.expect(question)
        uhs.sendline("harbour violet compass thimble meadow")
    uhs.expect(r"written them down\? \[y/N\]")
    uhs.sendline("n")
    status, output = finished(uhs)
    assert status == exit_codes.CANCELLED and "Traceback" not in output
    assert "Cancelled, after: the account eve@example.org was created on the server." in output
