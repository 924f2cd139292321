import gc
import re
import weakref

from fastapi.testclient import TestClient

from tests.server_fixtures import BASE_URL, make_settings
from uhealthsec import __version__
from uhealthsec.server.app import PUBLIC_ROUTES, build_context, create_app


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


def test_unknown_route_is_a_problem_document(client):
    response = client.get("/no-such-route")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_wrong_method_is_a_problem_document(client):
    response = client.post("/health")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"


def test_openapi_document_is_served(client):
    assert client.get("/openapi.json").json()["info"]["title"] == "U-HealthSec"


def test_oversized_body_is_refused_before_parsing(client):
    response = client.post(
        "/auth/login",
        content=b"{" + b" " * (300 * 1024) + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_malformed_input_is_a_problem_without_the_value(client):
    secret = "not-base64url!!" * 3
    response = client.post("/auth/login", json={"email": "a@b.org", "auth_secret": secret})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert secret not in response.text


def _concrete(path: str) -> str:
    """The path with every parameter filled with a well-formed identifier."""
    return re.sub(r"\{[a-z_]+\}", "00000000-0000-4000-8000-000000000000", path)


def test_every_route_outside_the_public_list_refuses_a_missing_or_bad_token(client):
    """Enumerates the application's routes (its OpenAPI document lists every one):
    nothing outside the public list is reachable without a valid token."""
    paths = client.app.openapi()["paths"]
    operations = [
        (method.upper(), path)
        for path, item in paths.items()
        for method in item
        if path not in PUBLIC_ROUTES
    ]
    assert len(operations) >= 15
    assert not set(PUBLIC_ROUTES) - set(paths) - {"/openapi.json", "/docs", "/docs/{asset}"}
    for method, path in operations:
        url = _concrete(path)
        assert "{" not in url
        for headers in (
            {},
            {"Authorization": "Bearer v4.local.AAAA"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
        ):
            response = client.request(method, url, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["content-type"] == "application/problem+json"
    # Public routes are sign-in and discovery only, nothing under a signed-in prefix.
    assert not any(p.startswith(("/practices", "/accounts/me")) for p in PUBLIC_ROUTES)


def test_professional_sign_in_is_absent_until_a_provider_is_configured(client):
    response = client.get("/auth/federated/authorize", params={"client_id": "uhs-cli"})
    assert response.status_code == 422
    response = client.get(
        "/auth/federated/authorize",
        params={
            "response_type": "code",
            "client_id": "uhs-cli",
            "redirect_uri": "http://127.0.0.1/callback",
            "code_challenge": "A" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert response.status_code == 404
    assert "not configured" in response.json()["detail"]


def test_an_application_once_dropped_keeps_nothing_of_its_context(tmp_path, database_url):
    """FastAPI keeps every endpoint it has classified in process-wide caches (thousands
    of entries): an endpoint closing over its application's context would keep each
    context a process made, engine and keys included (a test process makes hundreds)."""
    ctx = build_context(make_settings(tmp_path, database_url), migrate_schema=False)
    with TestClient(create_app(ctx=ctx), base_url=BASE_URL) as client:
        for path in ("/health", "/ready", "/docs", "/docs/swagger-init.js", "/app"):
            assert client.get(path, follow_redirects=False).status_code < 400, path
    ctx.close()
    dropped = weakref.ref(ctx)
    del ctx, client
    gc.collect()
    assert dropped() is None
