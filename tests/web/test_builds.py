"""The helper through which tests get the web builds: a build is made again only when
its inputs or its outputs changed, and two processes asking at once build it once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.web import builds

#: Two processes asking for the same build at once, each printing whether it built.
_RACE = """
import subprocess, sys
from pathlib import Path
from tests.web import builds
builds._LOCK = Path(sys.argv[1]) / "lock"
builds._STAMPS = Path(sys.argv[1]) / "stamps"
builds.BUILDS = {"fake": builds.WebBuild("fake", Path(sys.argv[1]) / "out")}
def npm_run(command, **options):
    import time
    time.sleep(0.5)  # long enough for the other process to be waiting on the lock
    (Path(sys.argv[1]) / "out").mkdir(exist_ok=True)
    (Path(sys.argv[1]) / "out" / "built.js").write_text("built")
    print("built", flush=True)
builds.subprocess.run = npm_run
builds.ensure_web_build("fake")
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A build "fake" into tmp_path/out; the scripts npm was asked to run."""
    ran: list[str] = []

    def npm_run(command: list[str], **options: object) -> None:
        ran.append(command[3])
        (tmp_path / "out").mkdir(exist_ok=True)
        (tmp_path / "out" / "built.js").write_text(f"build {len(ran)}")

    monkeypatch.setattr(builds, "_LOCK", tmp_path / "lock")
    monkeypatch.setattr(builds, "_STAMPS", tmp_path / "stamps")
    monkeypatch.setattr(builds, "BUILDS", {"fake": builds.WebBuild("fake", tmp_path / "out")})
    monkeypatch.setattr(builds.subprocess, "run", npm_run)
    return ran


def test_a_build_is_made_once_until_its_outputs_change(fake: list[str], tmp_path: Path) -> None:
    assert builds.ensure_web_build("fake") == tmp_path / "out"
    assert builds.ensure_web_build("fake") == tmp_path / "out"
    assert fake == ["fake"]
    (tmp_path / "out" / "built.js").write_text("changed by hand")
    builds.ensure_web_build("fake")
    assert fake == ["fake", "fake"]
    (tmp_path / "out" / "built.js").unlink()
    builds.ensure_web_build("fake")
    assert fake == ["fake", "fake", "fake"]


def test_a_build_is_made_again_when_its_inputs_change(
    fake: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hashes = iter(["first", "first", "second"])
    monkeypatch.setattr(builds, "_inputs_hash", lambda: next(hashes))
    builds.ensure_web_build("fake")
    builds.ensure_web_build("fake")
    assert fake == ["fake"]
    builds.ensure_web_build("fake")
    assert fake == ["fake", "fake"]


def test_two_processes_asking_at_once_build_once(tmp_path: Path) -> None:
    root = Path(builds.__file__).resolve().parents[2]
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE, str(tmp_path)],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    printed = [racer.communicate(timeout=60)[0] for racer in racers]
    assert all(racer.returncode == 0 for racer in racers)
    assert sorted(printed) == ["", "built\n"]
