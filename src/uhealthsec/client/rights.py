"""Patient rights requests (GDPR art. 15-21, CSP L1111-7), over an ExchangeClient.

A copy of the file (access, portability, the medical file) is served end to end
encrypted: the practitioner's device unwraps each document key and wraps it for the
patient (``fulfil``), then the patient's device downloads and decrypts everything and
writes the FHIR bundle itself (``uhealthsec.client.portability``).

Answers are checked against the protocol's models (client/wire.py) and returned as
JSON, for the command line that prints them.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx2
from pydantic import BaseModel

from uhealthsec.client.exchange import ExchangeClient, ExchangeRefused
from uhealthsec.client.wire import body, parse
from uhealthsec.protocol.consent import (
    AccountDeletionIn,
    AccountDeletionOut,
    NoteIn,
    ReasonIn,
    Right,
    RightsRequestIn,
    RightsRequestOut,
)

#: The words the server asks for before it deletes an account.
DELETION_CONFIRMATION = "delete my account"


class RightsClient:
    def __init__(self, exchange: ExchangeClient) -> None:
        self.exchange = exchange

    # -- patients -------------------------------------------------------------------------

    def ask(self, practice_id: uuid.UUID | str, right: str) -> dict[str, Any]:
        request = RightsRequestIn(practice_id=uuid.UUID(str(practice_id)), right=Right(right))
        return self._post("/rights-requests", request)

    def mine(self) -> list[dict[str, Any]]:
        return _requests(self.exchange.call("GET", "/rights-requests"))

    def withdraw(self, request_id: uuid.UUID | str) -> dict[str, Any]:
        return self._post(f"/rights-requests/{request_id}/withdraw")

    def lift(self, request_id: uuid.UUID | str) -> dict[str, Any]:
        return self._post(f"/rights-requests/{request_id}/lift")

    def deletion_preview(self) -> dict[str, Any]:
        """What deleting your account would erase and keep, and until when."""
        answer = self.exchange.call("GET", "/accounts/me/deletion")
        return _deletion(answer)

    def delete_account(self) -> dict[str, Any]:
        """Delete your account (a step-up first: a second factor in the last minutes).
        The answer lists what was erased and what is kept, until when."""
        confirm = AccountDeletionIn(confirm=DELETION_CONFIRMATION)
        return _deletion(self.exchange.call("POST", "/accounts/me/deletion", json=body(confirm)))

    # -- practitioners --------------------------------------------------------------------

    def of_practice(
        self, practice_id: uuid.UUID | str, *, handled: bool = False
    ) -> list[dict[str, Any]]:
        params = {"handled": "true"} if handled else {}
        path = f"/practices/{practice_id}/rights-requests"
        return _requests(self.exchange.call("GET", path, params=params))

    def extend(self, request_id: uuid.UUID | str, reason: str) -> dict[str, Any]:
        return self._post(f"/rights-requests/{request_id}/extend", ReasonIn(reason=reason))

    def complete(self, request_id: uuid.UUID | str, note: str | None = None) -> dict[str, Any]:
        return self._post(f"/rights-requests/{request_id}/complete", NoteIn(note=note))

    def refuse(self, request_id: uuid.UUID | str, reason: str) -> dict[str, Any]:
        return self._post(f"/rights-requests/{request_id}/refuse", ReasonIn(reason=reason))

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

    def _post(self, path: str, request: BaseModel | None = None) -> dict[str, Any]:
        # No body at all for actions that take none: the signature covers the body.
        kwargs = {} if request is None else {"json": body(request)}
        answer = self.exchange.call("POST", path, **kwargs)
        return parse(RightsRequestOut, answer, ExchangeRefused, "a rights request").model_dump(
            mode="json"
        )


def _requests(answer: httpx2.Response) -> list[dict[str, Any]]:
    served = parse(list[RightsRequestOut], answer, ExchangeRefused, "the rights requests")
    return [request.model_dump(mode="json") for request in served]


def _deletion(answer: httpx2.Response) -> dict[str, Any]:
    served = parse(AccountDeletionOut, answer, ExchangeRefused, "an account deletion")
    return served.model_dump(mode="json")
