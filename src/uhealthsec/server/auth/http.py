"""The OAuth endpoints' HTTP translation: a form into authlib's request, authlib's
answer into a response (errors as problem+json). Apart from auth/routes.py so that
federation's routes use it without importing another domain's routes."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from uhealthsec.server.auth.oauth import FormRequest
from uhealthsec.server.deps import Ctx
from uhealthsec.server.problems import PROBLEM_JSON

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_response(status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
    all_headers = dict(headers)
    if status >= 400:
        payload = dict(body) if isinstance(body, dict) else {}
        error = payload.get("error", "invalid_request")
        problem = {
            "type": "about:blank",
            "title": "OAuth error",
            "status": status,
            "detail": payload.get("error_description") or error.replace("_", " "),
            "error": error,
        }
        if "error_description" in payload:
            problem["error_description"] = payload["error_description"]
        all_headers.pop("Content-Type", None)
        return JSONResponse(
            problem, status_code=status, headers=all_headers, media_type=PROBLEM_JSON
        )
    if status == 302:
        return Response(status_code=302, headers=all_headers)
    all_headers.pop("Content-Type", None)
    return JSONResponse(body, status_code=status, headers={**all_headers, **NO_STORE})


def form_request(request: Request, ctx: Ctx, form: dict[str, Any]) -> FormRequest:
    # authlib checks the transport of this URI; the public issuer URL is the truth.
    uri = ctx.settings.issuer.rstrip("/") + request.url.path
    cleaned = {k: str(v) for k, v in form.items() if v is not None}
    return FormRequest("POST", uri, request.headers, cleaned)
