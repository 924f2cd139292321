"""Serving an ASGI application on loopback from a thread, for tests that need real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import uvicorn

from uhealthsec.server.listener import uvicorn_config
from uhealthsec.server.settings import Settings

#: ``uhs-server``, as its entry point runs it (the installed script may predate it).
UHS_SERVER = [sys.executable, "-m", "uhealthsec.server.cli"]
SOURCES = Path(__file__).resolve().parents[1] / "src"
#: Requests of a test to a server it started. Three test processes share two cores with
#: browsers and PostgreSQL: a process can be held for seconds, and httpx's default of
#: 5 s then fails a test that asserts answers, not speed (none asserts timings).
HTTP_TIMEOUT = httpx2.Timeout(60.0)


def run_worker(settings: Settings, *args: str) -> str:
    """`uhs-server worker ARGS` as the operator runs it, on the test server's database and
    files; what it printed, on one line. Fails the test when it exits with an error."""
    env = {
        **os.environ,
        "UHS_DATA_DIR": str(settings.data_dir),
        "UHS_DATABASE_URL": settings.database_url.get_secret_value(),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    done = subprocess.run(
        [*UHS_SERVER, "worker", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return " ".join(done.stdout.split())


def free_port() -> int:
    """A port free now, for a server in another process that must be told its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve_process(
    home: Path,
    *arguments: str,
    command: Sequence[str] = UHS_SERVER,
    timeout: float = 90,
    host_name: str = "127.0.0.1",
    settings: Callable[[str], dict[str, str]] | None = None,
) -> Iterator[tuple[str, Path]]:
    """``uhs-server serve --init --port P *arguments`` in its own process, in ``home``,
    with none of the caller's UHS_ settings but those ``settings`` gives for its
    address, until it answers /health: its address and the file holding what it
    printed. Stopped on leaving. Reached as ``host_name`` ("localhost": passkeys need
    a name, not an address) when it is given as its public URL."""
    port = free_port()
    url = f"http://{host_name}:{port}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("UHS_")}
    environment.update(PYTHONPATH=str(SOURCES), COLUMNS="200")
    environment.update(settings(url) if settings else {})
    public = ["--public-url", url] if host_name != "127.0.0.1" else []
    output = home / "serve.log"
    with output.open("w") as log:
        process = subprocess.Popen(
            [*command, "serve", "--init", "--port", str(port), *public, *arguments],
            cwd=home,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, "uhs-server serve did not answer"
            time.sleep(0.2)
        yield url, output
    finally:
        process.terminate()
        process.wait(timeout=30)


class ServerThread:
    """Binds 127.0.0.1 on a free port (chosen by the kernel: no race) and serves."""

    def __init__(self, app: Any, settings: Settings | None = None, port: int = 0) -> None:
        # With settings, as `uhs-server serve` serves the API (server/listener.py). A
        # given port is for a server whose issuer names it (its OAuth redirects).
        config = (
            uvicorn_config(app, host="127.0.0.1", port=port, settings=settings, log_level="warning")
            if settings is not None
            else uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        self.port = int(self.server.servers[0].sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
