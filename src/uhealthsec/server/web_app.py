"""The web application's files (built by ``npm run build --prefix web`` into
``web_assets/``, shipped in the wheel) served at ``/app/``.

Every file under ``assets/`` is named by the hash of its content, so it is cached for
a year and never revalidated; ``index.html``, which names them, is revalidated on
each visit so that a new release is picked up at once. The page's content security
policy is set with the others in headers.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

APP_PATH = "/app"
WEB_ASSETS = Path(__file__).parent / "web_assets"
HASHED_ASSETS = "assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

log = logging.getLogger(__name__)


class WebAssets(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            hashed = path.replace("\\", "/").startswith(HASHED_ASSETS)
            response.headers["Cache-Control"] = IMMUTABLE if hashed else REVALIDATE
        return response


def install(app: FastAPI, directory: Path = WEB_ASSETS) -> None:
    """Serves the built web application, if it was built."""
    if not (directory / "index.html").is_file():
        log.warning(
            "the web application is not built (npm run build --prefix web): %s is not served",
            APP_PATH + "/",
        )
        return
    app.mount(APP_PATH, WebAssets(directory=directory, html=True), name="web-app")
