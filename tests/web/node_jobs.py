"""Runs jobs through a script of the web client (web/scripts/), compiled once, in one
Node process per batch: the jobs and their results travel as JSON files."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.web.builds import WEB, ensure_web_build

#: (ok, the value, or the error identifier) of one job.
Outcome = tuple[bool, str]
#: Runs a batch of jobs; their outcomes in order.
JobRunner = Callable[[list[dict[str, Any]]], list[Outcome]]


def job_runner(script: str, folder: Path) -> JobRunner:
    """Compile the web client, and return a function running jobs through
    ``web/scripts/<script>.ts`` with its files in ``folder``."""
    node = shutil.which("node")
    assert node, "Node.js 20 is needed for the web client's tests"
    ensure_web_build("compile")

    def run(jobs: list[dict[str, Any]]) -> list[Outcome]:
        jobs_file, results_file = folder / "jobs.json", folder / "results.json"
        jobs_file.write_text(json.dumps(jobs))
        subprocess.run(
            [
                node,
                str(WEB / "build" / "scripts" / f"{script}.js"),
                str(jobs_file),
                str(results_file),
            ],
            check=True,
            timeout=300,
        )
        return [
            (r["ok"], r["value"] if r["ok"] else r["error"])
            for r in json.loads(results_file.read_text())
        ]

    return run
