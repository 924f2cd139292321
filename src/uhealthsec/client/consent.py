"""The patient's consent directives (CSP L1110-4, GDPR art. 7), over an ExchangeClient.

Answers are checked against the protocol's models (client/wire.py) and returned as
JSON, for the command line that prints them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx2

from uhealthsec.client.exchange import ExchangeClient, ExchangeRefused
from uhealthsec.client.wire import body, parse
from uhealthsec.protocol.consent import (
    Decision,
    DirectiveIn,
    DirectiveOut,
    DirectiveRecordedOut,
    Purpose,
)


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
        request = DirectiveIn(
            practice_id=uuid.UUID(str(practice_id)),
            purpose=Purpose(purpose),
            decision=Decision(decision),
            recipient_email=recipient_email,
        )
        answer = self.exchange.call("POST", "/consents", json=body(request))
        return parse(DirectiveRecordedOut, answer, ExchangeRefused, "a directive").model_dump(
            mode="json"
        )

    def directives(
        self, practice_id: uuid.UUID | str | None = None, *, history: bool = False
    ) -> list[dict[str, Any]]:
        params: dict[str, str] = {"history": "true"} if history else {}
        if practice_id is not None:
            params["practice_id"] = str(practice_id)
        return self._directives(self.exchange.call("GET", "/consents", params=params))

    def fhir(self) -> dict[str, Any]:
        """Every version of your directives as a FHIR R4 Bundle of Consent."""
        return self.exchange.call("GET", "/consents/fhir").json()  # type: ignore[no-any-return]

    def of_patient_file(self, patient_file_id: uuid.UUID | str) -> list[dict[str, Any]]:
        """The directives in force for a patient file (its practice's members)."""
        return self._directives(
            self.exchange.call("GET", f"/patient-files/{patient_file_id}/consents")
        )

    @staticmethod
    def _directives(answer: httpx2.Response) -> list[dict[str, Any]]:
        served = parse(list[DirectiveOut], answer, ExchangeRefused, "the directives")
        return [directive.model_dump(mode="json") for directive in served]
