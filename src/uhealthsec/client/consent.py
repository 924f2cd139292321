"""The patient's consent directives (CSP L1110-4, GDPR art. 7), over an ExchangeClient."""

from __future__ import annotations

import uuid
from typing import Any

from uhealthsec.client.exchange import ExchangeClient


class ConsentClient:
    def __init__(self, exchange: ExchangeClient) -> None:
        self.exchange = exchange

    def decide(
        self,
        practice_id: uuid.UUID | str,
        purpose: str,
        decision: str,
        recipient_email: str | None = None,
    ) -> dict[str, Any]:
        """Record a directive (patients): ``purpose`` is care_team, outside_team or
        research; ``decision`` permit or deny. Returns it with the shares it ended."""
        body = {
            "practice_id": str(practice_id),
            "purpose": purpose,
            "decision": decision,
            "recipient_email": recipient_email,
        }
        return self.exchange.call("POST", "/consents", json=body).json()  # type: ignore[no-any-return]

    def directives(
        self, practice_id: uuid.UUID | str | None = None, *, history: bool = False
    ) -> list[dict[str, Any]]:
        params: dict[str, str] = {"history": "true"} if history else {}
        if practice_id is not None:
            params["practice_id"] = str(practice_id)
        return self.exchange.call("GET", "/consents", params=params).json()  # type: ignore[no-any-return]

    def fhir(self) -> dict[str, Any]:
        """Every version of your directives as a FHIR R4 Bundle of Consent."""
        return self.exchange.call("GET", "/consents/fhir").json()  # type: ignore[no-any-return]

    def of_patient_file(self, patient_file_id: uuid.UUID | str) -> list[dict[str, Any]]:
        """The directives in force for a patient file (its practice's members)."""
        return self.exchange.call(  # type: ignore[no-any-return]
            "GET", f"/patient-files/{patient_file_id}/consents"
        ).json()
