"""What the fault-injection tests check of an answer: the problem a failure of the
database or the store gets, and the connection that carried it."""

from __future__ import annotations

import httpx2


def local_port(response: httpx2.Response) -> int:
    """The client's end of the connection that carried ``response``: the same port
    before and after a failure shows the connection was kept."""
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


def assert_unavailable(response: httpx2.Response, what: str) -> None:
    """A 503 problem naming ``what`` failed ("database", "document store")."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "2"
    body = response.json()
    assert (body["status"], body["title"]) == (503, "Service temporarily unavailable")
    assert what in body["detail"]
