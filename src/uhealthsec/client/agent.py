"""The key agent: unlocked keys kept for a limited time, so that ``uhs`` asks for the
password once per working session rather than at every command (as ssh-agent does).

``uhs unlock`` opens the keystore with the password, then hands the private key set
to a background process of this module through a pipe (never argv nor the
environment). The agent answers on a Unix socket that only its user can reach:

- the socket lives in a directory of the user's own, mode 0700, refused if anybody
  else owns it or can enter it (``$XDG_RUNTIME_DIR/uhealthsec``, else
  ``uhealthsec-<uid>`` in the temporary directory);
- each connection's peer is checked with ``SO_PEERCRED``: another user is answered
  nothing, even if the permissions were loosened;
- the agent cannot be traced nor dumped by the user's other programs
  (``PR_SET_DUMPABLE`` 0, no core file), and the keys go into the pipe only once it
  says so, ``uhs unlock`` having made itself as private (a pipe can be opened again
  through ``/proc/<pid>/fd`` of either process while it may be traced);
- it ends, wiping the keys, at ``uhs lock``, at ``uhs logout``, after ``idle`` seconds
  without a request, and after ``lifetime`` seconds whatever happens.

The client checks that the keys it is given belong to the keystore the server holds
for the account signed in (the public bundle), and falls back to the password if not.
One agent per profile: the socket's name is a digest of the profile file's path.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import hashlib
import os
import resource
import select
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from uhealthsec.client.errors import ClientError
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.keys import PRIVATE_KEYS_SIZE, UserKeys

#: The longest an agent may keep keys, whatever is asked: a working day.
MAX_LIFETIME = 8 * 3600
DEFAULT_LIFETIME = 3600
#: Keys nobody asked for during this long are forgotten.
DEFAULT_IDLE = 15 * 60

_GET_KEYS = b"KEYS\n"
_LOCK = b"LOCK\n"
_READY = b"READY\n"
#: Said by the agent once nothing of the user's can trace it or open its pipe through
#: /proc: the keys are written to it only then.
_PRIVATE = b"PRIVATE\n"
_LOCKED = b"LOCKED\n"
#: A connection that says nothing for this long is dropped: one client cannot hold
#: the agent (it serves one connection at a time).
_CLIENT_SECONDS = 2.0


class AgentError(ClientError):
    """The agent could not be started or reached safely; the message says why."""


def now() -> float:
    """Seconds on a clock that goes on while the machine sleeps (the monotonic clock
    stops then: an agent's hour would not end over a night's suspend)."""
    return time.clock_gettime(getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC))


def _private_to_this_user(info: os.stat_result) -> bool:
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def _nobody_else_may_rename_in(info: os.stat_result) -> bool:
    """Whether only this user (or root) may rename or remove the directory's entries."""
    others_write = info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX
    return stat.S_ISDIR(info.st_mode) and info.st_uid in (0, os.getuid()) and not others_write


def _directory_name() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    base = Path(runtime) / "uhealthsec" if runtime and Path(runtime).is_dir() else None
    # A shared temporary directory is safe here only because of socket_directory's checks.
    return base or Path(tempfile.gettempdir()) / f"uhealthsec-{os.getuid()}"


def socket_directory() -> Path:
    """The user's private directory for the agent's socket, made if needed.

    :raises AgentError: the directory exists but another user owns it, or others may
        enter it, or it is not a directory (a link, a file), or others may swap it for
        another (in a directory they may write in without the sticky bit): never used then.
    """
    directory = _directory_name()
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700)
    if not _private_to_this_user(directory.lstat()) or not _nobody_else_may_rename_in(
        directory.parent.stat()
    ):
        raise AgentError(
            f"{directory} is not a private directory of this user: the key agent is not used"
        )
    return directory


def socket_path(profile_file: Path) -> Path:
    """The socket of the agent of the profile saved in ``profile_file``, its directory
    made if needed (to start an agent)."""
    return socket_directory() / _socket_name(profile_file)


def existing_socket_path(profile_file: Path) -> Path | None:
    """The socket an agent of that profile would answer on; None when no agent was ever
    started here (its directory does not exist): looking leaves nothing behind.

    :raises AgentError: as socket_directory.
    """
    if not os.path.lexists(_directory_name()):
        return None
    return socket_path(profile_file)


def _socket_name(profile_file: Path) -> str:
    return f"agent-{hashlib.sha256(str(profile_file.absolute()).encode()).hexdigest()[:24]}.sock"


def _connect(path: Path) -> socket.socket | None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(_CLIENT_SECONDS)
    try:
        connection.connect(str(path))
    except OSError:
        connection.close()
        return None
    return connection


def _receive(connection: socket.socket, size: int) -> bytes:
    """Up to ``size`` bytes, within _CLIENT_SECONDS in all (a byte now and then does
    not keep the connection waiting longer)."""
    deadline = now() + _CLIENT_SECONDS
    data = b""
    while len(data) < size:
        left = deadline - now()
        if left <= 0:
            raise TimeoutError("the other end of the key agent's socket is too slow")
        connection.settimeout(left)
        piece = connection.recv(size - len(data))
        if not piece:
            break
        data += piece
    return data


def fetch_keys(path: Path) -> UserKeys | None:
    """The keys the agent at ``path`` holds, or None if no agent answers there."""
    connection = _connect(path)
    if connection is None:
        return None
    with connection:
        try:
            connection.sendall(_GET_KEYS)
            sealed = bytearray(_receive(connection, PRIVATE_KEYS_SIZE))
        except OSError:
            return None
    try:
        return UserKeys.decode(bytes(sealed)) if len(sealed) == PRIVATE_KEYS_SIZE else None
    except CryptoError:
        # An agent of another version, or not an agent: the password will do.
        return None
    finally:
        sealed[:] = bytes(len(sealed))


def lock(path: Path) -> bool:
    """Ends the agent at ``path``; whether one was running there."""
    connection = _connect(path)
    if connection is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return False
    with connection:
        try:
            connection.sendall(_LOCK)
            return _receive(connection, len(_LOCKED)) == _LOCKED
        except OSError:
            return False


def start(path: Path, keys: UserKeys, *, lifetime: int, idle: int) -> None:
    """Starts an agent at ``path`` holding ``keys``, replacing any agent there.

    :raises AgentError: the agent did not say it was ready.
    """
    lock(path)
    # This very module, run by this very interpreter: no input of anyone's. -P: the
    # current directory is not put first on the module path (a file there named like a
    # module imported here would run with the keys).
    agent = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-P",
            "-m",
            "uhealthsec.client.agent",
            "--socket",
            str(path),
            "--lifetime",
            str(min(lifetime, MAX_LIFETIME)),
            "--idle",
            str(idle),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    assert agent.stdin is not None and agent.stdout is not None
    # Before the keys go into the pipe, both of its ends are out of reach of the user's
    # other programs: a pipe can be opened again through /proc/<pid>/fd of a process
    # that may be traced, this one's as much as the agent's before it is private.
    _private_process()
    if _answer(agent, agent.stdout) != _PRIVATE:
        raise AgentError("the key agent did not start")
    sealed = bytearray(keys.encode())
    try:
        agent.stdin.write(bytes(sealed))
        agent.stdin.close()
    finally:
        sealed[:] = bytes(len(sealed))
    answer = _answer(agent, agent.stdout)
    agent.stdout.close()
    if answer != _READY:
        raise AgentError("the key agent did not start")


def _answer(agent: subprocess.Popen[bytes], stdout: IO[bytes]) -> bytes:
    """The agent's next line, or nothing (the agent then killed) if it says none in time."""
    ready, _, _ = select.select([stdout], [], [], 10)
    answer = stdout.readline() if ready else b""
    if answer not in (_PRIVATE, _READY):
        agent.kill()
    return answer


def _private_process() -> None:
    """Neither traced nor dumped by the user's other programs, no core file."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform.startswith("linux"):
        pr_set_dumpable = 4
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_dumpable, 0, 0, 0, 0)


def _peer_uid(connection: socket.socket) -> int:
    credentials = connection.getsockopt(
        socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
    )
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return uid


def listen(path: Path) -> socket.socket:
    """The agent's socket at ``path``, reachable by its user only (its directory is
    already: socket_directory)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    path.chmod(0o600)
    listener.listen(4)
    return listener


def serve(
    listener: socket.socket, path: Path, sealed: bytearray, *, lifetime: float, idle: float
) -> None:
    """Answers on ``listener`` until locked or out of time, then wipes ``sealed`` and
    removes the socket at ``path``."""
    end = now() + lifetime
    idle_end = now() + idle
    try:
        while True:
            wait = min(end, idle_end) - now()
            if wait <= 0:
                return
            if not select.select([listener], [], [], wait)[0]:
                continue
            # select's wait does not count a suspend either: the time is read again.
            if min(end, idle_end) <= now():
                return
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(_CLIENT_SECONDS)
                try:
                    if _peer_uid(connection) != os.getuid():
                        continue
                    request = _receive(connection, len(_GET_KEYS))
                    if request == _GET_KEYS:
                        connection.sendall(bytes(sealed))
                        idle_end = now() + idle
                    elif request == _LOCK:
                        connection.sendall(_LOCKED)
                        return
                except OSError:
                    continue
    finally:
        sealed[:] = bytes(len(sealed))
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--lifetime", type=int, default=DEFAULT_LIFETIME)
    parser.add_argument("--idle", type=int, default=DEFAULT_IDLE)
    arguments = parser.parse_args()
    _private_process()
    sys.stdout.buffer.write(_PRIVATE)
    sys.stdout.flush()
    os.umask(0o077)
    # Holds no directory of the user's busy.
    os.chdir("/")
    sealed = bytearray(sys.stdin.buffer.read(PRIVATE_KEYS_SIZE + 1))
    sys.stdin.close()
    if len(sealed) != PRIVATE_KEYS_SIZE:
        sys.exit(2)
    listener = listen(arguments.socket)
    sys.stdout.buffer.write(_READY)
    sys.stdout.flush()
    serve(
        listener,
        arguments.socket,
        sealed,
        lifetime=min(arguments.lifetime, MAX_LIFETIME),
        idle=arguments.idle,
    )


if __name__ == "__main__":
    main()
