"""Arrows between the server's packages go one way: the infrastructure (storage/,
security/) imports no domain, the shield imports none, and no two domains import each
other except the pairs listed here, which are to be untangled and may only shrink."""

from __future__ import annotations

import ast
from itertools import combinations
from pathlib import Path

import uhealthsec.server

SERVER = Path(uhealthsec.server.__file__).parent

#: Two-way imports still present: each needs a flow of its own or an interface.
KNOWN_CYCLES = {
    # Routes and services fill in the journal's draft; the journal's export names accounts.
    frozenset({"accounts", "audit"}),
    # Registration publishes keys; the directory reads accounts.
    frozenset({"accounts", "keys"}),
    # Records check consent; consent reads and lists records.
    frozenset({"consent", "records"}),
    # The directory's reach rules read threads and documents; both resolve keys.
    frozenset({"keys", "messaging"}),
    frozenset({"keys", "records"}),
    # Records ask retention about a file; retention shreds records.
    frozenset({"records", "retention"}),
}


def _packages() -> list[str]:
    return sorted(p.name for p in SERVER.iterdir() if (p / "__init__.py").is_file())


def _imported_packages(package: str) -> set[str]:
    """The other server packages that modules of ``package`` import, wherever the
    import statement is (inside functions too)."""
    packages = set(_packages())
    found = set()
    for path in (SERVER / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                inside = name.split(".")[2:3] if name.startswith("uhealthsec.server.") else []
                if inside and inside[0] in packages and inside[0] != package:
                    found.add(inside[0])
    return found


def test_the_scan_sees_imports():
    assert "accounts" in _imported_packages("records")
    assert "storage" in _imported_packages("accounts")


def test_infrastructure_and_the_shield_import_no_domain():
    for package in ("storage", "security", "shield"):
        assert _imported_packages(package) <= {"storage"}, package


def test_no_new_two_way_imports_between_packages():
    arrows = {package: _imported_packages(package) for package in _packages()}
    cycles = {
        frozenset({a, b}) for a, b in combinations(arrows, 2) if b in arrows[a] and a in arrows[b]
    }
    new = sorted(sorted(pair) for pair in cycles - KNOWN_CYCLES)
    assert new == [], f"packages that now import each other: {new}"


def test_no_routes_module_imports_another_packages_routes():
    """What several packages' routes share lives beside them (shield/http.py,
    auth/http.py), not in another package's routes; only the application wires routes."""
    offending = []
    for path in SERVER.glob("*/routes.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[-1] == "routes" and parts[2:3] != [path.parent.name]:
                    offending.append(f"{path.parent.name}/routes.py imports {node.module}")
    assert offending == []
