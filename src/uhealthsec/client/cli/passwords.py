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


def from_script() -> bool:
    """Whether the password comes from a file or a program rather than a person."""
    return password_file is not None or bool(os.environ.get(COMMAND_VARIABLE, "").strip())


def _first_line(text: str, source: str) -> str:
    line = text.split("\n", 1)[0].removesuffix("\r")
    if not line:
        raise Refused(f"{source} gave an empty password", exit_codes.REFUSED)
    return line


def _from_file(path: Path) -> str:
    try:
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            # As ssh does for a private key: a secret others may read is refused.
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise Refused(
                    f"the password file {path} may be read by other users (permissions "
                    f"{stat.S_IMODE(mode):04o}): run `chmod 600 {path}`"
                )
            data = file.read()
    except OSError as exc:
        raise Refused(f"cannot read the password file {path}: {exc.strerror}") from None
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise Refused(f"the password file {path} is not UTF-8 text") from None
    return _first_line(text, f"the password file {path}")


def _from_command(command: str) -> str:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise Refused(f"{COMMAND_VARIABLE} cannot be read as a command: {exc}") from None
    program = argv[0] if argv else ""
    try:
        # No shell; its errors reach the terminal as they are, its output only us.
        done = subprocess.run(argv, stdout=subprocess.PIPE, check=False)  # noqa: S603 (the user's own)
    except OSError as exc:
        raise Refused(f"{COMMAND_VARIABLE}: cannot run {program}: {exc.strerror}") from None
    if done.returncode != 0:
        raise Refused(
            f"{COMMAND_VARIABLE}: {program} failed (exit status {done.returncode}); "
            "no password was read"
        )
    try:
        text = done.stdout.decode()
    except UnicodeDecodeError:
        raise Refused(f"{COMMAND_VARIABLE}: {program} did not print UTF-8 text") from None
    return _first_line(text, f"{COMMAND_VARIABLE} ({program})")
