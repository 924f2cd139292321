"""The breach register (GDPR art. 33 and 34), over an ExchangeClient: what a practice's
admin records, counts, notifies and decides, and the notices a patient was sent.

Nothing here is encrypted or verified: the register is the practice's own record,
kept by the server; answers are returned as JSON for the command line."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from uhealthsec.client.exchange import ExchangeClient

ID = uuid.UUID | str


class IncidentClient:
    def __init__(self, exchange: ExchangeClient) -> None:
        self.exchange = exchange

    def open(self, practice_id: ID, **fields: Any) -> dict[str, Any]:
        """Open an incident: ``nature`` (a list of confidentiality, integrity,
        availability) and ``description`` at least; ``aware_at`` defaults to now."""
        return self._json("POST", f"/practices/{practice_id}/incidents", _fields(fields))

    def register(self, practice_id: ID) -> list[dict[str, Any]]:
        return self._json("GET", f"/practices/{practice_id}/incidents")  # type: ignore[no-any-return]

    def show(self, incident_id: ID) -> dict[str, Any]:
        return self._json("GET", f"/incidents/{incident_id}")

    def update(self, incident_id: ID, **fields: Any) -> dict[str, Any]:
        return self._json("PUT", f"/incidents/{incident_id}", _fields(fields))

    def count(
        self,
        incident_id: ID,
        since: datetime,
        until: datetime | None = None,
        accounts: list[ID] | None = None,
    ) -> dict[str, Any]:
        """Count from the journal the patients and documents reached in [since, until)
        (until the server's now if None), by ``accounts`` only if given."""
        request: dict[str, Any] = {"since": since.isoformat()}
        if until is not None:
            request["until"] = until.isoformat()
        if accounts:
            request["accounts"] = [str(a) for a in accounts]
        return self._json("POST", f"/incidents/{incident_id}/count", request)

    def notify(
        self,
        incident_id: ID,
        *,
        complementary: bool = False,
        complement: str = "",
        delay_reasons: str = "",
    ) -> dict[str, Any]:
        """Record the notification to the CNIL made now (initial, or a complement)."""
        request = {
            "complementary": complementary,
            "complement": complement,
            "delay_reasons": delay_reasons,
        }
        return self._json("POST", f"/incidents/{incident_id}/notifications", request)

    def decide(self, incident_id: ID, decision: str, reason: str = "") -> dict[str, Any]:
        """Art. 33: ``notifiable`` or ``not_notifiable`` (with a written reason)."""
        request = {"decision": decision, "reason": reason}
        return self._json("POST", f"/incidents/{incident_id}/decision", request)

    def decide_people(
        self, incident_id: ID, decision: str, reason: str = "", message: str = ""
    ) -> dict[str, Any]:
        """Art. 34: ``tell``, ``unintelligible`` (34(3)(a)) or ``no_high_risk``."""
        request = {"decision": decision, "reason": reason, "message": message}
        return self._json("POST", f"/incidents/{incident_id}/people-decision", request)

    def export(self, incident_id: ID, output_format: str = "json") -> Any:
        """The CNIL form: a dict (json) or Markdown text (md)."""
        answer = self.exchange.call(
            "GET", f"/incidents/{incident_id}/export", params={"format": output_format}
        )
        return answer.text if output_format == "md" else answer.json()

    def my_notices(self) -> list[dict[str, Any]]:
        return self._json("GET", "/incident-notices")  # type: ignore[no-any-return]

    def _json(self, method: str, path: str, request: dict[str, Any] | None = None) -> Any:
        kwargs = {} if request is None else {"json": request}
        return self.exchange.call(method, path, **kwargs).json()


def _fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields given, times as ISO 8601."""
    return {
        k: v.isoformat() if isinstance(v, datetime) else v
        for k, v in fields.items()
        if v is not None
    }
