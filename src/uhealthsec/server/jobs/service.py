"""Running the worker's jobs: one failing job is recorded and logged by its error class
(an exception's message may name a patient or an address), and the others still run;
the next round tries it again."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from uhealthsec.server.context import AppContext
from uhealthsec.server.jobs.models import JobRun

logger = logging.getLogger(__name__)

#: The jobs of ``uhs-server worker``, and what each does.
JOBS = {
    "journal": "sequence the journal entries a stopped process left staged",
    "anomalies": "run the anomaly rules over the journal's new entries (R22)",
    "mail": "send the mail due, retries included",
    "retention": "destroy the files whose legal retention ended",
    "maintenance": "purge what no rule needs any more (uhs-server cleanup)",
}
OK = "ok"
FAILED = "failed"

T = TypeVar("T")


def run_job(ctx: AppContext, job: str, work: Callable[[], T]) -> T | None:
    """``work()``'s result, or None if it failed (``work`` never returns None); either
    way its run is recorded."""
    if job not in JOBS:
        raise ValueError(f"no job named {job!r}")
    started = time.monotonic()
    outcome, result = FAILED, None
    try:
        result = work()
        outcome = OK
    except Exception as exc:
        logger.error(
            "the %s job failed (%s); the next round runs it again", job, type(exc).__name__
        )
    record_run(ctx, job, outcome, time.monotonic() - started)
    return result


def record_run(ctx: AppContext, job: str, outcome: str, seconds: float) -> None:
    """Count one run. A database that cannot take it is logged and forgotten: the run
    happened, and the record must not stop the worker."""
    try:
        for _attempt in range(2):
            try:
                with ctx.sessions.begin() as db:
                    _count(db, job, outcome, seconds, ctx)
                return
            except IntegrityError:
                continue  # another worker made the row first: add to it
    except Exception as exc:
        logger.error("the run of the %s job could not be recorded (%s)", job, type(exc).__name__)


def _count(db: Session, job: str, outcome: str, seconds: float, ctx: AppContext) -> None:
    now = ctx.now()
    changed = db.execute(
        update(JobRun)
        .where(JobRun.job == job, JobRun.outcome == outcome)
        .values(runs=JobRun.runs + 1, last_ended_at=now, last_seconds=seconds)
    ).rowcount  # type: ignore[attr-defined]
    if not changed:
        db.add(JobRun(job=job, outcome=outcome, runs=1, last_ended_at=now, last_seconds=seconds))
        db.flush()


def job_runs(db: Session) -> list[JobRun]:
    """Every job's runs by outcome, for the metrics."""
    return list(db.scalars(select(JobRun).order_by(JobRun.job, JobRun.outcome)))
