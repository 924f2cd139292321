"""The compliance dashboard of a practice, over an ExchangeClient: what its admin shows
an inspector, as JSON or as the server's dated PDF report; and the operators' view
across practices.

Nothing here is encrypted or verified: the dashboard is the server's account of the
practice, computed from its own tables; the journal's proofs are what a client checks."""

from __future__ import annotations

import uuid
from typing import Any

from uhealthsec.client.errors import MalformedAnswer
from uhealthsec.client.exchange import ExchangeClient

ID = uuid.UUID | str
#: The largest report taken: a few pages of text are some kilobytes.
MAX_REPORT = 5_000_000


class ComplianceClient:
    def __init__(self, exchange: ExchangeClient) -> None:
        self.exchange = exchange

    def dashboard(self, practice_id: ID) -> dict[str, Any]:
        """Each line's status (ok, watch, late), its rule, summary, details and facts."""
        answer = self.exchange.call("GET", f"/practices/{uuid.UUID(str(practice_id))}/compliance")
        return answer.json()  # type: ignore[no-any-return]

    def report(self, practice_id: ID) -> bytes:
        """The dashboard as the server's dated PDF report, in French."""
        answer = self.exchange.call(
            "GET",
            f"/practices/{uuid.UUID(str(practice_id))}/compliance",
            params={"format": "pdf"},
        )
        content = answer.content
        kind = answer.headers.get("content-type", "").split(";")[0].strip()
        if kind != "application/pdf" or not content.startswith(b"%PDF-"):
            raise MalformedAnswer("the server's compliance report is not a PDF")
        if len(content) > MAX_REPORT:
            raise MalformedAnswer("the server's compliance report is implausibly large")
        return content

    def all_practices(self, after: ID | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """(Operators) Every practice's dashboard, by practice id, ``limit`` after ``after``."""
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = str(uuid.UUID(str(after)))
        answer = self.exchange.call("GET", "/compliance/practices", params=params)
        return answer.json()  # type: ignore[no-any-return]
