"""Journal entries as FHIR R4 AuditEvent resources and as JSON lines.

FHIR resources are built as plain data and validated with ``fhir.resources`` (its
R4B models: FHIR 4.3, whose AuditEvent is the R4 one) before they leave the server.
Both forms carry the entry's index and leaf hash, so an exported event can be tied
back to the verifiable journal.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle

from uhealthsec.crypto import merkle
from uhealthsec.crypto.journal import NOBODY, JournalEntry, ObjectKind, Outcome
from uhealthsec.protocol.encoding import b64u_encode

_EVENT_TYPE = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "RESTful Operation",
}
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
#: FHIR AuditEvent.outcome: 0 success, 4 minor failure (a refusal), 8 serious failure.
_OUTCOME = {Outcome.DONE: "0", Outcome.DENIED: "4", Outcome.REFUSED: "4", Outcome.FAILED: "8"}
#: FHIR AuditEvent.action (C, R, U, D, E) of the operations that are not "execute".
_CRUD = {
    "records.upload": "C",
    "records.create_document": "C",
    "records.add_version": "U",
    "records.open_patient_file": "R",
    "records.patient_files": "R",
    "records.patient_file": "R",
    "records.document": "R",
    "records.content": "R",
    "records.inbox": "R",
    "records.share": "U",
    "records.revoke": "U",
    "records.restrict_document": "U",
    "records.lift_restriction": "U",
    "messaging.create_thread": "C",
    "messaging.post_message": "C",
    "messaging.messages": "R",
    "messaging.thread": "R",
    "messaging.threads": "R",
    "messaging.mark_read": "U",
    "accounts.my_keystore": "R",
    "audit.history": "R",
}
_PEOPLE = {ObjectKind.ACCOUNT, ObjectKind.PATIENT}


def _reference(kind: str, value: str) -> dict[str, Any]:
    return {"identifier": {"system": f"urn:uhealthsec:{kind}", "value": value}}


def audit_event(index: int, data: bytes, site: str) -> dict[str, Any]:
    """One journal entry as a validated FHIR AuditEvent (JSON-ready)."""
    entry = JournalEntry.decode(data, check_links=False)
    anonymous = entry.actor == NOBODY
    agent: dict[str, Any] = {"requestor": True}
    if anonymous:
        agent["name"] = "not signed in"
    else:
        agent["who"] = _reference("account", str(entry.actor))
    if entry.client:
        agent["altId"] = entry.client
    entities: list[dict[str, Any]] = [
        {
            "what": _reference(kind.name.lower().replace("_", "-"), str(oid)),
            "type": {
                "system": _ENTITY_TYPE,
                "code": "1" if kind in _PEOPLE else "3" if kind == ObjectKind.PRACTICE else "2",
            },
        }
        for kind, oid in entry.objects
    ]
    entities.append(
        {
            "what": _reference("journal-entry", str(index)),
            "type": {"system": _ENTITY_TYPE, "code": "2"},
            "detail": [
                {
                    "type": "leaf-hash",
                    "valueBase64Binary": base64.b64encode(merkle.leaf_hash(data)).decode(),
                },
                {
                    "type": "request-digest",
                    "valueBase64Binary": base64.b64encode(entry.request_digest).decode(),
                },
            ],
        }
    )
    resource = {
        "resourceType": "AuditEvent",
        "id": f"journal-{index}",
        "type": _EVENT_TYPE,
        "subtype": [{"system": "urn:uhealthsec:action", "code": entry.action}],
        "action": _CRUD.get(entry.action, "E"),
        "recorded": _fhir_instant(entry.timestamp_ms),
        "outcome": _OUTCOME[entry.outcome],
        "outcomeDesc": f"HTTP {entry.status}",
        "agent": [agent],
        "source": {"site": site, "observer": {"display": "U-HealthSec journal"}},
        "entity": entities,
    }
    # Validated as written, not rewritten from the model: a history of 10,000 entries
    # is exported at the cost of validating each once (docs/PROTOCOL.md 15).
    AuditEvent.model_validate(resource)
    return resource


def fhir_bundle(rows: Iterable[tuple[int, bytes]], site: str) -> dict[str, Any]:
    """The entries as a collection Bundle: its shell validated, each event validated by
    ``audit_event`` (validating the whole Bundle would validate every event again)."""
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    Bundle.model_validate({**bundle, "entry": []})
    bundle["entry"] = [
        {"fullUrl": f"urn:uhealthsec:journal-entry:{i}", "resource": audit_event(i, d, site)}
        for i, d in rows
    ]
    return bundle


def json_line(index: int, data: bytes) -> str:
    entry = JournalEntry.decode(data, check_links=False)
    return json.dumps(
        {
            "index": index,
            "leaf_hash": b64u_encode(merkle.leaf_hash(data)),
            "entry": b64u_encode(data),
            "recorded": _instant(entry.timestamp_ms),
            "actor": None if entry.actor == NOBODY else str(entry.actor),
            "action": entry.action,
            "outcome": entry.outcome.name.lower(),
            "status": entry.status,
            "objects": [{"kind": k.name.lower(), "id": str(i)} for k, i in entry.objects],
            "client": entry.client,
            "request_digest": b64u_encode(entry.request_digest),
            "signed": entry.signature is not None,
        },
        separators=(",", ":"),
    )


def _fhir_instant(timestamp_ms: int) -> str:
    """As fhir.resources writes an instant: "Z", microseconds unless there are none."""
    seconds, millis = divmod(timestamp_ms, 1000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=millis * 1000)
    return moment.isoformat().replace("+00:00", "Z")


def _instant(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="milliseconds")
