"""The patient's copy of everything about them, as a FHIR R4 Bundle (GDPR art. 15, 20;
REQUIREMENTS R18).

Built on the patient's device: who they are (Patient, from their account); every
document version they hold, downloaded, its author's signature verified and
decrypted here, written as a DocumentReference with its bytes in a Binary; every
message of every thread they are in, its signature verified and decrypted here, as
a Communication; then what the server answers in FHIR already: their consent
directives (Consent), rights requests and their answers (Task), the retention of
their files (Basic) and their whole access history (AuditEvent), paged back to its
first entry. Each resource is validated with ``fhir.resources`` (R4B models, whose
resources used here are R4's) before it is written.

The bundle is written to its file entry by entry as it is produced, and a version's
bytes go from the downloaded file to the bundle in slices: at most one slice of a
document is in memory at a time, whatever the documents' number and size.

The profiles it follows are named in it (docs/PROTOCOL.md section 15): each
DocumentReference claims IHE MHD Minimal DocumentReference, the document metadata
that HL7 Europe's EEHRxF document exchange builds on, and the Bundle's tag names the
export's format. No HL7 Europe content profile (patient summary, laboratory or
imaging report) is claimed: the documents are files whose content is not coded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from fhir.resources.R4B import get_fhir_model_class

from uhealthsec.client.errors import ExchangeRefused
from uhealthsec.client.exchange import ExchangeClient, MessagingClient
from uhealthsec.client.exchange.messaging import ReceivedMessage
from uhealthsec.client.exchange.models import ReceivedDocument
from uhealthsec.protocol.messaging import ThreadOut
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


#: The server's FHIR answers copied into the export, in this order, each of one
#: resource type: anything else in one (a DocumentReference the patient's device did
#: not verify, say) is refused. The access history follows, paged (``HISTORY_PAGE``).
SERVED_BUNDLES = (
    ("/consents/fhir", "Consent"),
    ("/rights-requests/fhir", "Task"),
    ("/retention/fhir", "Basic"),
)
HISTORY_EXPORT = "/journal/history/export"
#: Access-history entries asked for per request (the server gives at most 10,000).
HISTORY_PAGE = 1000
#: The most access records an export follows (over 25 a day for 20 years): past it the
#: server is refused rather than followed page after page without end.
MAX_HISTORY_ENTRIES = 200_000
#: The resource types the export holds: anything else the server serves is refused.
_RESOURCE_TYPES = frozenset(
    {
        "Bundle",
        "Patient",
        "Binary",
        "DocumentReference",
        "Communication",
        "Consent",
        "Task",
        "Basic",
        "AuditEvent",
    }
)
#: Bytes of a document read, hashed and encoded at a time (a multiple of 3: base64
#: without padding inside the data).
_SLICE = 3 * 64 * 1024


def write_bundle(
    exchange: ExchangeClient,
    out: IO[str],
    progress: Callable[[int, int], None] | None = None,
) -> Counter[str]:
    """Writes everything about the signed-in patient to ``out`` as one FHIR R4 Bundle,
    entry by entry; the number of resources written, by type. Raises (with ``out``
    left incomplete: the caller discards it) when anything fails its checks."""
    writer = _EntryWriter(out)
    me = exchange.account
    head = {
        "resourceType": "Bundle",
        "meta": {"tag": [EXPORT_FORMAT_TAG]},
        "type": "collection",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _validated({**head, "entry": []})
    out.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "entry": [')
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(me.id),
        "identifier": [{"system": "urn:uhealthsec:account", "value": str(me.id)}],
        "telecom": [{"system": "email", "value": me.email, "use": "home"}],
    }
    if me.display_name:
        patient["name"] = [{"text": me.display_name}]
    writer.resource(f"urn:uuid:{me.id}", patient)
    exported = _write_documents(exchange, writer, progress)
    _write_messages(exchange, writer, exported)
    for path, kind in SERVED_BUNDLES:
        for resource in _served(exchange.call("GET", path).json(), kind):
            writer.resource(f"urn:uuid:{uuid.uuid4()}", resource)
    for resource in history(exchange):
        writer.resource(f"urn:uuid:{uuid.uuid4()}", resource)
    out.write("]}")
    return writer.written


def export_bundle(
    exchange: ExchangeClient, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """``write_bundle`` read back as one dict: for callers that want it whole (it is
    then all in memory; ``uhs export`` writes to its file instead)."""
    with tempfile.TemporaryFile("w+", encoding="utf-8", prefix="uhs-export-") as out:
        write_bundle(exchange, out, progress)
        out.seek(0)
        bundle: dict[str, Any] = json.load(out)
    return bundle


def history(
    exchange: ExchangeClient, page: int = HISTORY_PAGE, cap: int = MAX_HISTORY_ENTRIES
) -> Iterator[dict[str, Any]]:
    """The patient's whole access history as AuditEvent, newest first: page after page
    of the FHIR export, each asked for ``before`` the oldest entry of the previous one,
    until a page is not full. A page whose entries do not come strictly before the
    cursor is refused: a server cannot make the export go round in circles, nor, past
    ``cap`` records, go on for ever."""
    before: int | None = None
    followed = 0
    while True:
        params: dict[str, Any] = {"format": "fhir", "limit": page}
        if before is not None:
            params["before"] = before
        answer = exchange.call("GET", HISTORY_EXPORT, params=params).json()
        events = _served(answer, "AuditEvent")
        indexes = [_journal_index(event) for event in events]
        if before is not None and any(i >= before for i in indexes):
            raise ExchangeRefused("the server's access history does not go back page by page")
        if len(events) > page or len(set(indexes)) != len(indexes):
            raise ExchangeRefused("the server's access history repeats or overflows a page")
        followed += len(events)
        if followed > cap:
            raise ExchangeRefused(f"the server's access history goes past {cap} records: refused")
        # Served oldest first: given newest first, as the whole history is.
        yield from sorted(events, key=_journal_index, reverse=True)
        if len(events) < page:
            return
        before = min(indexes)


def _journal_index(event: dict[str, Any]) -> int:
    """The journal index an exported AuditEvent names (its id, ``journal-<index>``), at
    most 15 digits as the web application reads it (exact in a JavaScript number)."""
    named = re.fullmatch(r"journal-([0-9]{1,15})", str(event.get("id", "")))
    if named is None:
        raise ExchangeRefused("an exported access record does not name its journal entry")
    return int(named.group(1))


class _EntryWriter:
    """Writes entries of the bundle's ``entry`` array, separated, each validated."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.written: Counter[str] = Counter()

    def _separate(self) -> None:
        if self.written:
            self.out.write(",")

    def resource(self, full_url: str, resource: dict[str, Any]) -> None:
        validated = _validated(resource)
        self._separate()
        self.out.write(json.dumps({"fullUrl": full_url, "resource": validated}, ensure_ascii=False))
        self.written[validated["resourceType"]] += 1

    def binary(self, full_url: str, content_type: str, source: Path) -> tuple[int, str]:
        """A Binary whose data is ``source``'s bytes, written a slice at a time; their
        size and base64 SHA-1."""
        # Validated with a stand-in for its data: the data is the base64 written here.
        stand_in = {"resourceType": "Binary", "contentType": content_type, "data": "AA=="}
        resource = _validated(stand_in)
        resource["data"] = ""
        text = json.dumps({"fullUrl": full_url, "resource": resource}, ensure_ascii=False)
        cut = text.rindex('""') + 1
        self._separate()
        self.out.write(text[:cut])
        digest = hashlib.sha1()  # noqa: S324  FHIR's attachment hash is SHA-1 by definition
        size = 0
        with source.open("rb") as data:
            while piece := data.read(_SLICE):
                digest.update(piece)
                size += len(piece)
                self.out.write(base64.b64encode(piece).decode("ascii"))
        self.out.write(text[cut:])
        self.written["Binary"] += 1
        return size, base64.b64encode(digest.digest()).decode("ascii")


def _validated(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` once its FHIR R4 model takes it (``fhir.resources``), written as it
    is: as the web application writes it, and at the cost of one validation (the
    access history's 10,000 events and more)."""
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or kind not in _RESOURCE_TYPES:
        raise ExchangeRefused(f"the export holds no resource of type {str(kind)[:40]!r}")
    get_fhir_model_class(kind).model_validate(resource)
    return resource


def _write_documents(
    exchange: ExchangeClient,
    writer: _EntryWriter,
    progress: Callable[[int, int], None] | None,
) -> dict[uuid.UUID, str]:
    """Every version of every document about the patient that they hold, as a Binary
    and a DocumentReference; the fullUrl of each document's latest DocumentReference."""
    me = exchange.account.id
    patient = f"Patient/{me}"
    latest: dict[uuid.UUID, str] = {}
    documents = [d for d in exchange.all_documents() if d.patient_id == me]
    with tempfile.TemporaryDirectory(prefix="uhs-export-") as work:
        for done, summary in enumerate(documents, start=1):
            view = exchange.document_view(summary.id)
            previous: str | None = None
            numbers = sorted(v.number for v in view.versions if v.wrapped_key)
            for number in numbers:
                target = Path(work) / f"{summary.id}-{number}"
                received = exchange.fetch(summary.id, target, version=number)
                binary_id = f"urn:uuid:{uuid.uuid4()}"
                reference_id = f"urn:uuid:{uuid.uuid4()}"
                size, sha1 = writer.binary(binary_id, received.metadata.media_type, target)
                target.unlink()
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
                                "url": binary_id,
                                "size": size,
                                # The author's signature was verified on download.
                                "hash": sha1,
                                "title": received.metadata.filename,
                            }
                        }
                    ],
                }
                if previous is not None:
                    reference["relatesTo"] = [
                        {"code": "replaces", "target": {"reference": previous}}
                    ]
                writer.resource(reference_id, reference)
                previous = reference_id
            if previous is not None:
                latest[summary.id] = previous
            if progress is not None:
                progress(done, len(documents))
    return latest


def _write_messages(
    exchange: ExchangeClient, writer: _EntryWriter, documents: dict[uuid.UUID, str]
) -> None:
    """Every message of every thread the patient is in, each decrypted and its
    signature verified as reading it does (``MessagingClient.read``, without a read
    receipt), as a Communication; a thread that fails its checks stops the export."""
    messaging = MessagingClient(exchange)
    me = exchange.account.id
    for listed in messaging.threads():
        thread = messaging.thread(listed["id"])
        members = messaging.members(thread)
        names = {p.account_id: p.display_name or p.email for p in thread.participants}
        people = (
            {a: m.email for a, m in members.items()}
            if members is not None
            else {p.account_id: p.email for p in thread.participants}
        )
        last = 0
        while page := messaging.read(thread.id, after=last, mark_read=False):
            for message in page:
                writer.resource(
                    f"urn:uuid:{uuid.uuid4()}",
                    _communication(thread, message, people, names, me, documents),
                )
            last = page[-1].seq


def _communication(
    thread: ThreadOut,
    message: ReceivedMessage,
    people: dict[uuid.UUID, str],
    names: dict[uuid.UUID, str],
    me: uuid.UUID,
    documents: dict[uuid.UUID, str],
) -> dict[str, Any]:
    def person(account_id: uuid.UUID) -> dict[str, Any]:
        display = names.get(account_id) or people[account_id]
        if account_id == me:
            return {"reference": f"Patient/{me}", "display": display}
        return {
            "identifier": {"system": "urn:uhealthsec:account", "value": str(account_id)},
            "display": display,
        }

    payload: list[dict[str, Any]] = []
    if message.text:
        payload.append({"contentString": message.text})
    for attachment in message.attachments:
        held = documents.get(attachment.document_id)
        target: dict[str, Any] = (
            {"reference": held}
            if held is not None
            else {"identifier": {"system": _DOCUMENT_ID, "value": str(attachment.document_id)}}
        )
        payload.append({"contentReference": {**target, "display": attachment.title}})
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "identifier": [{"system": "urn:uhealthsec:message", "value": str(message.id)}],
        "partOf": [{"identifier": {"system": "urn:uhealthsec:thread", "value": str(thread.id)}}],
        "status": "completed",
        "sent": message.created_at.isoformat(),
        "sender": person(message.sender_id),
        "recipient": [person(a) for a in sorted(people, key=str) if a != message.sender_id],
    }
    if payload:
        resource["payload"] = payload
    return resource


def _served(answer: Any, kind: str) -> list[dict[str, Any]]:
    """The resources of a FHIR Bundle the server answered, each of type ``kind``."""
    entries = answer.get("entry", []) if isinstance(answer, dict) else None
    if not isinstance(entries, list):
        raise ExchangeRefused(f"the server's answer is not a FHIR Bundle of {kind}")
    resources = [e.get("resource") if isinstance(e, dict) else None for e in entries]
    for resource in resources:
        if not isinstance(resource, dict) or resource.get("resourceType") != kind:
            raise ExchangeRefused(f"the server's Bundle of {kind} holds something else")
        if _carries_resources(resource, top=True):
            raise ExchangeRefused(f"the server's {kind} carries other resources within it")
    return resources  # type: ignore[return-value]


#: Keys under which a served resource could carry others (a document with forged bytes
#: among them) or change its own meaning; none is in what the server serves.
_CARRIERS = frozenset({"contained", "modifierExtension"})


def _carries_resources(value: Any, top: bool = False, depth: int = 0) -> bool:
    """Whether ``value`` holds a resource below its top, or a key of ``_CARRIERS``, or
    nests deeper than any resource served here: the patient's copy holds documents only
    as this device verified them."""
    if depth > 16:
        return True
    if isinstance(value, dict):
        if not top and "resourceType" in value:
            return True
        return any(
            k in _CARRIERS or _carries_resources(v, depth=depth + 1) for k, v in value.items()
        )
    if isinstance(value, list):
        return any(_carries_resources(v, depth=depth + 1) for v in value)
    return False


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
