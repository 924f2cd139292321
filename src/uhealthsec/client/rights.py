"""Patient rights requests (GDPR art. 15-21, CSP L1111-7), over an ExchangeClient.

A copy of the file (access, portability, the medical file) is served end to end
encrypted: the practitioner's device unwraps each document key and wraps it for the
patient (``fulfil``), then the patient's device downloads and decrypts everything and
writes the FHIR bundle itself (``uhealthsec.client.portability``).
"""

from __future__ import annotations

import uuid
from typing import Any

from uhealthsec.client.exchange import ExchangeClient


class RightsClient:
    def __init__(self, exchange: ExchangeClient) -> None:
        self.exchange = exchange

    # -- patients -------------------------------------------------------------------------

    def ask(self, practice_id: uuid.UUID | str, right: str) -> dict[str, Any]:
        body = {"practice_id": str(practice_id), "right": right}
        return self._post("/rights-requests", body)

    def mine(self) -> list[dict[str, Any]]:
        return self.exchange.call("GET", "/rights-requests").json()  # type: ignore[no-any-return]

    def withdraw(self, request_id: uuid.UUID | str) -> dict[str, Any]:
        return self._post(f"/rights-requests/{request_id}/withdraw")

    def lift(self, request_id: uuid.UUID | str) -> dict[str, Any]:
        return self._post(f"/rights-requests/{request_id}/lift")

    # -- practitioners --------------------------------------------------------------------

    def of_practice(
        self, practice_id: uuid.UUID | str, *, handled: bool = False
    ) -> list[dict[str, Any]]:
        params = {"handled": "true"} if handled else {}
        return self.exchange.call(  # type: ignore[no-any-return]
            "GET", f"/practices/{practice_id}/rights-requests", params=params
        ).json()

    def extend(self, request_id: uuid.UUID | str, reason: str) -> dict[str, Any]:
        return self._post(f"/rights-requests/{request_id}/extend", {"reason": reason})

    def complete(self, request_id: uuid.UUID | str, note: str | None = None) -> dict[str, Any]:
        return self._post(f"/rights-requests/{request_id}/complete", {"note": note})

    def refuse(self, request_id: uuid.UUID | str, reason: str) -> dict[str, Any]:
        return self._post(f"/rights-requests/{request_id}/refuse", {"reason": reason})

    def fulfil(self, request: dict[str, Any]) -> int:
        """Share every version you can read of the file's documents with the patient
        (each key re-wrapped on this device); returns how many documents. Complete the
        request afterwards: the server checks that nothing is missing."""
        shared = 0
        for summary in list(self.exchange.all_documents()):
            if str(summary.patient_file_id) == request["patient_file_id"]:
                self.exchange.share(summary.id, [request["patient_email"]])
                shared += 1
        return shared

    def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        # No body at all for actions that take none: the signature covers the body.
        kwargs = {} if body is None else {"json": body}
        return self.exchange.call("POST", path, **kwargs).json()  # type: ignore[no-any-return]
