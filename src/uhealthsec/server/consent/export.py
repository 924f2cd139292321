"""The patient's directives as FHIR R4 Consent resources.

Built as plain data and validated with ``fhir.resources`` (its R4B models, whose
Consent is R4's). Codes come from HL7 terminology: the consent scope
(patient-privacy, research), LOINC 59284-0 "Patient Consent", the opt-in/opt-out
policy codes of v3-ActCode, and the purposes TREAT and HRESCH of v3-ActReason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent

from uhealthsec.protocol.consent import Purpose
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.consent.models import ConsentDirective

_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
_IDENTIFIER = "urn:uhealthsec:consent-directive"


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def consent_resource(directive: ConsentDirective, recipient: Account | None) -> dict[str, Any]:
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
        "extension": [
            {
                "url": "urn:uhealthsec:consent-purpose",
                "valueCode": directive.purpose,
            }
        ],
    }
    validated: dict[str, Any] = Consent.model_validate(resource).model_dump(
        mode="json", exclude_none=True
    )
    return validated


def consent_bundle(
    directives: Iterable[tuple[ConsentDirective, Account | None]],
) -> dict[str, Any]:
    """A FHIR R4 collection Bundle of Consent resources, validated."""
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{directive.id}",
                "resource": consent_resource(directive, recipient),
            }
            for directive, recipient in directives
        ],
    }
    validated: dict[str, Any] = Bundle.model_validate(bundle).model_dump(
        mode="json", exclude_none=True
    )
    return validated
