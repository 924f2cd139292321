"""The web application's files (built by ``npm run build --prefix web`` into
``web_assets/``, shipped in the wheel) served at ``/app/``; the site's root redirects
there, so that opening the server's address opens the application, while every API
path stays where it is.

Every file under ``assets/`` is named by the hash of its content, so it is cached for
a year and never revalidated; ``index.html``, which names them, is revalidated on
each visit so that a new release is picked up at once; a 304 carries the same rule,
since it replaces the cached headers (RFC 9111 4.3.4). The page's content security
policy is set with the others in headers.py.
"""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from uhealthsec.server.problems import RETRY_AFTER_SECONDS, problem

APP_PATH = "/app"
WEB_ASSETS = Path(__file__).parent / "web_assets"
HASHED_ASSETS = "assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

log = logging.getLogger(__name__)

# The web app manifest's type (W3C Web Application Manifest), which not every
# system's table of types knows.
mimetypes.add_type("application/manifest+json", ".webmanifest")


class WebAssets(StaticFiles):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette checks the directory once and raises afterwards; a rebuild
        # (Vite's emptyOutDir) removes it under a running server, so each request
        # checks it and is answered as unavailable while it is gone.
        if scope["type"] == "http":
            try:
                await self.check_config()
            except RuntimeError as exc:
                log.warning("%s answered 503: the built files are gone: %s", APP_PATH + "/", exc)
                unavailable = problem(
                    503,
                    "the web application is being rebuilt or was removed: "
                    f"try again in {RETRY_AFTER_SECONDS} seconds",
                    title="Service temporarily unavailable",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                )
                await unavailable(scope, receive, send)
                return
            self.config_checked = True
        await super().__call__(scope, receive, send)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            hashed = path.replace("\\", "/").startswith(HASHED_ASSETS)
            response.headers["Cache-Control"] = IMMUTABLE if hashed else REVALIDATE
        return response


def install(app: FastAPI, directory: Path | None = None) -> None:
    """Serves the built web application (from ``WEB_ASSETS`` unless told), if it was
    built; ``app.state.web_assets`` is then the directory served."""
    directory = directory or WEB_ASSETS
    if not (directory / "index.html").is_file():
        log.warning(
            "the web application is not built (npm run build --prefix web): %s is not served",
            APP_PATH + "/",
        )
        return
    app.mount(APP_PATH, WebAssets(directory=directory, html=True), name="web-app")
    app.state.web_assets = directory

    # Temporary (302): a later release may serve the application at the root itself.
    @app.get("/", include_in_schema=False)
    async def site_root() -> RedirectResponse:
        return RedirectResponse(APP_PATH + "/", status_code=302)

    # Starlette's own slash redirect names the request's Host: a proxy or cache passing
    # it through unchecked would send the next visitors to another origin. A relative
    # Location always means this server.
    @app.get(APP_PATH, include_in_schema=False)
    async def app_without_slash() -> RedirectResponse:
        return RedirectResponse(APP_PATH + "/", status_code=308)
