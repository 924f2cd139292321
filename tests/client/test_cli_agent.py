"""`uhs unlock` and `uhs lock`: the password asked once, the keys then kept by a key
agent of the user's own for a limited time (issue 21, item 9)."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest

from tests.client.demo import login, run, send
from tests.client.terminal import finished, spawn_uhs
from uhealthsec.client import agent
from uhealthsec.crypto.keys import PRIVATE_KEYS_SIZE, UserKeys
from uhealthsec.server.demo import DEMO_PASSWORD


def _agent_socket(config: Path) -> Path:
    return agent.socket_path(config / "default.json")


def _get_without_password(document_id: str, config: Path, server: str, out: Path) -> str:
    """Fetches the document; fails if the password is asked."""
    uhs = spawn_uhs(["get", document_id, "--output", str(out)], config, server)
    asked = uhs.expect(["Password", pexpect.EOF])
    assert asked == 1, "the password was asked although the keys were unlocked"
    uhs.close()
    assert uhs.exitstatus == 0, uhs.before
    return uhs.before


def test_unlocked_keys_open_documents_without_the_password_until_locked(
    signed_in, live_server, tmp_path
):
    martin, durand = signed_in
    report = tmp_path / "bilan.txt"
    report.write_text("Bilan: genou droit, amplitude 120 degres.\n")
    document_id = send(report, martin, live_server, "--title", "Bilan")
    socket_file = _agent_socket(durand)
    try:
        output = run(["unlock", "--minutes", "5"], durand, live_server)
        assert "Keys unlocked for 5 minutes" in output
        # Only this user can reach the keys.
        assert stat.S_IMODE(socket_file.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(socket_file.stat().st_mode) == 0o600
        assert socket_file.parent.stat().st_uid == os.getuid()

        _get_without_password(document_id, durand, live_server, tmp_path / "one.txt")
        assert (tmp_path / "one.txt").read_text() == report.read_text()

        assert "Keys locked." in run(["lock"], durand, live_server, password=None)
        assert not socket_file.exists()
        assert "were not unlocked" in run(["lock"], durand, live_server, password=None)
        # Locked: the password is asked again.
        run(["get", document_id, "--output", str(tmp_path / "two.txt")], durand, live_server)
        assert (tmp_path / "two.txt").read_text() == report.read_text()

        # Signing out locks the keys too.
        run(["unlock", "--minutes", "5"], durand, live_server)
        assert agent.fetch_keys(socket_file) is not None
        run(["logout"], durand, live_server, password=None)
        assert agent.fetch_keys(socket_file) is None
    finally:
        agent.lock(socket_file)


def test_an_agent_holding_other_keys_is_not_used(signed_in, live_server, tmp_path):
    """Keys that are not those of the account's keystore (another account's, or a
    process of the user's that squats the socket) are never used: the password is."""
    martin, durand = signed_in
    report = tmp_path / "bilan.txt"
    report.write_text("Bilan: epaule gauche.\n")
    document_id = send(report, martin, live_server, "--title", "Bilan")
    socket_file = _agent_socket(durand)
    agent.start(socket_file, UserKeys.generate(), lifetime=60, idle=60)
    try:
        uhs = spawn_uhs(
            ["get", document_id, "--output", str(tmp_path / "out.txt")], durand, live_server
        )
        uhs.expect("another account's keys: not used")
        uhs.expect("Password")
        uhs.sendline(DEMO_PASSWORD)
        status, output = finished(uhs)
        assert status == 0, output
        assert (tmp_path / "out.txt").read_text() == report.read_text()
    finally:
        agent.lock(socket_file)


@pytest.fixture
def runtime_dir(monkeypatch):
    # Short: a Unix socket's path is limited to 107 bytes.
    directory = Path(tempfile.mkdtemp(prefix="uhs-run-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(directory))
    return directory


def _serving(path: Path, sealed: bytearray, *, lifetime: float, idle: float) -> threading.Thread:
    listener = agent.listen(path)
    thread = threading.Thread(
        target=agent.serve,
        args=(listener, path, sealed),
        kwargs={"lifetime": lifetime, "idle": idle},
    )
    thread.start()
    return thread


@pytest.mark.parametrize(("lifetime", "idle"), [(60, 0.3), (0.3, 60)])
def test_the_agent_forgets_the_keys_when_its_time_is_up(runtime_dir, lifetime, idle):
    keys = UserKeys.generate()
    path = agent.socket_path(runtime_dir / "profile.json")
    sealed = bytearray(keys.encode())
    thread = _serving(path, sealed, lifetime=lifetime, idle=idle)
    try:
        held = agent.fetch_keys(path)
        assert held is not None and held.public() == keys.public()
    finally:
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert sealed == bytearray(len(sealed))  # wiped
    assert not path.exists()
    assert agent.fetch_keys(path) is None


def test_a_request_the_agent_does_not_know_gets_nothing(runtime_dir):
    path = agent.socket_path(runtime_dir / "profile.json")
    sealed = bytearray(UserKeys.generate().encode())
    thread = _serving(path, sealed, lifetime=60, idle=60)
    try:
        with socket.socket(socket.AF_UNIX) as connection:
            connection.connect(str(path))
            connection.sendall(b"DUMP\n")
            assert connection.recv(200) == b""
    finally:
        assert agent.lock(path)
        thread.join(timeout=10)
    assert sealed == bytearray(len(sealed))


def test_a_socket_directory_others_can_enter_or_a_link_is_refused(runtime_dir):
    shared = runtime_dir / "uhealthsec"
    shared.mkdir(mode=0o700)
    shared.chmod(0o770)
    with pytest.raises(agent.AgentError, match="not a private directory"):
        agent.socket_directory()
    shared.rmdir()
    elsewhere = Path(tempfile.mkdtemp(dir="/tmp"))
    shared.symlink_to(elsewhere)
    with pytest.raises(agent.AgentError, match="not a private directory"):
        agent.socket_directory()


def test_the_agent_runs_no_module_of_the_directory_uhs_unlock_was_run_in(
    runtime_dir, tmp_path, monkeypatch
):
    """``python -m`` puts the current directory first on the module path: a file named
    like a module the agent imports (argparse.py, in a downloaded folder) would be run
    by the process the keys are handed to."""
    marker = tmp_path / "ran"
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "argparse.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('keys read here')\n"
        "raise SystemExit(3)\n"
    )
    monkeypatch.chdir(planted)
    path = agent.socket_path(runtime_dir / "profile.json")
    keys = UserKeys.generate()
    try:
        agent.start(path, keys, lifetime=60, idle=60)
        assert not marker.exists()
        held = agent.fetch_keys(path)
        assert held is not None and held.public() == keys.public()
    finally:
        agent.lock(path)


def _squatter(path: Path, answer: Callable[[socket.socket], None]) -> threading.Thread:
    """A process of the user's (or an agent of another version) listening at ``path``
    and answering each connection with ``answer``."""
    listener = agent.listen(path)

    def run() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection, contextlib.suppress(OSError):
                connection.recv(len(b"KEYS\n"))
                answer(connection)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_an_agent_answering_a_byte_at_a_time_does_not_hold_uhs(runtime_dir):
    path = agent.socket_path(runtime_dir / "profile.json")

    def drip(connection: socket.socket) -> None:
        for _ in range(PRIVATE_KEYS_SIZE):
            connection.sendall(b"\x01")
            time.sleep(0.25)

    thread = _squatter(path, drip)
    started = time.monotonic()
    assert agent.fetch_keys(path) is None
    # Given up after the agent's time, not after a quarter of a second per byte.
    assert time.monotonic() - started < 4
    thread.join(timeout=2 * PRIVATE_KEYS_SIZE)


def test_an_answer_that_is_no_key_set_of_this_version_is_no_keys(runtime_dir):
    """An agent of another version, or a squatter, makes ``uhs`` ask for the password,
    not fail."""
    path = agent.socket_path(runtime_dir / "profile.json")
    thread = _squatter(path, lambda c: c.sendall(b"\xff" * PRIVATE_KEYS_SIZE))
    assert agent.fetch_keys(path) is None
    thread.join(timeout=5)


def test_a_runtime_directory_others_may_write_in_is_refused(runtime_dir):
    """Another user who may rename entries of ``$XDG_RUNTIME_DIR`` could swap the
    agent's private directory for one of their own between its checks and its use."""
    runtime_dir.chmod(0o777)
    with pytest.raises(agent.AgentError, match="not a private directory"):
        agent.socket_directory()
    # As /tmp is: others may write, but the sticky bit keeps them from renaming ours.
    runtime_dir.chmod(0o1777)
    assert agent.socket_directory() == runtime_dir / "uhealthsec"


def test_the_agent_counts_the_time_the_machine_slept(runtime_dir, monkeypatch):
    """A laptop suspended overnight: the monotonic clock stops while it sleeps, so an
    agent counting with it would still serve the keys after its hour was up."""
    if sys.platform.startswith("linux"):
        assert abs(agent.now() - time.clock_gettime(time.CLOCK_BOOTTIME)) < 1
    slept = [0.0]
    clock = agent.now
    monkeypatch.setattr(agent, "now", lambda: clock() + slept[0])
    path = agent.socket_path(runtime_dir / "profile.json")
    sealed = bytearray(UserKeys.generate().encode())
    thread = _serving(path, sealed, lifetime=60, idle=60)
    try:
        assert agent.fetch_keys(path) is not None
        slept[0] = 120.0  # as if the machine had slept two minutes
        assert agent.fetch_keys(path) is None
    finally:
        thread.join(timeout=10)
        agent.lock(path)
    assert not thread.is_alive()
    assert sealed == bytearray(len(sealed))


def test_signing_in_again_locks_the_keys_of_the_session_before(signed_in, demo, live_server, clock):
    """`uhs login` over a profile replaces its session, as `uhs logout` then `uhs login`
    would: the keys the earlier session unlocked are not left with the agent."""
    _martin, durand = signed_in
    socket_file = _agent_socket(durand)
    try:
        run(["unlock", "--minutes", "5"], durand, live_server)
        assert agent.fetch_keys(socket_file) is not None
        login(demo["dr.martin"], durand, live_server, clock)
        assert agent.fetch_keys(socket_file) is None
    finally:
        agent.lock(socket_file)


def test_looking_for_an_agent_leaves_nothing_behind(runtime_dir):
    """Every command that opens keys looks for the agent first: where none was ever
    started, that look makes no directory."""
    assert agent.existing_socket_path(runtime_dir / "profile.json") is None
    assert not (runtime_dir / "uhealthsec").exists()
    started = agent.socket_path(runtime_dir / "profile.json")
    assert agent.existing_socket_path(runtime_dir / "profile.json") == started


# Started as `uhs unlock` starts it; says whether its pipe could be opened again through
# /proc once it said it was private, before anything was written to it.
_PRIVACY_PROBE = """
import os, subprocess, sys
agent = subprocess.Popen(
    [sys.executable, "-P", "-m", "uhealthsec.client.agent", "--socket", sys.argv[1]],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
)
print(agent.stdout.readline().decode().strip())
try:
    os.close(os.open(f"/proc/{agent.pid}/fd/0", os.O_RDONLY | os.O_NONBLOCK))
    print("pipe opened")
except PermissionError:
    print("pipe refused")
agent.stdin.close()
print("exit", agent.wait())
"""


def test_the_keys_go_into_the_pipe_only_once_the_agent_is_private(runtime_dir):
    """The agent says it is private before it reads anything, and it is: another program
    of the same user cannot open its pipe through /proc/<pid>/fd (where the keys would
    be read). The probe runs without CAP_SYS_PTRACE, as a user's programs do, even when
    the tests run as root (who could open any process's files)."""
    probe = [sys.executable, "-c", _PRIVACY_PROBE, str(runtime_dir / "agent.sock")]
    if os.getuid() == 0:
        probe = ["setpriv", "--bounding-set", "-sys_ptrace", *probe]
    said = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=True)
    # Closed without keys: the agent ends without ever listening.
    assert said.stdout.split("\n")[:3] == ["PRIVATE", "pipe refused", "exit 2"], said
    assert not (runtime_dir / "agent.sock").exists()
