"""Fixtures of the terminal tests: the demo practice and its people signed in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.demo import login
from tests.server_fixtures import DATABASES, fresh_database
from uhealthsec.server.demo import ensure_demo_practice

#: The terminal's tests show what the terminal does, over HTTP: they run on one database,
#: PostgreSQL (production's) where the run has it. The server's rules behind each
#: command are tested on both (tests/server).
TERMINAL_DATABASE = "postgresql" if "postgresql" in DATABASES else DATABASES[0]


@pytest.fixture(params=[TERMINAL_DATABASE])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request, request.param, tmp_path) as url:
        yield url


@pytest.fixture
def demo(ctx):
    people = ensure_demo_practice(ctx)
    assert ensure_demo_practice(ctx) == people  # once only; secrets shown again
    return {p.email.split("@")[0]: p for p in people}


@pytest.fixture
def signed_in(demo, live_server, clock, tmp_path):
    """Profiles of Dr Martin and Paul Durand, each signed in on their own "device"."""
    martin, durand = tmp_path / "martin", tmp_path / "durand"
    login(demo["dr.martin"], martin, live_server, clock)
    login(demo["kine.durand"], durand, live_server, clock)
    return martin, durand
