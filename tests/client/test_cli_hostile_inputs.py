"""What ``uhs`` does with inputs it does not choose: ids a hostile server lists, a
password file that is no file, a password program that reads stdin, a document name
that is no file name, a SIGTERM while plaintext waits in a temporary file, and a path
a client gives the server to log."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import ClientDisconnect

from tests.client.demo import send
from tests.client.terminal import UHS
from tests.client.test_cli_streams import _uhs
from uhealthsec.client.cli import exit_codes
from uhealthsec.client.cli._common import connection, resolve_id
from uhealthsec.server import problems
from uhealthsec.server.demo import DEMO_PASSWORD
from uhealthsec.terminal import Refused

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _python(code: str, *, stdin: bytes = b"", env: dict[str, str] | None = None, timeout=15):
    """``code`` in a Python of its own (file descriptors, not pytest's captures)."""
    prelude = "import sys, typer\ntry:\n" + "".join(f"    {line}\n" for line in code.splitlines())
    prelude += "except typer.Exit as exc:\n    sys.exit(exc.exit_code)\n"
    return subprocess.run(
        [sys.executable, "-c", prelude],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONPATH": SRC, **(env or {})},
    )


# -- ids given by prefix ----------------------------------------------------------------


def test_an_id_the_server_lists_is_taken_only_as_a_uuid():
    # A listing is the server's: what it names is used in paths and shown as an id.
    with pytest.raises(Refused):
        resolve_id("abcd", lambda: ["abcd/../../practices/0"], "document")
    upper = "ABCD1234-0000-4000-8000-000000000000"
    assert resolve_id("abcd", lambda: [upper], "document") == upper.lower()


def test_a_whole_id_is_taken_as_the_uuid_it_spells_without_a_listing():
    whole = "0a1b2c3d-0000-4000-8000-000000000000"

    def never_listed() -> list[str]:
        raise AssertionError("a whole id needs no listing")

    for spelling in (whole, whole.upper(), whole.replace("-", ""), f"urn:uuid:{whole}"):
        assert resolve_id(spelling, never_listed, "document") == whole


def test_a_document_named_by_prefix_is_shown_before_it_is_shared(
    signed_in, live_server, tmp_path, password_file
):
    # The listing that resolves a prefix is the server's: before a key is wrapped for
    # anyone, the user sees which document (whole id, title decrypted here) it chose.
    martin, _durand = signed_in
    report = tmp_path / "bilan.txt"
    report.write_text("Bilan: rien a signaler.\n")
    document_id = send(report, martin, live_server, "--title", "Bilan du genou")
    shared = _uhs(
        [
            "--password-file",
            str(password_file),
            "share",
            document_id[:8],
            "--to",
            "camille.petit@demo.test",
            "--yes",
        ],
        martin,
        live_server,
    )
    assert shared.returncode == 0, shared.stderr
    shown = shared.stderr.decode()
    assert document_id in shown and "Bilan du genou" in shown
    assert shown.index("Bilan du genou") < shown.index("Encrypting for")


# -- the password -----------------------------------------------------------------------


def test_a_password_file_that_is_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "password"
    os.mkfifo(fifo, 0o600)
    try:
        done = _python(
            "from pathlib import Path\n"
            "from uhealthsec.client.cli import passwords\n"
            f"passwords._from_file(Path({str(fifo)!r}))\n",
            timeout=10,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("reading the password file waited for a writer to a FIFO")
    assert done.returncode == exit_codes.REFUSED
    assert b"not a regular file" in done.stderr


def test_a_password_file_is_not_read_whole(tmp_path):
    # Only its first line is the password: a file of gigabytes (a log given by
    # mistake) is not loaded into memory to find it.
    huge = tmp_path / "password"
    huge.write_bytes(b"x" * (8 << 20))
    huge.chmod(0o600)
    done = _python(
        "from pathlib import Path\n"
        "from uhealthsec.client.cli import passwords\n"
        f"passwords._from_file(Path({str(huge)!r}))\n"
    )
    assert done.returncode == exit_codes.REFUSED
    assert b"too long" in done.stderr and b"xxxx" not in done.stderr


def test_the_password_command_is_not_given_the_document_on_stdin():
    # `uhs send -` reads the document from stdin after the password: a program that
    # reads its stdin (a prompt, a wrapper) must not swallow it, nor see it.
    reading = f"{sys.executable} -c 'import sys; sys.stdin.read(); print(\"{DEMO_PASSWORD}\")'"
    done = _python(
        "import sys\n"
        "from uhealthsec.client.cli import passwords\n"
        "assert passwords.read_password('Password') == " + repr(DEMO_PASSWORD) + "\n"
        "sys.stdout.buffer.write(sys.stdin.buffer.read())\n",
        stdin=b"Compte rendu operatoire\n",
        env={"UHS_PASSWORD_COMMAND": reading},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"Compte rendu operatoire\n"


def test_a_password_command_that_is_missing_or_prints_nothing_is_refused_plainly():
    for command, said in (
        ("/nonexistent/uhs-pass", b"cannot run /nonexistent/uhs-pass"),
        (f"{sys.executable} -c 'print()'", b"empty password"),
    ):
        done = _python(
            "from uhealthsec.client.cli import passwords\npasswords.read_password('Password')\n",
            env={"UHS_PASSWORD_COMMAND": command},
        )
        assert done.returncode == exit_codes.REFUSED
        assert said in done.stderr and b"Traceback" not in done.stderr


# -- stdin and stdout as files ----------------------------------------------------------


@pytest.mark.parametrize("name", ["..", ".", "/"])
def test_a_document_name_that_is_no_file_name_is_refused_before_anything(
    signed_in, live_server, password_file, name
):
    martin, _ = signed_in
    sent = _uhs(
        [
            "--password-file",
            str(password_file),
            "send",
            "-",
            "--name",
            name,
            "--patient",
            "camille.petit@demo.test",
            "--yes",
        ],
        martin,
        live_server,
        stdin=b"Ordonnance\n",
    )
    assert sent.returncode == exit_codes.USAGE, sent.stderr
    assert b"Traceback" not in sent.stderr and sent.stdout == b""


def test_sigterm_while_stdin_is_spooled_leaves_no_plaintext(
    signed_in, live_server, password_file, tmp_path
):
    # A service manager stops `uhs` with SIGTERM: the document read so far from stdin
    # is removed as on Ctrl-C, not left in the temporary directory.
    martin, _ = signed_in
    spools = tmp_path / "tmp"
    spools.mkdir()
    uhs = subprocess.Popen(
        [
            UHS,
            "--password-file",
            str(password_file),
            "send",
            "-",
            "--name",
            "courrier.txt",
            "--patient",
            "camille.petit@demo.test",
            "--yes",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={
            **os.environ,
            "UHS_CONFIG_DIR": str(martin),
            "UHS_SERVER": live_server,
            "TMPDIR": str(spools),
            "NO_COLOR": "1",
            "PYTHONFAULTHANDLER": "1",
        },
    )
    try:
        uhs.stdin.write(b"Secret medical: " * 100_000)
        uhs.stdin.flush()
        deadline = time.monotonic() + 30
        while not any(p.is_file() and p.stat().st_size for p in spools.rglob("*")):
            assert uhs.poll() is None, uhs.stderr.read()
            assert time.monotonic() < deadline, "the document was never spooled"
            time.sleep(0.02)
        uhs.send_signal(signal.SIGTERM)
        try:
            uhs.wait(timeout=20)
        except subprocess.TimeoutExpired:
            uhs.send_signal(signal.SIGABRT)  # faulthandler: where it waits
            pytest.fail(f"still running after SIGTERM: {uhs.communicate()[1]!r}")
    finally:
        if uhs.poll() is None:
            uhs.kill()
            uhs.wait()
    assert list(spools.rglob("*")) == [], "plaintext left behind"
    assert b"Traceback" not in uhs.stderr.read()


# -- what a client makes the server log -------------------------------------------------


def _disconnecting_app() -> FastAPI:
    app = FastAPI()
    problems.install(app)

    # As a route with an id in its path: its body is read (and the disconnection met)
    # before the id is validated, and the id's pattern ([^/]+) takes CR and LF.
    @app.api_route("/documents/{document_id}/shares", methods=["GET", "POST"])
    async def gone(document_id: str) -> None:
        if document_id.startswith("boom"):
            raise RuntimeError("a bug, not a disconnection")
        raise ClientDisconnect()

    return app


def _disconnections(caplog, path: str) -> list[str]:
    caplog.set_level(logging.INFO, logger="uhealthsec.server")
    with TestClient(_disconnecting_app()) as client:
        client.post(path)
    return [r.getMessage() for r in caplog.records if "disconnected" in r.getMessage()]


def test_a_disconnect_logs_no_line_break_of_the_clients(caplog):
    # CR and LF never reach the route: the URL's parser drops them.
    (line,) = _disconnections(
        caplog, "/documents/x%0D%0A2026-11-27 INFO uhealthsec.server admin signed in%0A/shares"
    )
    assert "\n" not in line and "\r" not in line
    assert line.startswith("client disconnected before the end of POST /documents/x")


def test_a_disconnect_logs_no_control_character_of_the_clients(caplog):
    # Other line breaks (VT, FF, NEL, U+2028) and a terminal's escape sequences do: a
    # `tail -f` of the log must not be cleared or rewritten by a client.
    (line,) = _disconnections(caplog, "/documents/x%1B%5B2J%0B%0C%C2%85%E2%80%A8forged/shares")
    assert line.isprintable(), repr(line)
    assert line.startswith("client disconnected before the end of POST /documents/x")
    assert line.endswith("forged/shares")


def test_another_error_is_not_logged_as_a_disconnection(caplog):
    caplog.set_level(logging.INFO, logger="uhealthsec.server")
    with TestClient(_disconnecting_app(), raise_server_exceptions=False) as client:
        answer = client.get("/documents/boom/shares")
    assert answer.status_code == 500
    assert not [r for r in caplog.records if "disconnected" in r.getMessage()]


@pytest.fixture
def password_file(tmp_path) -> Path:
    path = tmp_path / "password"
    path.write_text(DEMO_PASSWORD + "\n")
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    "failure",
    [
        httpx2.ReadTimeout("timed out"),
        httpx2.RemoteProtocolError("peer closed connection without sending complete message"),
        httpx2.ReadError("connection reset by peer"),
    ],
)
def test_a_server_that_stops_answering_is_a_refusal_not_a_traceback(failure):
    # A server that hangs, or closes the connection mid-answer (a hostile one may):
    # one line on stderr and exit status 1, as when it cannot be reached at all.
    with pytest.raises(Refused) as refused, connection("http://127.0.0.1:9"):
        raise failure
    assert refused.value.exit_code == exit_codes.REFUSED


# -- invitations ------------------------------------------------------------------------


def test_an_invitation_code_can_be_kept_out_of_argv(demo, signed_in, live_server, outbox):
    # An argument is seen by every user of the machine (ps) and kept in the shell's
    # history: the code may come from stdin instead.
    martin, durand = signed_in
    created = json.loads(
        _uhs(["practice", "create", "Cabinet des Tilleuls", "--json"], martin, live_server).stdout
    )
    invited = _uhs(
        [
            "practice",
            "invite",
            "kine.durand@demo.test",
            "--role",
            "practitioner",
            "--practice",
            created["id"],
        ],
        martin,
        live_server,
    )
    assert invited.returncode == 0, invited.stderr
    code = outbox.last_code("kine.durand@demo.test")
    joined = _uhs(["practice", "join"], durand, live_server, stdin=f"{code}\n".encode())
    assert joined.returncode == 0, joined.stderr
    assert b"Joined Cabinet des Tilleuls as practitioner" in joined.stdout
    assert code.encode() not in joined.stdout + joined.stderr
