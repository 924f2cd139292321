"""The baseline of ``benchmarks/api.py http``: FastAPI with nothing of U-HealthSec, the
same three paths answering constant JSON, served by uvicorn as the API is.

    uvicorn bare_api:create --factory --app-dir benchmarks --workers N
"""

from __future__ import annotations

from fastapi import FastAPI, Request

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
