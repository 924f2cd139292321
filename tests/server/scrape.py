"""Reading GET /metrics as Prometheus does, with the operator's token."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

OPERATOR = {"Authorization": "Bearer operator-metrics-token"}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def open_metrics(ctx) -> None:
    """The test client is not on loopback: the operator's token opens the metrics."""
    ctx.settings.metrics_token = SecretStr("operator-metrics-token")


def scrape(client) -> Samples:
    answer = client.get("/metrics", headers=OPERATOR)
    assert answer.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
