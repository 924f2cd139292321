"""The command lines follow the conventions of age, gh and restic: ``-h`` is ``--help``
on every command, ``--version``, help that names values (``FILE``, ``--to EMAIL``)
rather than Python types, every option explained, and help that does not wait for
the SDK to load. Run as a person runs them: whole processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import typer

from tests.serving import UHS_SERVER
from uhealthsec import __version__
from uhealthsec.client import DEFAULT_SERVER
from uhealthsec.client.cli import app as client_app
from uhealthsec.server.cli import app as server_app

UHS = [str(Path(sys.executable).parent / "uhs")]
ENV_COLUMNS = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
#: What Typer prints of Python's types: ``<bool>``, ``<list[str]>``, ``{file}``.
TYPE_NAMES = re.compile(r"<[a-z_]+(\[[a-z_, \]\[]+\])?( range)?>|\{[a-z_]+\}")


def _commands(app: typer.Typer) -> list[list[str]]:
    """Every command and group's path, the program itself first."""
    found: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def _run(program: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*program, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **ENV_COLUMNS},
    )


def _each_command():
    yield from ((UHS, path) for path in _commands(client_app))
    yield from ((UHS_SERVER, path) for path in _commands(server_app))


def test_dash_h_is_help_on_every_command_and_names_no_python_type():
    checked = 0
    for program, path in _each_command():
        long, short = _run(program, *path, "--help"), _run(program, *path, "-h")
        assert long.returncode == short.returncode == 0, (path, short.stderr)
        assert short.stdout == long.stdout and "Usage:" in short.stdout
        assert not TYPE_NAMES.search(short.stdout), (path, TYPE_NAMES.search(short.stdout))
        checked += 1
    assert checked > 40  # every command of both programs, not only the top


def test_values_are_named_in_capitals_and_optional_arguments_bracketed():
    send = _run(UHS, "send", "-h").stdout
    assert "Usage: uhs send [OPTIONS] FILE" in send
    assert "--to EMAIL" in send and "--expires-days DAYS" in send
    assert re.search(r"--without-patient\s+Do not let the patient", send)  # a flag takes no value
    assert "Usage: uhs keys verify [OPTIONS] [EMAIL]" in _run(UHS, "keys", "verify", "-h").stdout
    assert DEFAULT_SERVER in _run(UHS, "register", "-h").stdout


def test_version():
    for program in (UHS, UHS_SERVER):
        shown = _run(program, "--version")
        assert shown.returncode == 0 and shown.stdout.strip() == f"uhealthsec {__version__}"
    assert _run(UHS, "version").stdout.strip() == f"uhealthsec {__version__}"


def test_every_option_and_argument_is_explained():
    unexplained = [
        (app_name, *path, param.name)
        for app_name, app in (("uhs", client_app), ("uhs-server", server_app))
        for path in _commands(app)
        for param in _command_at(app, path).params
        if not getattr(param, "help", None)
    ]
    assert unexplained == []


def _command_at(app: typer.Typer, path: list[str]):
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


HELP_ONLY = """
import sys
from uhealthsec.client.cli import app
try:
    app(["--help"])
except SystemExit:
    pass
heavy = ("rich", "httpx2", "pydantic", "cryptography", "fhir", "keyring", "zxcvbn",
         "uhealthsec.client.api", "uhealthsec.client.exchange", "uhealthsec.crypto")
loaded = sorted(m for m in sys.modules if m.startswith(heavy))
print(",".join(loaded), file=sys.stderr)
sys.exit(1 if loaded else 0)
"""


def test_help_loads_neither_the_sdk_nor_rich():
    """What makes ``uhs --help`` quick (benchmarks/cli_help.py): the commands import
    the SDK, rich and httpx2 when they run, not when help is printed."""
    done = _run([sys.executable, "-c", HELP_ONLY])
    assert done.returncode == 0, f"loaded for help: {done.stderr}"


def test_a_code_that_begins_with_a_dash_is_the_code_not_an_option(tmp_path):
    """Codes are base64url: one in 64 begins with "-"."""
    done = subprocess.run(
        [
            *UHS,
            "verify-email",
            "-RXcode",
            "--email",
            "a@example.org",
            "--server",
            "http://127.0.0.1:9",
        ],
        input="a password\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **ENV_COLUMNS, "UHS_CONFIG_DIR": str(tmp_path)},
    )
    # Past the parsing, to the password and then the (absent) server.
    assert done.returncode == 1 and "cannot reach the server" in done.stderr, done.stdout


def test_completion_is_a_command_that_prints_a_script_the_program_then_answers():
    helped = _run(UHS, "--help")
    assert "--install-completion" not in helped.stdout and "completion" in helped.stdout
    script = _run(UHS, "completion", "bash")
    assert script.returncode == 0 and "_UHS_COMPLETE=complete_bash" in script.stdout
    asked = subprocess.run(
        UHS,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            **os.environ,
            "_UHS_COMPLETE": "complete_bash",
            "COMP_WORDS": "uhs keys ",
            "COMP_CWORD": "2",
        },
    )
    assert asked.returncode == 0 and asked.stdout.split() == ["verify", "rotate", "rewrap", "audit"]
    refused = _run(UHS, "completion", "tcsh")
    assert refused.returncode == 2 and "bash, zsh, fish" in refused.stderr
    assert "_UHS_SERVER_COMPLETE" in _run(UHS_SERVER, "completion", "zsh").stdout
