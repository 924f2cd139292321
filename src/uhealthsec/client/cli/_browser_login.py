"""Signing in with an e-CPS: the browser comes back to a loopback port (RFC 8252)."""

from __future__ import annotations

import http.server
import threading
import time
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2

from uhealthsec.client.api import AuthClient
from uhealthsec.client.cli._common import Refused, notices
from uhealthsec.protocol.oauth import CLI_REDIRECT_URI

_BROWSER_WAIT_SECONDS = 300


class _LoopbackCallback(http.server.BaseHTTPRequestHandler):
    """Receives the browser at http://127.0.0.1:PORT/callback (RFC 8252 §7.3)."""

    landed: str | None = None

    def do_GET(self) -> None:
        if not self.path.startswith("/callback?"):
            self.send_error(404)
            return
        type(self).landed = self.path
        page = b"<!doctype html><title>U-HealthSec</title><p>Done: return to your terminal."
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: Any) -> None:
        return None  # the URL carries a one-time code: keep it out of the terminal


def professional_login(http: httpx2.Client, device: str) -> Any:
    """Tokens for this device, from the provider's sign-in in the user's browser."""
    handler = type("Callback", (_LoopbackCallback,), {"landed": None})
    with http_server(handler) as port:
        redirect_uri = CLI_REDIRECT_URI.replace("127.0.0.1", f"127.0.0.1:{port}", 1)
        auth = AuthClient(http, redirect_uri=redirect_uri)
        step = auth.federated_login_url(device_name=device)
        notices.print("Sign in with your e-CPS in the browser. If it does not open, visit:")
        notices.print(step.url, soft_wrap=True)
        webbrowser.open(step.url)
        deadline = time.monotonic() + _BROWSER_WAIT_SECONDS
        with notices.status("Waiting for the browser…"):
            while handler.landed is None:
                if time.monotonic() > deadline:
                    raise Refused("no answer from the browser in 5 minutes")
                time.sleep(0.1)
    return auth.finish_federated_login(step, f"{redirect_uri}?{handler.landed.split('?', 1)[1]}")


@contextmanager
def http_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:

    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
