import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).parent / "vectors"


def load_vectors(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


#: The running server, its database on SQLite and PostgreSQL, and signed-in users, for
#: the server's tests and the client's end-to-end tests alike.
pytest_plugins = ["tests.server_fixtures", "tests.s3"]
