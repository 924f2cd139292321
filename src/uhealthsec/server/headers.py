"""Security headers on every response (pure ASGI middleware, outermost, so that even
a refusal made before the application runs carries them)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from uhealthsec.server.api_docs import DOCS_PATH
from uhealthsec.server.web_app import APP_PATH

#: The API answers JSON and files that no browser should run, style or frame.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: The documentation page runs Swagger UI's scripts from this origin only.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
#: The web application runs its own scripts and crypto worker only; hash-wasm's Argon2id
#: needs WebAssembly compilation. Trusted Types: no string reaches a script sink
#: (innerHTML, a worker's URL...) but through the page's one policy, "default", which
#: lets only the app's own files start a worker (web/src/main.ts).
APP_POLICY = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
    # A decrypted image is shown from a blob: URL the page made itself.
    "img-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; "
    "require-trusted-types-for 'script'; trusted-types default"
)


def policy_for(path: str) -> str:
    if path == DOCS_PATH:
        return DOCS_POLICY
    if path == APP_PATH or path.startswith(APP_PATH + "/"):
        return APP_POLICY
    return API_POLICY


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = policy_for(scope.get("path", ""))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = policy
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Frame-Options"] = "DENY"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                headers.setdefault("Cache-Control", "no-store")
                if self.hsts:
                    headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
                if "server" in headers:
                    del headers["server"]
            await send(message)

        await self.app(scope, receive, with_headers)
