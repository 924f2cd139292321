"""The history's FHIR page is written as fhir.resources would rewrite it, though each
AuditEvent is validated once and not rewritten (R18: 10,000 events export in seconds)."""

from __future__ import annotations

import uuid

from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle

from uhealthsec.crypto.journal import JournalEntry, ObjectKind, Outcome
from uhealthsec.server.audit.export import fhir_bundle


def test_r18_each_exported_audit_event_is_what_its_model_writes():
    """Whole seconds and milliseconds alike: an instant is written as the model writes it."""
    patient = uuid.uuid4()
    rows = [
        (
            index,
            JournalEntry(
                timestamp_ms,
                uuid.uuid4(),
                "records.content",
                outcome,
                200 if outcome == Outcome.DONE else 403,
                objects=((ObjectKind.PATIENT, patient),),
                version=1,
            ).encode(),
        )
        for index, (timestamp_ms, outcome) in enumerate(
            [(1_795_000_000_000, Outcome.DONE), (1_795_000_000_005, Outcome.DENIED)]
        )
    ]
    bundle = fhir_bundle(rows, "https://uhealthsec.example")
    assert (
        Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)["entry"]
        == (bundle["entry"])
    )
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert AuditEvent.model_validate(resource).model_dump(mode="json", exclude_none=True) == (
            resource
        )
    assert [e["resource"]["recorded"] for e in bundle["entry"]] == [
        "2026-11-18T11:06:40Z",
        "2026-11-18T11:06:40.005000Z",
    ]
