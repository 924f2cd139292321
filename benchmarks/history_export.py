"""What a page of the patient's access history costs the server as FHIR (R18).

    .venv/bin/python benchmarks/history_export.py [--events 1000] [--rounds 5]

The export pages the whole history (``GET /journal/history/export?format=fhir``,
1,000 events a page, docs/PROTOCOL.md 15): this times ``audit.export.fhir_bundle`` for
one page of ``--events`` journal entries, each decoded and validated once with
fhir.resources, against the baseline it replaced: every AuditEvent validated and
rewritten by its model, then the whole Bundle validated and rewritten again (the
events validated twice). Median of ``--rounds``; load average printed, since the
machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from journal import sample_entry
from timing import cpu_name, median_seconds

from uhealthsec.server.audit.export import audit_event, fhir_bundle


def twice_validated(rows: list[tuple[int, bytes]], site: str) -> dict[str, Any]:
    """The former page: each event validated and rewritten, then the Bundle again."""
    events = [
        AuditEvent.model_validate(audit_event(i, d, site)).model_dump(
            mode="json", exclude_none=True
        )
        for i, d in rows
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "entry": [
            {"fullUrl": f"urn:uhealthsec:journal-entry:{i}", "resource": e}
            for (i, _), e in zip(rows, events, strict=True)
        ],
    }
    dumped: dict[str, Any] = Bundle.model_validate(bundle).model_dump(
        mode="json", exclude_none=True
    )
    return dumped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = [(i, sample_entry(i).encode()) for i in range(args.events)]
    site = "https://uhealthsec.example"
    assert fhir_bundle(rows, site)["entry"] == twice_validated(rows, site)["entry"]
    now = median_seconds(lambda: fhir_bundle(rows, site), args.rounds)
    before = median_seconds(lambda: twice_validated(rows, site), args.rounds)
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs; load average {os.getloadavg()}")
    print(f"one page of {args.events} AuditEvents, median of {args.rounds}:")
    print(
        f"  validated once (fhir_bundle):      {now:.3f} s ({now / args.events * 1e3:.2f} ms/event)"
    )
    print(f"  validated twice (former baseline): {before:.3f} s")
    print(f"  ratio baseline / now: {before / now:.1f}")


if __name__ == "__main__":
    main()
