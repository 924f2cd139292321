"""The patient's copy of everything about them, as a FHIR R4 Bundle (GDPR art. 15, 20).

Built on the patient's device: every document version they hold is downloaded,
its author's signature verified and decrypted here, then written as a
DocumentReference with its bytes in a Binary; their consent directives (Consent) and
their access history (AuditEvent) come from the server as FHIR already. The bundle is
validated with ``fhir.resources`` (R4B models, whose resources used here are R4's).
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from uhealthsec.client.exchange import ExchangeClient
from uhealthsec.protocol.records import DocumentOut

_DOCUMENT_ID = "urn:uhealthsec:document"


def export_bundle(
    exchange: ExchangeClient, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Everything about the signed-in patient, as a validated FHIR R4 Bundle."""
    me = exchange.account.id
    patient = f"Patient/{me}"
    entries: list[dict[str, Any]] = []
    documents = [d for d in exchange.all_documents() if d.patient_id == me]
    with tempfile.TemporaryDirectory(prefix="uhs-export-") as work:
        for done, summary in enumerate(documents, start=1):
            view = exchange.document_view(summary.id)
            previous: str | None = None
            numbers = sorted(v.number for v in view.versions if v.wrapped_key)
            for number in numbers:
                target = Path(work) / f"{summary.id}-{number}"
                received = exchange.fetch(summary.id, target, version=number)
                data = target.read_bytes()
                target.unlink()
                binary_id = str(uuid.uuid4())
                reference_id = str(uuid.uuid4())
                entries.append(
                    _entry(
                        binary_id,
                        {
                            "resourceType": "Binary",
                            "contentType": received.metadata.media_type,
                            "data": base64.b64encode(data).decode("ascii"),
                        },
                    )
                )
                reference: dict[str, Any] = {
                    "resourceType": "DocumentReference",
                    "masterIdentifier": {
                        "system": _DOCUMENT_ID,
                        "value": f"{summary.id}/{number}",
                    },
                    "status": "current" if number == numbers[-1] else "superseded",
                    "docStatus": "final",
                    "subject": {"reference": patient},
                    "date": _instant(view, number),
                    "author": [
                        {
                            "reference": f"Practitioner/{view.author_id}",
                            "display": view.author_name,
                        }
                    ],
                    "description": received.metadata.title,
                    "content": [
                        {
                            "attachment": {
                                "contentType": received.metadata.media_type,
                                "url": f"urn:uuid:{binary_id}",
                                "size": len(data),
                                # FHIR's attachment hash is SHA-1 by definition; the
                                # author's signature was verified on download.
                                "hash": base64.b64encode(hashlib.sha1(data).digest()).decode(),  # noqa: S324
                                "title": received.metadata.filename,
                            }
                        }
                    ],
                }
                if previous is not None:
                    reference["relatesTo"] = [
                        {"code": "replaces", "target": {"reference": f"urn:uuid:{previous}"}}
                    ]
                entries.append(_entry(reference_id, reference))
                previous = reference_id
            if progress is not None:
                progress(done, len(documents))
    for path in ("/consents/fhir", "/journal/history/export?format=fhir"):
        for item in exchange.call("GET", path).json().get("entry", []):
            entries.append(_entry(str(uuid.uuid4()), item["resource"]))
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "entry": entries,
    }
    validated: dict[str, Any] = Bundle.model_validate(bundle).model_dump(
        mode="json", exclude_none=True
    )
    return validated


def documents_in(bundle: dict[str, Any]) -> dict[str, bytes]:
    """The documents of an exported bundle, by ``<document id>/<version>``: what a
    second system reading the bundle gets back."""
    resources = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    found: dict[str, bytes] = {}
    for resource in resources.values():
        if resource["resourceType"] != "DocumentReference":
            continue
        binary = resources[resource["content"][0]["attachment"]["url"]]
        found[resource["masterIdentifier"]["value"]] = base64.b64decode(binary["data"])
    return found


def _entry(entry_id: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:{entry_id}", "resource": resource}


def _instant(view: DocumentOut, number: int) -> str:
    return next(v.created_at.isoformat() for v in view.versions if v.number == number)
