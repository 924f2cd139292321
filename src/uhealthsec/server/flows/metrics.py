"""``GET /metrics``: what Prometheus scrapes, from every domain at once.

Two kinds of numbers. Those a process counts as it answers (request durations, status
codes, journal batches: server/observability.py), summed over the workers of one
``uhs-server serve``. And those read from the database at each scrape, the same from
whichever process answers: the shield's totals, the refusals kept out of the journal,
the reads refused past a budget (R27), the anomaly alerts opened (R22), the journal's
lag (entries staged by a committed change and not yet sequenced, and the oldest one's
age), the mail waiting, and the runs of ``uhs-server worker``'s jobs, which answer no
request themselves.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.orm import Session

from uhealthsec.server.audit.outbox import staged_lag
from uhealthsec.server.audit.read_budgets import throttled_reads
from uhealthsec.server.audit.refusals import journal_refusals
from uhealthsec.server.context import AppContext
from uhealthsec.server.deps import Ctx, Db
from uhealthsec.server.incidents.anomalies.service import anomaly_alerts
from uhealthsec.server.jobs.service import JOBS, job_runs
from uhealthsec.server.mail.outbox import waiting_mail
from uhealthsec.server.observability import exposition_of
from uhealthsec.server.shield.http import may_read_metrics
from uhealthsec.server.shield.service import METRICS, Shield

router = APIRouter(tags=["operations"])


def server_state(db: Session, ctx: AppContext) -> list[Metric]:
    """The numbers read from the database, as Prometheus families."""
    families: list[Metric] = []
    shield = Shield(db, ctx).metrics()
    for name, text in METRICS.items():
        kind = GaugeMetricFamily if name == "breaker_open" else CounterMetricFamily
        families.append(kind(f"uhs_shield_{name}", text, value=shield[name]))
    families += journal_refusals(db)
    families += throttled_reads(db)
    families += anomaly_alerts(db)
    lag = staged_lag(db, ctx.now())
    families += [
        GaugeMetricFamily(
            "uhs_journal_staged_entries",
            "Changes committed whose journal entry is not sequenced yet (the journal's lag).",
            value=lag.entries,
        ),
        GaugeMetricFamily(
            "uhs_journal_staged_oldest_seconds",
            "Age of the oldest entry not sequenced yet; 0 when none waits. Past 30 s, "
            "only uhs-server worker or a restart sequences it.",
            value=lag.oldest_seconds,
        ),
        GaugeMetricFamily(
            "uhs_mail_waiting",
            "Mails waiting to be sent or retried.",
            value=waiting_mail(db),
        ),
    ]
    runs = CounterMetricFamily(
        "uhs_worker_job_runs",
        "Runs of uhs-server worker's jobs, by job and outcome (ok, failed).",
        labels=["job", "outcome"],
    )
    ended = GaugeMetricFamily(
        "uhs_worker_job_last_run_timestamp_seconds",
        "When the last run of each job with each outcome ended (Unix time).",
        labels=["job", "outcome"],
    )
    took = GaugeMetricFamily(
        "uhs_worker_job_last_run_seconds",
        "How long the last run of each job with each outcome took.",
        labels=["job", "outcome"],
    )
    for run in job_runs(db):
        if run.job not in JOBS:
            continue  # a job of another version of the server
        labels = [run.job, run.outcome]
        runs.add_metric(labels, run.runs)
        ended.add_metric(labels, run.last_ended_at.timestamp())
        took.add_metric(labels, run.last_seconds)
    return [*families, runs, ended, took]


@router.get("/metrics", response_class=PlainTextResponse)
def prometheus(request: Request, db: Db, ctx: Ctx) -> PlainTextResponse:
    """Every metric in the Prometheus text format, for the token the operator set."""
    may_read_metrics(request, ctx.settings.metrics_token.get_secret_value())
    return PlainTextResponse(
        (exposition_of(server_state(db, ctx)) + ctx.metrics.exposition()).decode(),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
