import gc
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests.web.builds import ensure_web_build
from uhealthsec.client.logs import LogPin, log_key
from uhealthsec.crypto.checkpoint import Checkpoint

VECTORS = Path(__file__).parent / "vectors"


def load_vectors(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


# Property tests check results, never speed: on a loaded machine (two test workers,
# browsers) a single example may take longer than Hypothesis' 200 ms default, which
# would fail a correct test.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")

#: The running server, its database on SQLite and PostgreSQL, and signed-in users, for
#: the server's tests and the client's end-to-end tests alike.
pytest_plugins = ["tests.server_fixtures", "tests.s3"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under pytest-xdist, the shipped web build is brought up to date here, in the
    controller, before the workers start: every server that create_app composes reads
    and hashes those files (web_app, web_release), so a rebuild in one worker would
    empty them under a server test in the other."""
    if session.config.pluginmanager.has_plugin("dsession"):
        ensure_web_build("shipped")


def pytest_collection_finish(session: pytest.Session) -> None:
    """What importing and collecting made lives as long as the process: it is left out
    of the full collections, which stop every thread of the process (a test's server
    thread too) for as long as they take (about a third less, measured on tests/server)."""
    gc.collect()
    gc.freeze()


def served_checkpoint(body: dict[str, Any], log: str = "journal") -> Checkpoint:
    """The checkpoint of a ``GET /<log>/head`` answer, verified with the key served
    with it (what a device does at first use)."""
    key = log_key(body["log_key"], LogPin(), log, f"the {log} log")
    return key.open(body["checkpoint"], f"the {log} log")
