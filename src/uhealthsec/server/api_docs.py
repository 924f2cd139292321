"""The interactive API documentation (Swagger UI), served from this server alone.

A health-data server must not run a script fetched from a third party: Swagger UI's
files come from the ``fastapi-offline`` package (pinned in pyproject.toml), the page
and its start script from this package, and the page's Content-Security-Policy
(server/headers.py) allows scripts from this origin only. ``UHS_API_DOCS=false`` turns
off ``/docs`` and ``/openapi.json`` in production.
"""

from __future__ import annotations

import functools
from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter, FastAPI
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


@functools.cache
def _files() -> tuple[tuple[bytes, str], dict[str, tuple[bytes, str]]]:
    """The page, and its assets by name: read once per process (Swagger UI's bundle is
    over a megabyte)."""
    vendored = resources.files("fastapi_offline") / "static"
    ours = resources.files("uhealthsec.server") / "static"
    assets = {
        "swagger-ui-bundle.js": _read(vendored, "swagger-ui-bundle.js"),
        "swagger-ui.css": _read(vendored, "swagger-ui.css"),
        "favicon.png": _read(vendored, "favicon.png"),
        "swagger-init.js": _read(ours, "swagger-init.js"),
    }
    return _read(ours, "docs.html"), assets


# Module functions, not closures over what install read: FastAPI keeps the endpoints it
# classified in process-wide caches, which would keep each application's copy (see
# operations_router in app.py).
_router = APIRouter(include_in_schema=False)


@_router.get(DOCS_PATH)
def docs() -> Response:
    page, page_type = _files()[0]
    return Response(page, media_type=page_type)


@_router.get(ASSETS_PATH)
def docs_asset(asset: str) -> Response:
    assets = _files()[1]
    if asset not in assets:
        raise NotFound("no such documentation file")
    data, media_type = assets[asset]
    return Response(data, media_type=media_type, headers={"Cache-Control": "max-age=3600"})


def install(app: FastAPI) -> None:
    """Add ``/docs`` and its assets (the application's ``docs_url`` must be None)."""
    _files()  # a missing file fails the start, not a later request
    app.include_router(_router)
