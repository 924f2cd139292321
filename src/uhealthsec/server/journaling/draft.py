"""The journal's draft of the request being handled: what its entry will say.

Infrastructure, like storage/ and security/: every domain fills the draft in (who
acted, about which patient, on which objects) and none of them imports the journal
for it; the journal's middleware (audit/middleware.py) opens the draft when a
request arrives and appends the entry from it when the answer starts. This package
imports no domain.
"""

from __future__ import annotations

import hashlib
import uuid
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

from uhealthsec.crypto.journal import (
    NOBODY,
    ObjectKind,
    RequestSignature,
    request_digest,
    signed_request_digest,
)


@dataclass
class JournalDraft:
    """What a request's entry will say, filled in while the request is handled."""

    actor: uuid.UUID = NOBODY
    client: str = ""
    patients: list[uuid.UUID] = field(default_factory=list)
    practice_id: uuid.UUID | None = None
    objects: list[tuple[ObjectKind, uuid.UUID]] = field(default_factory=list)
    method: str = "GET"
    target: str = "/"
    #: SHA-256 of the request body, fed as the application reads it.
    body: Any = field(default_factory=hashlib.sha256)
    #: The SHA-256 a streamed body (an upload) declared in its ``Content-Digest``
    #: (RFC 9530), which the request digest takes before the body is read: its route
    #: refuses a body that does not hash to it.
    declared_body: bytes | None = None
    #: The client's signature over the request digest, once verified.
    signature: RequestSignature | None = None
    #: When the client signed the request (ms since the epoch) and its single-use value
    #: (its Idempotency-Key, or empty), which a signed request's digest covers.
    signed_at_ms: int = 0
    nonce: str = ""
    #: Reads of personal data a request that is no GET makes (a batched lookup of the
    #: key directory: one for each patient's entry it shows), counted against the
    #: account's allowance as that many GETs would be (a GET counts as one).
    reads: int = 0
    #: Counted against the read budgets past the allowance (R27, audit/read_budgets.py);
    #: not a directory monitor's audit of the log, which the operator asked for.
    budgeted: bool = True
    #: Journaled whatever happens (a change, or a read of personal data by its path);
    #: other reads are journaled once marked as about a patient.
    listed: bool = True
    #: The entry staged with the request's committed change (audit/outbox.py).
    outbox_id: uuid.UUID | None = None
    #: The request repeats a write carried out before (server/idempotency/): it makes
    #: no entry, and is answered with the receipt of the entry staged as ``replay_of``.
    replayed: bool = False
    replay_of: uuid.UUID | None = None

    def request_digest(self) -> bytes:
        """The digest of the request as read so far (all of it, once the body is parsed):
        once its signature is verified, the signed digest it covers."""
        if self.signature is not None:
            return self.signed_digest()
        return request_digest(self.method, self.target, self._body_digest())

    def signed_digest(self) -> bytes:
        """The digest a client signs for this request, at ``signed_at_ms`` with ``nonce``."""
        return signed_request_digest(
            self.method, self.target, self._body_digest(), self.signed_at_ms, self.nonce
        )

    def _body_digest(self) -> bytes:
        return self.declared_body if self.declared_body is not None else self.body.copy().digest()

    def note(self, kind: ObjectKind, object_id: uuid.UUID) -> None:
        if (kind, object_id) not in self.objects:
            self.objects.append((kind, object_id))

    def about_patient(self, patient_id: uuid.UUID, practice_id: uuid.UUID | None) -> None:
        """The request reads or changes this patient's data (in this practice)."""
        if patient_id not in self.patients:
            self.patients.append(patient_id)
        self.note(ObjectKind.PATIENT, patient_id)
        if practice_id is not None:
            self.practice_id = self.practice_id or practice_id
            self.note(ObjectKind.PRACTICE, practice_id)

    def about_practice(self, practice_id: uuid.UUID) -> None:
        """The request reads or changes what the practice's journal lists."""
        self.practice_id = self.practice_id or practice_id
        self.note(ObjectKind.PRACTICE, practice_id)


_CURRENT: ContextVar[JournalDraft | None] = ContextVar("journal_draft", default=None)


def in_journaled_request() -> bool:
    draft = _CURRENT.get()
    return draft is not None and draft.listed


def request_draft() -> JournalDraft | None:
    """The draft of the request being handled, if there is one."""
    return _CURRENT.get()


def current_draft() -> JournalDraft:
    """The draft of the request being handled, or a throwaway one outside requests."""
    return _CURRENT.get() or JournalDraft()


def open_draft(draft: JournalDraft) -> Token[JournalDraft | None]:
    """Make ``draft`` the draft of the request being handled (the journal's middleware)."""
    return _CURRENT.set(draft)


def close_draft(token: Token[JournalDraft | None]) -> None:
    _CURRENT.reset(token)
