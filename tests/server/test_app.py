from fastapi.testclient import TestClient

from uhealthsec import __version__
from uhealthsec.server.app import create_app


def test_health():
    response = TestClient(create_app()).get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


def test_unknown_route_is_a_problem_document():
    response = TestClient(create_app()).get("/no-such-route")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_wrong_method_is_a_problem_document():
    response = TestClient(create_app()).post("/health")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"


def test_openapi_document_is_served():
    assert TestClient(create_app()).get("/openapi.json").json()["info"]["title"] == "U-HealthSec"
