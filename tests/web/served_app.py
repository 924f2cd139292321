"""The server as ``uhs-server serve`` composes it (create_app), in this process, with the
web application built by ``npm run build`` served from a directory of the test's
choosing: the one built into the package, or a copy a test may change."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.server_fixtures import make_settings
from tests.serving import ServerThread
from tests.web.builds import ensure_web_build
from uhealthsec.server import web_app
from uhealthsec.server.app import build_context, create_app


def build_shipped_app() -> None:
    """``npm run build``: the application as shipped, into the server package, unless
    it is up to date."""
    ensure_web_build("shipped")


@contextmanager
def served_app(
    home: Path, sqlite_template: Path, assets: Path = web_app.WEB_ASSETS
) -> Iterator[str]:
    """The whole server on a fresh SQLite database under ``home``, serving the web
    application from ``assets``; yields its address."""
    database = home / "server.db"
    shutil.copy(sqlite_template, database)
    settings = make_settings(home, f"sqlite:///{database}")
    ctx = build_context(settings, migrate_schema=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(web_app, "WEB_ASSETS", assets)
        app = create_app(ctx=ctx)
    serving = ServerThread(app, settings).start()
    try:
        yield serving.url
    finally:
        serving.stop()
        ctx.close()
