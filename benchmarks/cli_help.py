"""How long ``uhs --help`` takes, as a person waits for it: a whole process each time
(interpreter start, imports, help printed), against ``age --help`` where age is
installed (``apt-get install age``).

    .venv/bin/python benchmarks/cli_help.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from timing import median_seconds

UHS = [str(Path(sys.executable).parent / "uhs")]
#: As on a person's machine: Python keeps the compiled modules (__pycache__), so only
#: the first run compiles them.
ENVIRONMENT = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(command: list[str]) -> None:
    subprocess.run(
        [*command, "--help"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        env=ENVIRONMENT,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    rounds = parser.parse_args().rounds
    run(UHS)  # the first run fills the bytecode cache; a person's second one has it
    ours = median_seconds(lambda: run(UHS), rounds)
    print(f"uhs --help: median of {rounds}: {ours:.3f} s")
    age = shutil.which("age")
    if age is None:
        print("age is not installed: no comparison")
        return
    theirs = median_seconds(lambda: run([age]), rounds)
    print(f"age --help: median of {rounds}: {theirs:.3f} s; uhs takes {ours / theirs:.0f}x")


if __name__ == "__main__":
    main()
