"""The wire models stay a shared vocabulary: protocol/ imports pydantic, the crypto
core and itself, never the server or the client that both build on it."""

import ast
from pathlib import Path

import uhealthsec.protocol
from tests.crypto.test_layering import _imports

PROTOCOL = Path(uhealthsec.protocol.__file__).parent
ALLOWED_OURS = ("uhealthsec.protocol", "uhealthsec.crypto")


def test_protocol_imports_nothing_of_ours_but_the_crypto_core():
    modules = sorted(PROTOCOL.glob("*.py"))
    assert len(modules) >= 5
    for path in modules:
        for name in _imports(ast.parse(path.read_text())):
            if name.split(".")[0] == "uhealthsec":
                assert name.startswith(ALLOWED_OURS), f"{path.name} imports {name}"
