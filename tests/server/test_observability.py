"""GET /metrics (request latency and statuses by route, the journal's batches) and
GET /ready (the database and the blob store answer)."""

from __future__ import annotations

import re
import shutil
import uuid

import pytest

from tests.server.scrape import OPERATOR, open_metrics, scrape, value


@pytest.fixture(autouse=True)
def _metrics_token(ctx) -> None:
    open_metrics(ctx)


def test_requests_are_counted_by_route_template_never_by_the_path_asked(client, users):
    user = users.signed_in("metrics@example.test")
    bearer = {"Authorization": f"Bearer {user.tokens.access_token}"}
    before = scrape(client)
    document = uuid.uuid4()
    assert client.get(f"/documents/{document}", headers=bearer).status_code == 404
    assert client.get("/accounts/me", headers=bearer).status_code == 200
    assert client.get("/no-such-page/camille.petit@example.test").status_code == 404
    after = scrape(client)
    route = {"method": "GET", "route": "/documents/{document_id}"}
    assert (
        value(after, "uhs_http_responses_total", **route, status="404")
        - value(before, "uhs_http_responses_total", **route, status="404")
        == 1
    )
    me = {"method": "GET", "route": "/accounts/me"}
    assert value(after, "uhs_http_request_duration_seconds_count", **me) == (
        value(before, "uhs_http_request_duration_seconds_count", **me) + 1
    )
    assert value(after, "uhs_http_responses_total", method="any", route="unmatched", status="404")
    text = client.get("/metrics", headers=OPERATOR).text
    # Neither the id nor the address asked for reaches the metrics.
    assert str(document) not in text and "camille" not in text
    assert not re.search(r'route="/no-such-page', text)


def test_the_journals_batches_and_queue_are_measured(client, users):
    before = scrape(client)
    users.signed_in("journaled@example.test")  # several journaled requests
    after = scrape(client)
    batches = value(after, "uhs_journal_batch_entries_count") - value(
        before, "uhs_journal_batch_entries_count"
    )
    entries = value(after, "uhs_journal_batch_entries_sum") - value(
        before, "uhs_journal_batch_entries_sum"
    )
    assert batches >= 1 and entries >= batches
    assert value(after, "uhs_journal_batch_seconds_count") >= batches
    assert ("uhs_journal_queue_depth", ()) in after
    # The shield's counters and the journal's refusals are there beside them.
    assert ("uhs_shield_breaker_open", ()) in after
    assert ("uhs_journal_refusals_anonymous", ()) in after


def test_ready_when_the_database_and_the_store_answer(client):
    answer = client.get("/ready")
    assert answer.status_code == 200 and answer.json()["status"] == "ready"


def test_not_ready_while_the_blob_store_cannot_be_written(client, ctx):
    shutil.rmtree(ctx.blobs.root)
    answer = client.get("/ready")
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "2"
    assert "document store" in answer.json()["detail"]
    assert client.get("/health").status_code == 200  # alive, only not ready
    ctx.blobs.root.mkdir()
    assert client.get("/ready").status_code == 200


def test_a_made_up_method_on_a_known_route_is_not_a_label(client):
    """A client chooses the method it sends: on a route that exists but does not take
    it (405), a made-up one carrying an address must not become a series of its own."""
    asked = "CAMILLE-PETIT"
    assert client.request(asked, "/accounts/me").status_code == 405
    text = client.get("/metrics", headers=OPERATOR).text
    assert asked not in text and "camille" not in text.lower()


def test_a_long_made_up_method_is_answered_as_a_problem(client):
    """A method longer than the journal's request digest takes is the client's
    mistake, answered 4xx in problem+json, not a server error."""
    answer = client.request("A-METHOD-LONGER-THAN-SIXTEEN", "/accounts/me")
    assert 400 <= answer.status_code < 500
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_readiness_probes_from_anyone_do_not_each_reach_the_blob_store(client, ctx, monkeypatch):
    """GET /ready answers anyone (nginx passes it on like any path): were each probe a
    request to the store (an S3 HEAD), a stranger's loop would spend the operator's S3
    request budget and throttle real uploads. A store just found reachable is not
    asked again at once."""
    asked = 0
    check = ctx.blobs.check_reachable

    def counted() -> None:
        nonlocal asked
        asked += 1
        check()

    monkeypatch.setattr(ctx.blobs, "check_reachable", counted)
    for _ in range(20):
        assert client.get("/ready").status_code == 200
    assert asked <= 1
