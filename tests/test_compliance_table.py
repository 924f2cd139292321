"""The README's compliance table names every rule of the requirements, and every test it
names exists and cites its rule (in its name or docstring): text only, no server."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The rules of the requirements (kept outside the repository, so listed here).
RULES = [f"R{n}" for n in range(1, 29)] + ["R11b"]
STATUSES = {"met", "partly met", "not met"}
_TEST = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _rows() -> dict[str, list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "\n## Compliance\n" in text, "the README has no Compliance section"
    section = text.split("\n## Compliance\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rule = re.match(r"(R\d+b?) ", cells[0] + " ") if line.startswith("|") else None
        if rule:
            assert rule[1] not in rows, f"{rule[1]} is in the table twice"
            assert len(cells) == 5, f"{rule[1]}: {len(cells)} columns, not 5"
            rows[rule[1]] = cells
    return rows


def _defined_tests(path: Path) -> dict[str, str]:
    """Each test function of a file, with its docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name: ast.get_docstring(node) or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


def test_every_rule_has_one_row_with_a_status():
    rows = _rows()
    missing, unknown = set(RULES) - set(rows), set(rows) - set(RULES)
    assert not missing, f"rules missing from the table: {sorted(missing)}"
    assert not unknown, f"rows for no rule of the requirements: {sorted(unknown)}"
    for rule, (_, status, _, shown_by, what_is_missing) in rows.items():
        assert status in STATUSES, f"{rule}: unknown status {status!r}"
        if status == "met":
            assert _TEST.search(shown_by), f"{rule} is met but no test shows it"
        else:
            assert what_is_missing, f"{rule} is {status} but says nothing of what is missing"


def test_every_named_test_is_defined_in_its_file_and_cites_its_rule():
    named = [(rule, *found) for rule, cells in _rows().items() for found in _TEST.findall(cells[3])]
    assert named
    for rule, file, function in named:
        path = ROOT / file
        assert path.is_file(), f"{file} does not exist"
        tests = _defined_tests(path)
        assert function in tests, f"{file} defines no {function}"
        cited = re.search(rf"\b{rule}\b", tests[function]) or function.startswith(
            f"test_{rule.lower()}_"
        )
        assert cited, f"{file}::{function} does not cite {rule} in its name or docstring"
