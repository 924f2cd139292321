"""The layers, read from the source (every import, module level or inside a function):
crypto/ imports nothing else of ours and protocol/ only crypto/, the client never
imports the server, the server's infrastructure and shield import no domain, no routes
module imports another package's routes, the server's domain packages import each
other in one direction only (the order is in server/wiring.py), and no domain imports
a flow."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "uhealthsec"
SERVER = PACKAGE / "server"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    """Every module a file imports, relative imports resolved; ``from a import b``
    yields ``a`` and ``a.b`` (``b`` may be a module)."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def _ours(folder: Path) -> Iterator[tuple[str, str]]:
    """(importing module, imported module of ours) for every import under ``folder``."""
    for path in sorted(folder.rglob("*.py")):
        for name in _imports(path):
            if name == "uhealthsec" or name.startswith("uhealthsec."):
                yield _module_name(path), name


def _inside(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_crypto_imports_nothing_else_of_ours_and_protocol_only_crypto():
    for layer, allowed in (("crypto", ("crypto",)), ("protocol", ("protocol", "crypto"))):
        outside = {
            (module, name)
            for module, name in _ours(PACKAGE / layer)
            if not any(_inside(name, f"uhealthsec.{a}") for a in allowed)
        }
        assert outside == set(), f"{layer}/ imports outside its layer: {sorted(outside)}"


def test_the_client_never_imports_the_server():
    crossing = {
        (module, name)
        for module, name in _ours(PACKAGE / "client")
        if _inside(name, "uhealthsec.server")
    }
    assert crossing == set()


def _domain(module: str) -> str | None:
    parts = module.split(".")
    in_server = len(parts) > 2 and parts[:2] == ["uhealthsec", "server"]
    return parts[2] if in_server and (SERVER / parts[2] / "__init__.py").exists() else None


def _domain_imports() -> dict[str, set[str]]:
    arrows: dict[str, set[str]] = {}
    for module, name in _ours(SERVER):
        source, target = _domain(module), _domain(name)
        if source is None or target in (None, source):
            continue
        arrows.setdefault(source, set()).add(target)
    return arrows


def _tangles(arrows: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one package (Tarjan)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        for nxt in arrows.get(node, ()):
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(arrows):
        if node not in order:
            visit(node)
    return found


def test_domain_packages_import_each_other_one_way():
    arrows = _domain_imports()
    tangled = sorted(
        (source, target)
        for component in _tangles(arrows)
        for source in component
        for target in arrows.get(source, ())
        if target in component
    )
    assert tangled == [], f"imports closing a loop between domains: {tangled}"


def test_no_domain_imports_a_flow():
    """A flow reads several domains and implements what a lower one asks
    (its interfaces.py), registered by server/wiring.py; a domain importing it
    would close a loop through it."""
    importers = {source for source, targets in _domain_imports().items() if "flows" in targets}
    assert importers == set()


def test_the_tangle_finder_sees_a_loop_and_only_a_loop():
    assert _tangles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert _tangles({"a": {"b"}, "b": set()}) == []


def test_infrastructure_and_the_shield_import_no_domain():
    arrows = _domain_imports()
    for package in ("storage", "security", "journaling", "shield"):
        assert arrows.get(package, set()) <= {"storage"}, package


def test_no_routes_module_imports_another_packages_routes():
    """What several packages' routes share lives beside them (shield/http.py,
    auth/http.py), not in another package's routes; only the application wires routes."""
    offending = sorted(
        (module, name)
        for module, name in _ours(SERVER)
        if module.endswith(".routes")
        and name.endswith(".routes")
        and _domain(name) != _domain(module)
    )
    assert offending == []
