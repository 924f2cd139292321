"""Fixtures of the terminal tests: the demo practice and its people signed in."""

from __future__ import annotations

import pytest

from tests.client.demo import login
from uhealthsec.server.demo import ensure_demo_practice


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
