"""The project speaks HTTP through httpx2: httpx, which it replaced, may still be
installed as another package's dependency, but none of our modules imports it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_roots(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


def test_no_module_imports_httpx():
    importing = [
        str(path.relative_to(ROOT))
        for folder in ("src", "tests", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        if "httpx" in set(_imported_roots(path))
    ]
    assert importing == []
