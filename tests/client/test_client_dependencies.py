"""The client installs without the server: no module of the SDK or of the ``uhs`` command
line imports the server, nor any package of pyproject's ``server`` extra. Checked in a
fresh interpreter whose importer refuses them, every client module imported and every
command's help built."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import importlib, pkgutil, sys

refused = set(sys.argv[1].split(","))


class RefuseTheServer:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in refused or name.startswith("uhealthsec.server"):
            raise ImportError(f"the client imported {name}")
        return None


sys.meta_path.insert(0, RefuseTheServer())
import uhealthsec.client

for module in pkgutil.walk_packages(uhealthsec.client.__path__, "uhealthsec.client."):
    importlib.import_module(module.name)
from uhealthsec.client.cli import app

for command in ([], ["send"], ["journal", "verify"], ["rights", "ask"]):
    try:
        app([*command, "--help"])
    except SystemExit as done:
        assert done.code == 0, command
"""


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def server_only_imports() -> set[str]:
    """The top-level import names of the distributions of the ``server`` extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    server = {
        _normalised(re.split(r"[\[=<>~ ]", r)[0])
        for r in project["optional-dependencies"]["server"]
    }
    return {
        module
        for module, distributions in packages_distributions().items()
        if any(_normalised(d) in server for d in distributions)
    }


def test_the_server_extra_is_known_to_the_check():
    names = server_only_imports()
    assert {"fastapi", "sqlalchemy", "psycopg", "boto3", "uvicorn", "alembic"} <= names


def test_the_client_imports_nothing_of_the_server_extra():
    refused = sorted(server_only_imports())
    done = subprocess.run(
        [sys.executable, "-c", CHECK, ",".join(refused)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_check_refuses_what_it_should():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CHECK.replace("import uhealthsec.client\n", "import fastapi\n"),
            "fastapi",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0 and "the client imported fastapi" in done.stderr
