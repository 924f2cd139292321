"""Running ``uhs`` in a pseudo-terminal, as a person would: prompts, hidden input, QR."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pexpect

UHS = str(Path(sys.executable).parent / "uhs")


def as_from_a_terminal() -> None:
    """Ctrl-C interrupts, as in a person's terminal: a pytest-xdist worker ignores
    SIGINT, and a program started with a signal ignored keeps it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn_uhs(args: list[str], config_dir: Path, server: str) -> pexpect.spawn:
    env = {
        **os.environ,
        "UHS_CONFIG_DIR": str(config_dir),
        "UHS_SERVER": server,
        "NO_COLOR": "1",
        "TERM": "dumb",
        "COLUMNS": "200",
        # Never open a real browser from a test.
        "BROWSER": "true",
    }
    return pexpect.spawn(
        UHS,
        args,
        env=env,
        encoding="utf-8",
        # A guard against a hang, not a speed check: a loaded machine may take long.
        timeout=90,
        dimensions=(60, 200),
        preexec_fn=as_from_a_terminal,
    )


def finished(process: pexpect.spawn) -> tuple[int, str]:
    """Wait for the end; return the exit status and what was printed since the last match."""
    process.expect(pexpect.EOF)
    process.close()
    return process.exitstatus, process.before
