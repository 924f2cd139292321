"""Fixtures of the browser journeys: one demo server per test module, one Chromium."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.serving import UHS_SERVER
from tests.web.builds import ensure_web_build
from tests.web.journeys import (
    CHROMIUM,
    DR_MARTIN,
    PATIENT,
    PAUL_DURAND,
    ROOT,
    SCREENS,
    DemoServer,
    free_port,
)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """``npm run build``, then ``uhs-server serve --init --demo`` on a fresh directory."""
    ensure_web_build("shipped")
    home = tmp_path_factory.mktemp("journeys")
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("UHS_")}
    environment.update(PYTHONPATH=str(ROOT / "src"), COLUMNS="200")
    output = home / "serve.log"
    with output.open("w") as log:
        process = subprocess.Popen(
            [*UHS_SERVER, "serve", "--init", "--demo", "--port", str(port)],
            cwd=home,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx2.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, "uhs-server serve did not answer"
            time.sleep(0.2)
        printed = output.read_text()
        assert f"In a browser: {url}/" in printed, printed
        secrets = dict(re.findall(r"(\S+@demo\.test)\b.*?\b([A-Z2-7]{32})\b", printed))
        assert set(secrets) == {DR_MARTIN, PAUL_DURAND, PATIENT}, printed
        yield DemoServer(url, home, secrets)
    finally:
        process.terminate()
        process.wait(timeout=20)


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
