"""The retention of a patient's files as FHIR R4 ``Basic`` resources (their export).

FHIR has no resource for "how long a record is kept": ``Basic`` carries it, coded
``urn:uhealthsec:retention#file-retention``, its facts as extensions whose URLs name
them (``urn:uhealthsec:retention:<fact>``). Built as plain data and validated with
``fhir.resources`` (its R4B models, whose Basic is R4's), as the Consent export is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.basic import Basic
from fhir.resources.R4B.bundle import Bundle

from uhealthsec.server.retention.service import FileStatus

RETENTION = "urn:uhealthsec:retention"


def retention_resource(status: FileStatus) -> dict[str, Any]:
    """One file's retention as a validated FHIR R4 Basic: the end date and its legal
    basis, the dates it rests on, whether a claim stops the clock, and when (if ever)
    its keys were destroyed."""
    patient_file = status.patient_file
    facts = status.facts
    values: list[tuple[str, str, Any]] = [
        ("keep-until", "valueDate", status.end.keep_until),
        ("basis", "valueCode", status.end.basis.value),
        ("explanation", "valueString", status.end.explanation),
        ("last-care-on", "valueDate", facts.last_care_on),
        ("born-on", "valueDate", facts.born_on),
        ("died-on", "valueDate", facts.died_on),
        ("claim-open", "valueBoolean", facts.claim_open),
        ("suspended-days", "valueInteger", facts.suspended_days),
        ("archived", "valueBoolean", status.archived),
        ("destroyable-from", "valueDate", status.destroyable_from),
        ("shredded-at", "valueDateTime", status.shredded_at),
    ]
    resource = {
        "resourceType": "Basic",
        "id": f"retention-{patient_file.id}",
        "identifier": [{"system": "urn:uhealthsec:patient-file", "value": str(patient_file.id)}],
        "code": {
            "coding": [{"system": RETENTION, "code": "file-retention", "display": "File retention"}]
        },
        "subject": {"reference": f"Patient/{patient_file.patient_id}"},
        "author": {"reference": f"Organization/{patient_file.practice_id}"},
        "extension": [
            {"url": f"{RETENTION}:{name}", kind: _json(value)}
            for name, kind, value in values
            if value is not None
        ],
    }
    validated: dict[str, Any] = Basic.model_validate(resource).model_dump(
        mode="json", exclude_none=True
    )
    return validated


def retention_bundle(statuses: Iterable[FileStatus]) -> dict[str, Any]:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "entry": [{"resource": retention_resource(s)} for s in statuses],
    }
    validated: dict[str, Any] = Bundle.model_validate(bundle).model_dump(
        mode="json", exclude_none=True
    )
    return validated


def _json(value: Any) -> Any:
    if isinstance(value, datetime):  # the database may give it back without its zone
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return value.isoformat() if hasattr(value, "isoformat") else value
