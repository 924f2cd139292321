"""The baseline of ``benchmarks/api.py http``: FastAPI with nothing of U-HealthSec, the
same three paths answering constant JSON, served as ``uhs-server serve`` serves the
API (its uvicorn configuration, connections, logging and workers):

    PYTHONPATH=src:benchmarks python -c "import bare_api; bare_api.main()" PORT WORKERS
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from fastapi import FastAPI, Request

from uhealthsec.server.settings import Settings

#: About the size of an account's answer, and of one document of a listing.
ACCOUNT = {"id": "0" * 36, "email": "reader@example.org", "display_name": "Reader"}
DOCUMENT = {"id": "0" * 36, "patient_file_id": "0" * 36, "version": 1, "header": "A" * 104}


def create() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": "0"}

    # Sync, as the API's routes are: answered in the threadpool.
    @app.get("/accounts/me")
    def me(request: Request) -> dict[str, str]:
        return {**ACCOUNT, "authorization": request.headers.get("authorization", "")[:8]}

    @app.get("/documents")
    def documents(limit: int = 50) -> list[dict[str, object]]:
        return [DOCUMENT] * limit

    return app


@dataclass(frozen=True)
class BareApi:
    """What ``uhs-server serve`` hands uvicorn (server/app.py's ServedApi), making the
    bare application instead."""

    settings: Settings

    def __call__(self) -> FastAPI:
        return create()


def main() -> None:
    from uhealthsec.server.cli import _run_api
    from uhealthsec.server.logs import configure_logging

    port, workers = int(sys.argv[1]), int(sys.argv[2])
    settings = Settings(_env_file=None, workers=workers)
    configure_logging(settings.log_format)
    _run_api(BareApi(settings), "127.0.0.1", port)
