"""Every refusal the client makes, under one base.

A program using the SDK catches ``ClientError`` to handle anything the client refused,
whether the server said no (``ApiError``) or this device did (a proof that does not
hold, a document that fails its checks, a password too weak to send). Messages say
what failed for the user, never a key, a password or plaintext. The cryptographic
core's own refusals (``uhealthsec.crypto.errors.CryptoError``) stay separate: the
client turns those it meets into one of these where it knows what they mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uhealthsec.client.journal import Gap


class ClientError(Exception):
    """Base class: the client refused, or was refused, what it was asked to do."""


class ApiError(ClientError):
    """The server refused a request; ``detail`` is its explanation for the user."""

    def __init__(self, status: int, detail: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.body = body or {}


class NoKeysPublished(ApiError):
    """Addresses the key directory holds no keys for, or none this account may see: the
    single lookup's 404, for each address of a batch at once."""

    def __init__(self, addresses: list[str]) -> None:
        super().__init__(404, f"no keys are published for {', '.join(addresses)}")
        self.addresses = addresses


class SecondFactorRequired(ApiError):
    """The address had too many failed sign-ins: send a TOTP or recovery code with the
    password (``start_login(..., second_factor={"totp_code": ...})``)."""


class MalformedAnswer(ClientError):
    """The server answered a sign-in or registration call in a shape the protocol does
    not have (protocol/signin.py): nothing of that answer was used."""


class WeakPassword(ClientError):
    """A new password this device will not send: ``str(error)`` says why."""


class UnsolvableChallenge(ClientError):
    """The server's proof of work is unknown, malformed, or costs more than the client pays."""


class ExchangeRefused(ClientError):
    """A document failed a check on this device (signature, key, integrity)."""


class PatientCopyRefused(ExchangeRefused):
    """A document went to its other readers, but its patient's copy could not be left
    to wait for them (R28: no open invitation, the server refused the pending share)."""

    def __init__(self, message: str, document_id: object) -> None:
        super().__init__(message)
        #: The document sent (a uuid.UUID).
        self.document_id = document_id


class LogRefused(ClientError):
    """A log could not prove what it said; nothing it served was trusted."""


class DirectoryRefused(LogRefused):
    """The key directory could not prove what it said; nothing was sent or trusted."""


class JournalTampered(LogRefused):
    """The journal the server serves is not the one it signed."""


class HistoryIncomplete(JournalTampered):
    """The server left entries out of a history whose chain proves they exist."""

    def __init__(self, gaps: Sequence[Gap]) -> None:
        self.gaps = list(gaps)
        super().__init__(
            "the history the server served is incomplete: it lacks "
            + "; ".join(str(g) for g in gaps)
        )
