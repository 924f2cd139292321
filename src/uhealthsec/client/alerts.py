"""Anomaly alerts (R22), over an ExchangeClient: what a practice's admin lists,
dismisses with a reason, or turns into an incident of the breach register, and the
practice's thresholds.

Nothing here is encrypted or verified: alerts are the server's reading of its own
journal; answers are returned as JSON for the command line."""

from __future__ import annotations

import uuid
from typing import Any

from uhealthsec.client.exchange import ExchangeClient

ID = uuid.UUID | str


class AlertClient:
    def __init__(self, exchange: ExchangeClient) -> None:
        self.exchange = exchange

    def alerts(
        self, practice_id: ID, status: str = "open", before: ID | None = None
    ) -> list[dict[str, Any]]:
        """The practice's alerts: ``open`` (default), ``dismissed``, ``incident`` or ``all``,
        newest first, a page at a time: ``before`` is the last alert of the previous page."""
        params = {"status": status}
        if before is not None:
            params["before"] = str(uuid.UUID(str(before)))
        answer = self.exchange.call("GET", f"/practices/{practice_id}/alerts", params=params)
        return answer.json()  # type: ignore[no-any-return]

    def dismiss(self, alert_id: ID, reason: str) -> dict[str, Any]:
        """Close an open alert as no breach; the reason is a sentence."""
        return self._json("POST", f"/alerts/{alert_id}/dismissal", {"reason": reason})

    def open_incident(
        self, alert_id: ID, nature: list[str] | None = None, description: str | None = None
    ) -> dict[str, Any]:
        """Open an incident from an open alert; the alert comes back with its id."""
        request: dict[str, Any] = {}
        if nature:
            request["nature"] = nature
        if description:
            request["description"] = description
        return self._json("POST", f"/alerts/{alert_id}/incident", request)

    def thresholds(self, practice_id: ID) -> dict[str, Any]:
        return self._json("GET", f"/practices/{practice_id}/anomaly-settings")

    def tune(self, practice_id: ID, **thresholds: Any) -> dict[str, Any]:
        """Set the practice's thresholds; those left out take their defaults."""
        return self._json("PUT", f"/practices/{practice_id}/anomaly-settings", thresholds)

    def _json(self, method: str, path: str, request: dict[str, Any] | None = None) -> Any:
        kwargs = {} if request is None else {"json": request}
        return self.exchange.call(method, path, **kwargs).json()
