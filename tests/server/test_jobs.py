"""The runs of `uhs-server worker`'s jobs: counted by job and outcome where every API
process reads them for its /metrics; a failing job is recorded and logged by its error
class alone, and the other jobs still run."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.server.scrape import open_metrics, scrape, value
from uhealthsec.server import cli
from uhealthsec.server.jobs.service import JOBS, run_job

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _metrics_token(ctx) -> None:
    open_metrics(ctx)


def _runs(samples, job: str, outcome: str) -> float:
    return value(samples, "uhs_worker_job_runs_total", job=job, outcome=outcome)


def test_each_run_is_counted_by_outcome_and_a_failure_keeps_its_message_out_of_the_log(
    ctx, client, caplog
):
    before = scrape(client)
    assert run_job(ctx, "mail", ctx.mail.deliver_due) is not None

    def unreachable() -> str:
        raise ConnectionError("camille.petit@example.test: no route to the mail relay")

    with caplog.at_level(logging.ERROR):
        assert run_job(ctx, "maintenance", unreachable) is None
        assert run_job(ctx, "maintenance", unreachable) is None
    assert "ConnectionError" in caplog.text and "camille" not in caplog.text

    after = scrape(client)
    assert _runs(after, "mail", "ok") == _runs(before, "mail", "ok") + 1
    assert _runs(after, "maintenance", "failed") == _runs(before, "maintenance", "failed") + 2
    assert _runs(after, "maintenance", "ok") == _runs(before, "maintenance", "ok")
    ended = value(
        after, "uhs_worker_job_last_run_timestamp_seconds", job="maintenance", outcome="failed"
    )
    assert ended == ctx.now().timestamp()
    assert value(after, "uhs_worker_job_last_run_seconds", job="mail", outcome="ok") >= 0
    with pytest.raises(ValueError, match="no job named"):
        run_job(ctx, "backup", lambda: 1)


def _worker(settings, *args: str):
    env = {
        "UHS_DATA_DIR": str(settings.data_dir),
        "UHS_DATABASE_URL": settings.database_url.get_secret_value(),
        "NO_COLOR": "1",
    }
    return CliRunner().invoke(cli.app, ["worker", *args], env=env)


def test_a_worker_round_records_every_job_and_a_failed_one_does_not_stop_the_others(
    settings, ctx, client, monkeypatch
):
    before = scrape(client)
    done = _worker(settings, "--once")
    assert done.exit_code == 0, done.output
    after = scrape(client)
    for job in JOBS:
        assert _runs(after, job, "ok") == _runs(before, job, "ok") + 1, job

    def broken(_ctx) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(cli, "_maintain", broken)
    failed = _worker(settings, "--once")
    # The round went on to the end, said what failed, and ended in an error for cron.
    assert failed.exit_code == 1 and "Failed: maintenance" in failed.output
    assert "file(s) destroyed at the end of their retention" in failed.output
    later = scrape(client)
    assert _runs(later, "maintenance", "failed") == _runs(after, "maintenance", "failed") + 1
    assert _runs(later, "retention", "ok") == _runs(after, "retention", "ok") + 1


def test_every_metric_the_example_alerts_watch_is_served(ctx, client):
    """deploy/prometheus/uhealthsec-alerts.yml names only metrics /metrics serves, so a
    renamed metric cannot silence an alert unnoticed."""
    run_job(ctx, "mail", ctx.mail.deliver_due)
    client.get("/health")
    served = {name for name, _labels in scrape(client)}
    rules = yaml.safe_load((ROOT / "deploy/prometheus/uhealthsec-alerts.yml").read_text())
    watched = {
        name
        for group in rules["groups"]
        for rule in group["rules"]
        for name in re.findall(r"\buhs_[a-z_]+", rule["expr"])
    }
    assert len(watched) >= 6 and watched <= served, watched - served
