"""The crypto core stays pure: no I/O, no network, no server or client imports."""

import ast
from pathlib import Path

import uhealthsec.crypto

CRYPTO = Path(uhealthsec.crypto.__file__).parent
FORBIDDEN_MODULES = {
    "os",
    "socket",
    "http",
    "urllib",
    "subprocess",
    "pathlib",
    "logging",
    "fastapi",
    "starlette",
    "sqlalchemy",
    "httpx",
    "httpx2",
    "uhealthsec.server",
    "uhealthsec.client",
}
FORBIDDEN_CALLS = {"open", "print", "input"}


def _imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_crypto_modules_import_nothing_forbidden():
    for path in CRYPTO.glob("*.py"):
        tree = ast.parse(path.read_text())
        for name in _imports(tree):
            root = name.split(".")[0]
            assert root not in FORBIDDEN_MODULES and not any(
                name.startswith(m) for m in FORBIDDEN_MODULES if "." in m
            ), f"{path.name} imports {name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in FORBIDDEN_CALLS, f"{path.name} calls {node.func.id}"


def test_randomness_comes_from_secrets_only():
    for path in CRYPTO.glob("*.py"):
        names = set(_imports(ast.parse(path.read_text())))
        assert "random" not in names, f"{path.name} imports random"
