"""The README's walkthrough, run as written: every line of its block typed into a shell,
against a server holding the demo practice, answering the questions a person answers."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pexpect
import pytest

from tests.server_fixtures import oathtool
from uhealthsec.server.demo import DEMO_PASSWORD

REPOSITORY = Path(__file__).resolve().parents[2]
README = REPOSITORY / "README.md"
ONE_DATABASE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
# What the shell prints when it waits for the next line, with the last exit status.
SHELL_PROMPT = r"__status=(\d+)__ "
# The questions `uhs` asks along the way; the last one is the shell's own prompt.
QUESTIONS = [
    r"Password[^:\r\n]*:",
    r"authenticator app[^:\r\n]*:",
    r"Encrypt for them\? \[y/N\]",
    SHELL_PROMPT,
]


def walkthrough_lines() -> list[str]:
    """The command lines of the block under "Try it", continuation lines joined."""
    section = README.read_text(encoding="utf-8").split("### Try it", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines, pending = [], ""
    for line in block.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        lines.append(pending + line)
        pending = ""
    return lines


class Shell:
    """An interactive bash in a pseudo-terminal, typed into line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = pexpect.spawn(
            "bash",
            ["--norc", "--noprofile"],
            env=env,
            encoding="utf-8",
            timeout=60,
            dimensions=(60, 200),
        )
        self.process.expect(SHELL_PROMPT)

    def run(self, line: str, answer) -> tuple[int, str]:
        """Type one line, answer each question with ``answer(question)``; return the
        exit status and everything printed."""
        self.process.sendline(line)
        printed = []
        while True:
            asked = self.process.expect(QUESTIONS)
            printed.append(self.process.before + self.process.after)
            if QUESTIONS[asked] == SHELL_PROMPT:
                return int(self.process.match.group(1)), "".join(printed)
            self.process.sendline(answer(QUESTIONS[asked]))

    def close(self) -> None:
        self.process.sendline("exit")
        self.process.expect(pexpect.EOF)
        self.process.close()


def test_the_lines_are_what_a_person_types():
    lines = walkthrough_lines()
    assert lines[0].startswith("cd ") and "uhs login" in lines[4]
    assert sum("<id>" in line for line in lines) == 3
    assert all("\\" not in line for line in lines)


@ONE_DATABASE
def test_the_readme_walkthrough_runs_as_written(demo, live_server, clock, tmp_path):
    scratch = tmp_path / "uhs-try"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PS1": "__status=$?__ ",
        "NO_COLOR": "1",
        "TERM": "dumb",
        "COLUMNS": "200",
        "BROWSER": "true",  # never open a real browser from a test
    }
    shell = Shell(env)
    signing_in: list[str] = []

    def answer(question: str) -> str:
        if question.startswith("authenticator"):
            return oathtool(demo[signing_in[-1].split("@")[0]].totp_secret, clock.now)
        return "y" if question.startswith("Encrypt") else DEMO_PASSWORD

    document_id = ""
    outputs: dict[str, str] = {}
    try:
        for line in walkthrough_lines():
            typed = line.replace("/tmp/uhs-try", str(scratch))
            typed = typed.replace("http://127.0.0.1:8000", live_server)
            if typed.startswith("cd ") and "uhs-try" not in typed:
                typed = f"cd {REPOSITORY}  # {line}"  # wherever this clone is
            if "<id>" in typed:
                typed = typed.replace("<id>", document_id[:8])
            email = re.search(r"uhs login --email (\S+)", typed)
            if email:
                signing_in.append(email.group(1))
                clock.advance(seconds=30)  # a new code for each sign-in
            status, printed = shell.run(typed, answer)
            assert status == 0, f"{line}\n{printed}"
            outputs[line] = printed
            if line.endswith("uhs inbox"):
                document_id = re.search(r"[0-9a-f]{8}-[0-9a-f-]{27}", printed).group(0)
    finally:
        shell.close()

    sent = (scratch / "prescription.txt").read_text(encoding="utf-8")
    assert (scratch / "received.txt").read_text(encoding="utf-8") == sent
    assert "Prescription de rééducation" in next(v for k, v in outputs.items() if "inbox" in k)
    # Both screens show the same number for the pair.
    numbers = [
        re.findall(r"^\s+((?:\d{5} ){5}\d{5})\s*$", printed, re.M)
        for line, printed in outputs.items()
        if "keys verify" in line
    ]
    assert len(numbers) == 2 and numbers[0] == numbers[1] and len(numbers[0]) == 2
    assert "can no longer read it" in " ".join(
        outputs[line] for line in outputs if "revoke" in line
    )
