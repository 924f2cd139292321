"""The application factory."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

from uhealthsec import __version__
from uhealthsec.server import problems


class Health(BaseModel):
    status: str
    version: str


def create_app() -> FastAPI:
    app = FastAPI(
        title="U-HealthSec",
        version=__version__,
        description="End-to-end encrypted document exchange for health practitioners.",
    )
    problems.install(app)

    @app.get("/health", response_model=Health, tags=["operations"])
    def health() -> Health:
        """Liveness: the process is up and serving."""
        return Health(status="ok", version=__version__)

    return app
