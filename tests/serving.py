"""Serving an ASGI application on loopback from a thread, for tests that need real HTTP."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import uvicorn

from uhealthsec.server.listener import uvicorn_config
from uhealthsec.server.settings import Settings

#: ``uhs-server``, as its entry point runs it (the installed script may predate it).
UHS_SERVER = [sys.executable, "-m", "uhealthsec.server.cli"]


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
