"""The patient's directives as FHIR R4 Consent resources.

Built as plain data and validated with ``fhir.resources`` (its R4B models, whose
Consent is R4's). Codes come from HL7 terminology: the consent scope
(patient-privacy, research), LOINC 59284-0 "Patient Consent", the opt-in/opt-out
policy codes of v3-ActCode, and the purposes TREAT and HRESCH of v3-ActReason. A
research consent names its study: a ``ResearchStudy`` reference by identifier (R4's
Consent has no element for it, hence an extension), the study as a second
``provision.purpose`` coding, and the study's dates as ``provision.period``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.task import Task

from uhealthsec.protocol.consent import Purpose, RequestStatus, RightsRequestOut
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.consent.models import ConsentDirective, ResearchStudy

_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
_IDENTIFIER = "urn:uhealthsec:consent-directive"
_STUDY = "urn:uhealthsec:research-study"


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def consent_resource(
    directive: ConsentDirective, recipient: Account | None, study: ResearchStudy | None = None
) -> dict[str, Any]:
    """One directive as a validated FHIR R4 Consent."""
    research = directive.purpose == Purpose.RESEARCH
    scope = ("research", "Research") if research else ("patient-privacy", "Privacy Consent")
    # The care team shares unless the patient opts out; anyone else needs an opt-in.
    policy = (
        ("OPTOUT", "opt-out") if directive.purpose == Purpose.CARE_TEAM else ("OPTIN", "opt-in")
    )
    purpose = (
        {"system": _ACT_REASON, "code": "HRESCH", "display": "healthcare research"}
        if research
        else {"system": _ACT_REASON, "code": "TREAT", "display": "treatment"}
    )
    provision: dict[str, Any] = {"type": directive.decision, "purpose": [purpose]}
    extensions: list[dict[str, Any]] = [
        {"url": "urn:uhealthsec:consent-purpose", "valueCode": directive.purpose}
    ]
    if study is not None:
        provision["purpose"].append(
            {"system": _STUDY, "code": str(study.id), "display": study.title}
        )
        provision["period"] = {
            "start": study.starts_on.isoformat(),
            "end": study.ends_on.isoformat(),
        }
        extensions.append(
            {
                "url": _STUDY,
                "valueReference": {
                    "type": "ResearchStudy",
                    "identifier": {"system": _STUDY, "value": str(study.id)},
                    "display": f"{study.title} ({study.sponsor}; {_framework(study)})",
                },
            }
        )
    if recipient is not None:
        provision["actor"] = [
            {
                "role": _coding(_PARTICIPATION, "IRCP", "information recipient"),
                "reference": {
                    "reference": f"Practitioner/{recipient.id}",
                    "display": recipient.display_name,
                },
            }
        ]
    resource = {
        "resourceType": "Consent",
        "id": str(directive.id),
        "meta": {"versionId": str(directive.version)},
        "identifier": [{"system": _IDENTIFIER, "value": str(directive.id)}],
        "status": "active" if directive.superseded_at is None else "inactive",
        "scope": _coding(_SCOPE, *scope),
        "category": [_coding("http://loinc.org", "59284-0", "Patient Consent")],
        "patient": {"reference": f"Patient/{directive.patient_id}"},
        "dateTime": directive.created_at.isoformat(),
        "organization": [{"reference": f"Organization/{directive.practice_id}"}],
        "policyRule": _coding(_ACT_CODE, *policy),
        "provision": provision,
        "extension": extensions,
    }
    validated: dict[str, Any] = Consent.model_validate(resource).model_dump(
        mode="json", exclude_none=True
    )
    return validated


def _framework(study: ResearchStudy) -> str:
    if study.authorisation is not None:
        return f"CNIL authorisation {study.authorisation}"
    return f"CNIL reference methodology {study.methodology}"


def consent_bundle(
    directives: Iterable[tuple[ConsentDirective, Account | None, ResearchStudy | None]],
) -> dict[str, Any]:
    """A FHIR R4 collection Bundle of Consent resources, validated."""
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{directive.id}",
                "resource": consent_resource(directive, recipient, study),
            }
            for directive, recipient, study in directives
        ],
    }
    validated: dict[str, Any] = Bundle.model_validate(bundle).model_dump(
        mode="json", exclude_none=True
    )
    return validated


#: A rights request's status as a FHIR Task's: pending is requested; extended is in
#: progress (the practice took it on and moved the deadline, with reasons).
_TASK_STATUS = {
    RequestStatus.PENDING: "requested",
    RequestStatus.EXTENDED: "in-progress",
    RequestStatus.DONE: "completed",
    RequestStatus.REFUSED: "rejected",
    RequestStatus.WITHDRAWN: "cancelled",
}
_RIGHTS = "urn:uhealthsec:rights-request"


def rights_request_task(request: RightsRequestOut) -> dict[str, Any]:
    """One rights request and its answer as a validated FHIR R4 Task: the right
    (``code``), the article that gives it (``description``), when it was asked
    (``authoredOn``) and answered (``lastModified``), the window the answer is due in
    (``restriction.period``), the practice's reasons (``statusReason``) and, as
    ``output``, what the answer set: the day erasure starts, the end of a restriction,
    an extension."""
    outputs = [
        (name, value)
        for name, value in (
            ("extended-at", request.extended_at),
            ("erasure-from", request.erasure_from),
            ("lifted-at", request.lifted_at),
        )
        if value is not None
    ]
    period: dict[str, str] = {"end": request.due_at.isoformat()}
    if request.earliest_at is not None:
        period["start"] = request.earliest_at.isoformat()
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": str(request.id),
        "identifier": [{"system": _RIGHTS, "value": str(request.id)}],
        "status": _TASK_STATUS[request.status],
        "intent": "order",
        "code": {"coding": [{"system": f"{_RIGHTS}:right", "code": request.right.value}]},
        "description": request.citation,
        "for": {"reference": f"Patient/{request.patient_id}"},
        "requester": {"reference": f"Patient/{request.patient_id}"},
        "owner": {"reference": f"Organization/{request.practice_id}"},
        "authoredOn": request.received_at.isoformat(),
        "restriction": {"period": period},
        "extension": [{"url": f"{_RIGHTS}:overdue", "valueBoolean": request.overdue}],
    }
    if request.handled_at is not None:
        resource["lastModified"] = request.handled_at.isoformat()
    if request.reason is not None:
        resource["statusReason"] = {"text": request.reason}
    if outputs:
        resource["output"] = [
            {
                "type": {"coding": [{"system": _RIGHTS, "code": name}]},
                **(
                    {"valueDateTime": value.isoformat()}
                    if hasattr(value, "hour")
                    else {"valueDate": value.isoformat()}
                ),
            }
            for name, value in outputs
        ]
    validated: dict[str, Any] = Task.model_validate(resource).model_dump(
        mode="json", exclude_none=True
    )
    return validated


def rights_request_bundle(requests: Iterable[RightsRequestOut]) -> dict[str, Any]:
    """A FHIR R4 collection Bundle of the patient's rights requests as Task, validated."""
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:uuid:{r.id}", "resource": rights_request_task(r)} for r in requests
        ],
    }
    validated: dict[str, Any] = Bundle.model_validate(bundle).model_dump(
        mode="json", exclude_none=True
    )
    return validated
