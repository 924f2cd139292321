"""What an operator's Prometheus scrapes besides the shield's counters: how long each
route takes and what it answers, and how the journal keeps up.

Labels are route templates (``/documents/{document_id}``), never the path asked: an
id, an address or a stranger's made-up path would be health data, or make the number
of series grow without bound. One registry per application, so that two servers in
one process (the tests) count apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: Request durations, from 5 ms to a minute (uploads of large envelopes take longer
#: and land in +Inf).
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_BATCH_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
#: What a request that matched no route is counted under.
UNMATCHED = "unmatched"
#: The methods counted by name; a client may send any other word, counted as "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

Asgi = Callable[..., Any]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "uhs_http_request_duration_seconds",
            "Time from a request's first byte to its answer's last, by route.",
            ["method", "route"],
            buckets=_REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.responses = Counter(
            "uhs_http_responses",
            "Answers given, by route and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.journal_batch_entries = Histogram(
            "uhs_journal_batch_entries",
            "Entries appended to the journal in one transaction and one signed checkpoint.",
            buckets=_BATCH_SIZES,
            registry=self.registry,
        )
        self.journal_batch_seconds = Histogram(
            "uhs_journal_batch_seconds",
            "Time to append one batch to the journal (its transaction and checkpoint).",
            buckets=_REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.journal_queue = Gauge(
            "uhs_journal_queue_depth",
            "Entries waiting for the journal's writer in this process.",
            registry=self.registry,
        )

    def journal_batch(self, entries: int, seconds: float) -> None:
        self.journal_batch_entries.observe(entries)
        self.journal_batch_seconds.observe(seconds)

    def exposition(self) -> bytes:
        """These metrics in Prometheus' text format."""
        return generate_latest(self.registry)


class RequestMetrics:
    """Pure ASGI: times every HTTP request and counts its status, by route template."""

    def __init__(self, app: Asgi, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Asgi, send: Asgi) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the application fails before a reply

        async def counted_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counted_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            method = scope["method"] if scope["method"] in _METHODS else "other"
            if template == UNMATCHED:
                method = "any"
            self.metrics.request_seconds.labels(method, template).observe(
                time.perf_counter() - started
            )
            self.metrics.responses.labels(method, template, str(status)).inc()
