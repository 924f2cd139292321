"""Fixtures of the browser journeys: one demo server per test module, one Chromium."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.serving import serve_process
from tests.web.builds import ensure_web_build
from tests.web.journeys import (
    CHROMIUM,
    DR_MARTIN,
    PATIENT,
    PAUL_DURAND,
    SCREENS,
    DemoServer,
)


def demo_server_fixture(folder: str, **serving: Any):
    """A fixture of one demo server per test module (``serve_demo``), in a fresh
    directory named after ``folder``; ``serving`` as serve_process takes it."""

    @pytest.fixture(scope="module")
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
        with serve_demo(tmp_path_factory.mktemp(folder), **serving) as served:
            yield served

    return server


#: ``npm run build``, then ``uhs-server serve --init --demo`` on a fresh directory.
demo_server = demo_server_fixture("journeys")


@contextmanager
def serve_demo(home: Path, **serving: Any) -> Iterator[DemoServer]:
    """The demo server in ``home``; ``serving`` as serve_process takes it (its name, settings)."""
    ensure_web_build("shipped")
    with serve_process(home, "--demo", **serving) as (url, output):
        printed = output.read_text()
        assert f"In a browser: {url}/" in printed, printed
        secrets = dict(re.findall(r"(\S+@demo\.test)\b.*?\b([A-Z2-7]{32})\b", printed))
        assert set(secrets) == {DR_MARTIN, PAUL_DURAND, PATIENT}, printed
        yield DemoServer(url, home, secrets)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def screens(tmp_path: Path) -> Path:
    """Where this test's photographs go: docs/screens/ when asked to update them."""
    if os.environ.get("UHS_UPDATE_SCREENS") == "1":
        SCREENS.mkdir(parents=True, exist_ok=True)
        return SCREENS
    return tmp_path
