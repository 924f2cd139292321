"""Every module stays one a reader can live in: radon's maintainability index ranks it
A or B (C is below 10 of 100: a module to split, as the CLI once was), and the
client's modules stay under 500 lines (a longer one mixes what a reader wants apart)."""

from __future__ import annotations

from pathlib import Path

import pytest
from radon.metrics import mi_rank, mi_visit

SOURCE = Path(__file__).resolve().parent.parent / "src"
CLIENT = SOURCE / "uhealthsec" / "client"
MODULES = sorted(SOURCE.rglob("*.py"))
MAX_CLIENT_LINES = 500


def test_the_source_is_found():
    assert len(MODULES) > 100
    assert any(module.is_relative_to(CLIENT / "cli") for module in MODULES)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: str(m.relative_to(SOURCE)))
def test_maintainability_ranks_a_or_b(module: Path):
    # multi=True counts docstrings and comments as radon's command line does.
    index = mi_visit(module.read_text(encoding="utf-8"), multi=True)
    assert mi_rank(index) in ("A", "B"), f"{module}: maintainability index {index:.1f}"


def test_no_client_module_is_over_500_lines():
    long = {
        str(module.relative_to(SOURCE)): lines
        for module in MODULES
        if module.is_relative_to(CLIENT)
        and (lines := len(module.read_text(encoding="utf-8").splitlines())) > MAX_CLIENT_LINES
    }
    assert long == {}


def test_a_module_of_tangled_branches_ranks_c():
    """The rank checked above does refuse what it is meant to."""
    branches = "\n".join(
        f"def f{n}(a, b, c):\n"
        + "".join(
            f"    if a > {k} and b < {k} or c == {k}:\n        a = b * {k} + c\n" for k in range(40)
        )
        + "    return a\n"
        for n in range(20)
    )
    assert mi_rank(mi_visit(branches, multi=True)) == "C"
