"""What an operator's Prometheus scrapes besides the shield's counters: how long each
route takes and what it answers, and how the journal keeps up.

Labels are route templates (``/documents/{document_id}``), never the path asked: an
id, an address or a stranger's made-up path would be health data, or make the number
of series grow without bound. One registry per application, so that two servers in
one process (the tests) count apart.

Several worker processes behind one port (``uhs-server serve --workers N``) share
their numbers through prometheus-client's multiprocess mode: the command sets
``PROMETHEUS_MULTIPROC_DIR`` to a folder of its own before the workers start, each
worker writes its values there, and whichever answers ``GET /metrics`` sums them all,
so a scrape sees the whole server, not the one worker it happened to reach. Separate
``uhs-server serve`` processes (on other ports or hosts) are separate scrape targets.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric

from uhealthsec.server.logs import ACCESS_LOGGER, REQUEST_ID

#: Request durations, from 5 ms to a minute (uploads of large envelopes take longer
#: and land in +Inf).
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_BATCH_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
#: What a request that matched no route is counted under.
UNMATCHED = "unmatched"
#: The methods counted by name; a client may send any other word, counted as "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

Asgi = Callable[..., Any]
#: Set by prometheus-client's multiprocess mode: the folder every worker writes to.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

access_log = logging.getLogger(ACCESS_LOGGER)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead_workers(directory: Path) -> None:
    """Drop the live gauges (the journal's queue) of workers that are gone: killed,
    a worker's last depth would be added to the others' for ever. Its counters stay:
    what it answered was answered."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), str(directory))


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
            "Entries waiting for the journal's writer (in every worker of this server).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self._queue_depth: Callable[[], int] | None = None

    def watch_journal_queue(self, depth: Callable[[], int]) -> None:
        """Report the journal's queue as ``depth`` says, at each scrape; in multiprocess
        mode, where only values written to the shared folder count, as it was when the
        worker's last batch ended (and at this worker's scrapes)."""
        if os.environ.get(MULTIPROCESS_DIR):
            self._queue_depth = depth
        else:
            self.journal_queue.set_function(depth)

    def journal_batch(self, entries: int, seconds: float) -> None:
        self.journal_batch_entries.observe(entries)
        self.journal_batch_seconds.observe(seconds)
        if self._queue_depth is not None:
            self.journal_queue.set(self._queue_depth())

    def exposition(self) -> bytes:
        """These metrics in Prometheus' text format: of every worker, in multiprocess
        mode."""
        shared = os.environ.get(MULTIPROCESS_DIR)
        if not shared:
            return generate_latest(self.registry)
        if self._queue_depth is not None:
            self.journal_queue.set(self._queue_depth())
        forget_dead_workers(Path(shared))
        everyone = CollectorRegistry()
        multiprocess.MultiProcessCollector(everyone, shared)
        return generate_latest(everyone)


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def exposition_of(families: list[Metric]) -> bytes:
    """Families read at the scrape (from the database: the same whichever process
    answers) in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


class RequestMetrics:
    """Pure ASGI: times every HTTP request and counts its status, by route template;
    gives it a random id for the records made while answering it, and records it
    (``ACCESS_LOGGER``: method, route template, status and duration, nothing else)."""

    def __init__(self, app: Asgi, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Asgi, send: Asgi) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = REQUEST_ID.set(uuid.uuid4().hex[:16])
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
            seconds = time.perf_counter() - started
            self.metrics.request_seconds.labels(method, template).observe(seconds)
            self.metrics.responses.labels(method, template, str(status)).inc()
            if access_log.isEnabledFor(logging.INFO):
                duration_ms = round(seconds * 1000, 1)
                fields = {"method": method, "route": template, "status": status}
                access_log.info(
                    "%s %s %d %.1f ms",
                    method,
                    template,
                    status,
                    duration_ms,
                    extra={**fields, "duration_ms": duration_ms},
                )
            REQUEST_ID.reset(request_id)
