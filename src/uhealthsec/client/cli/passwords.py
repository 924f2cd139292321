"""The password, for scripts as for people (restic's pattern): from ``--password-file``
(its first line), else from the program ``UHS_PASSWORD_COMMAND`` names (the first line
it prints), else asked on the terminal. It is never an argument of ``uhs`` (other users
see the arguments of a process) and never shown in a message."""

from __future__ import annotations

import getpass
import os
import shlex
import stat
import subprocess
from pathlib import Path

import typer

from uhealthsec.client.cli import exit_codes
from uhealthsec.terminal import Refused

#: The environment variable naming a program that prints the password.
COMMAND_VARIABLE = "UHS_PASSWORD_COMMAND"

#: Set by ``uhs --password-file``.
password_file: Path | None = None

#: What is read of a password file or a program's output: a first line longer than
#: this is no password (a log or an image given by mistake is not loaded whole).
MAX_READ = 64 * 1024


def read_password(question: str) -> str:
    """The account's password (it unlocks the keys on this device)."""
    if password_file is not None:
        return _from_file(password_file)
    command = os.environ.get(COMMAND_VARIABLE, "").strip()
    if command:
        return _from_command(command)
    return ask_hidden(question)


def ask_hidden(question: str) -> str:
    """Asked on the terminal itself, not on stdout, and not echoed. getpass writes the
    question only once echo is off and earlier typing discarded: an answer typed as
    soon as the question shows is neither shown nor lost."""
    try:
        return getpass.getpass(f"{question}: ")
    except EOFError:
        raise typer.Abort() from None


def ask_code(question: str, what: str) -> str:
    """A one-time code left out of the command's arguments (which other users see, and
    the shell's history keeps): not echoed on a terminal, else stdin's first line."""
    import sys

    code = ask_hidden(question) if sys.stdin.isatty() else sys.stdin.readline(1024)
    if not code.strip():
        raise typer.BadParameter(f"give {what}")
    return code


def from_script() -> bool:
    """Whether the password comes from a file or a program rather than a person."""
    return password_file is not None or bool(os.environ.get(COMMAND_VARIABLE, "").strip())


def _first_line(data: bytes, source: str) -> str:
    line, newline, _ = data.partition(b"\n")
    if not newline and len(data) > MAX_READ:
        raise Refused(f"{source}: its first line is too long to be a password", exit_codes.REFUSED)
    try:
        text = line.removesuffix(b"\r").decode()
    except UnicodeDecodeError:
        raise Refused(f"{source} is not UTF-8 text", exit_codes.REFUSED) from None
    if not text:
        raise Refused(f"{source} gave an empty password", exit_codes.REFUSED)
    return text


def _from_file(path: Path) -> str:
    try:
        # Without waiting: a FIFO (or a device) is refused, not read when someone
        # writes to it. fstat on what was opened: no race with a renamed file.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise Refused(f"cannot read the password file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise Refused(f"the password file {path} is not a regular file")
        # As ssh does for a private key: a secret others may read is refused.
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise Refused(
                f"the password file {path} may be read by other users (permissions "
                f"{stat.S_IMODE(mode):04o}): run `chmod 600 {path}`"
            )
        try:
            data = file.read(MAX_READ + 1)
        except OSError as exc:
            raise Refused(f"cannot read the password file {path}: {exc.strerror}") from None
    return _first_line(data, f"the password file {path}")


def _from_command(command: str) -> str:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise Refused(f"{COMMAND_VARIABLE} cannot be read as a command: {exc}") from None
    program = argv[0] if argv else ""
    try:
        # No shell; its errors reach the terminal as they are, its output only us. Not
        # our stdin: it may hold the document (`uhs send -`), which the program must
        # neither see nor consume; a program that asks asks on the terminal.
        done = subprocess.run(  # noqa: S603 (the user's own)
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, check=False
        )
    except OSError as exc:
        raise Refused(f"{COMMAND_VARIABLE}: cannot run {program}: {exc.strerror}") from None
    if done.returncode != 0:
        raise Refused(
            f"{COMMAND_VARIABLE}: {program} failed (exit status {done.returncode}); "
            "no password was read"
        )
    return _first_line(done.stdout[: MAX_READ + 1], f"{COMMAND_VARIABLE} ({program})")
