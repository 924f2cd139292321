"""The interactive API documentation (Swagger UI), served from this server alone.

A health-data server must not run a script fetched from a third party: Swagger UI's
files come from the ``fastapi-offline`` package (pinned in pyproject.toml), the page
and its start script from this package, and the page's Content-Security-Policy
(server/headers.py) allows scripts from this origin only. ``UHS_API_DOCS=false`` turns
off ``/docs`` and ``/openapi.json`` in production.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import FastAPI
from fastapi.responses import Response

from uhealthsec.server.errors import NotFound

DOCS_PATH = "/docs"
ASSETS_PATH = DOCS_PATH + "/{asset}"

_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".html": "text/html; charset=utf-8",
}


def _read(folder: Traversable, name: str) -> tuple[bytes, str]:
    return (folder / name).read_bytes(), _TYPES[name[name.rindex(".") :]]


def install(app: FastAPI) -> None:
    """Add ``/docs`` and its assets (the application's ``docs_url`` must be None)."""
    vendored = resources.files("fastapi_offline") / "static"
    ours = resources.files("uhealthsec.server") / "static"
    assets = {
        "swagger-ui-bundle.js": _read(vendored, "swagger-ui-bundle.js"),
        "swagger-ui.css": _read(vendored, "swagger-ui.css"),
        "favicon.png": _read(vendored, "favicon.png"),
        "swagger-init.js": _read(ours, "swagger-init.js"),
    }
    page, page_type = _read(ours, "docs.html")

    @app.get(DOCS_PATH, include_in_schema=False)
    def docs() -> Response:
        return Response(page, media_type=page_type)

    @app.get(ASSETS_PATH, include_in_schema=False)
    def docs_asset(asset: str) -> Response:
        if asset not in assets:
            raise NotFound("no such documentation file")
        data, media_type = assets[asset]
        return Response(data, media_type=media_type, headers={"Cache-Control": "max-age=3600"})
