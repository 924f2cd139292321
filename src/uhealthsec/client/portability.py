"""The patient's copy of everything about them, as a FHIR R4 Bundle (GDPR art. 15, 20).

Built on the patient's device: every document version they hold is downloaded,
its author's signature verified and decrypted here, then written as a
DocumentReference with its bytes in a Binary; their consent directives (Consent) and
their access history (AuditEvent) come from the server as FHIR already. The bundle is
validated with ``fhir.resources`` (R4B models, whose resources used here are R4's).

The profiles it follows are named in it (docs/PROTOCOL.md section 15): each
DocumentReference claims IHE MHD Minimal DocumentReference, the document metadata
that HL7 Europe's EEHRxF document exchange builds on, and the Bundle's tag names the
export's format. No HL7 Europe content profile (patient summary, laboratory or
imaging report) is claimed: the documents are files whose content is not coded.
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
from uhealthsec.client.exchange.models import ReceivedDocument
from uhealthsec.protocol.records import DocumentOut

_DOCUMENT_ID = "urn:uhealthsec:document"
#: The profile every DocumentReference of the export meets (its mandatory elements:
#: masterIdentifier with use "usual", status current or superseded, no docStatus, one
#: content whose attachment has a contentType and a url, no data inline).
MHD_MINIMAL_DOCUMENT_REFERENCE = (
    "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Minimal.DocumentReference"
)
#: The Bundle's tag naming the export's format; the web application writes the same.
EXPORT_FORMAT_TAG = {
    "system": "urn:uhealthsec:export-format",
    "code": "patient-export-1",
    "display": (
        "U-HealthSec patient export 1: FHIR R4 collection; DocumentReference as IHE MHD"
        " Minimal (the EEHRxF document exchange of HL7 Europe); no HL7 Europe content"
        " profile claimed"
    ),
}


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
                    "meta": {"profile": [MHD_MINIMAL_DOCUMENT_REFERENCE]},
                    "masterIdentifier": {
                        "use": "usual",
                        "system": _DOCUMENT_ID,
                        "value": f"{summary.id}/{number}",
                    },
                    "status": "current" if number == numbers[-1] else "superseded",
                    "subject": {"reference": patient},
                    "date": _instant(view, number),
                    "author": [_signed_author(view, received)],
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
        "meta": {"tag": [EXPORT_FORMAT_TAG]},
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


def _signed_author(view: DocumentOut, received: ReceivedDocument) -> dict[str, str]:
    """The version's signer, whose key verified its signature: named as the server
    names the document's author only if that is the signer's address."""
    signer = received.signer.entry
    named = view.author_email.lower() == signer.email.lower() and view.author_name
    return {
        "reference": f"Practitioner/{signer.account_id}",
        "display": view.author_name if named else signer.email,
    }


def _instant(view: DocumentOut, number: int) -> str:
    return next(v.created_at.isoformat() for v in view.versions if v.number == number)
