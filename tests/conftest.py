import json
from pathlib import Path
from typing import Any

from uhealthsec.client.logs import LogPin, log_key
from uhealthsec.crypto.checkpoint import Checkpoint

VECTORS = Path(__file__).parent / "vectors"


def load_vectors(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


#: The running server, its database on SQLite and PostgreSQL, and signed-in users, for
#: the server's tests and the client's end-to-end tests alike.
pytest_plugins = ["tests.server_fixtures", "tests.s3"]


def served_checkpoint(body: dict[str, Any], log: str = "journal") -> Checkpoint:
    """The checkpoint of a ``GET /<log>/head`` answer, verified with the key served
    with it (what a device does at first use)."""
    key = log_key(body["log_key"], LogPin(), log, f"the {log} log")
    return key.open(body["checkpoint"], f"the {log} log")
