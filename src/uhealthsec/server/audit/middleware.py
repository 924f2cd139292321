"""Journaling every state-changing request and every read of health data.

A pure ASGI middleware opens a *draft* for the request (server/journaling/draft.py:
a context variable that the authentication dependency and the services fill in:
who, which patient, which objects), hashes the request body as the application
reads it, and when the response starts (its status is then known) appends the entry
through the journal writer. The response carries the entry and its inclusion proof in headers:

    UHS-Journal-Entry: <base64url entry>
    UHS-Journal-Proof: <index>;<tree size>;<base64url hash>,<base64url hash>,...

Denied and refused requests of a signed-in account are journaled as well, with their
outcome, up to an allowance per account; refusals of requests nobody signed in are not
(audit/refusals.py); all are counted.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from uhealthsec.crypto.journal import (
    NOBODY,
    JournalEntry,
    ObjectKind,
    Outcome,
)
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.server.audit.actions import UNKNOWN, route_action
from uhealthsec.server.audit.refusals import RefusalLog
from uhealthsec.server.audit.writer import (
    JournalWriter,
    PendingEntry,
    ReadAllowanceSpent,
    Receipt,
)
from uhealthsec.server.journaling.draft import JournalDraft, close_draft, open_draft
from uhealthsec.server.problems import answer_status, problem

#: Reads that are journaled although they change nothing: they show personal data.
#: Any other read is journaled too once a service marks it as about a patient (a
#: patient's directory entry, for instance): see ``JournalDraft.about_patient``.
JOURNALED_READ_PREFIXES = (
    "/documents",
    "/patient-files",
    "/threads",
    "/accounts/me/keystore",
    "/journal/history",
    "/journal/entries",
    "/rights-requests",
    "/consents",
    # The operators' view of every practice's compliance dashboard (members named).
    "/compliance",
)
#: Reads of a practice's personal data: ``/practices/{id}/<one of these>``.
JOURNALED_PRACTICE_READS = frozenset({"compliance", "journal", "members", "rights-requests"})
UNJOURNALED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Reads sent as POST (a body too long for a query): journaled as the GET they stand
#: for would be, only once marked as about a patient.
READS_BY_POST = frozenset({"/keys/lookups"})

logger = logging.getLogger(__name__)

#: Path parameters that name objects, and what they name.
_PATH_OBJECTS = {
    "document_id": ObjectKind.DOCUMENT,
    "thread_id": ObjectKind.THREAD,
    "practice_id": ObjectKind.PRACTICE,
    "account_id": ObjectKind.ACCOUNT,
    "recipient_id": ObjectKind.ACCOUNT,
    "session_id": ObjectKind.SESSION,
    "identity_id": ObjectKind.ACCOUNT,
}


def journaled(method: str, path: str) -> bool:
    if method == "POST" and path in READS_BY_POST:
        return False
    if method not in UNJOURNALED_METHODS:
        return True
    if method != "GET":
        return False
    parts = path.split("/")
    if len(parts) > 3 and parts[1] == "practices":
        return parts[3] in JOURNALED_PRACTICE_READS
    return path.startswith(JOURNALED_READ_PREFIXES)


def action_name(scope: Scope) -> str:
    """The action of the route the request reached, from the written table
    (audit/actions.py), e.g. ``records.share``."""
    route = scope.get("route")
    if route is None:
        return UNKNOWN
    return route_action(scope["method"], route.path, route.methods or set())


class JournalMiddleware:
    def __init__(self, app: ASGIApp, writer: JournalWriter, clock: Any) -> None:
        self.app = app
        self.writer = writer
        self.clock = clock
        self.refusals = RefusalLog(writer.sessions, clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string") or b""
        draft = JournalDraft(
            method=scope["method"],
            target=scope["path"] + ("?" + query.decode("latin-1") if query else ""),
            listed=journaled(scope["method"], scope["path"]),
        )
        token = open_draft(draft)

        async def hashing_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                draft.body.update(message.get("body", b""))
            return message

        withheld = False
        #: The status journaled as answered, once the answer has started; whether its
        #: last part was sent.
        journaled_status: int | None = None
        delivered = False

        async def journaling_send(message: Message) -> None:
            nonlocal withheld, journaled_status, delivered
            if message["type"] == "http.response.body" and not message.get("more_body"):
                delivered = True
            if withheld:
                return  # the body of a read refused past the account's allowance
            # Requests that matched no route (scanners, typos) are not actions; requests
            # the shield throttled (429) never reached one, and are counted in its
            # metrics: journaling them would let a botnet grow the journal at will.
            if (
                message["type"] == "http.response.start"
                and (draft.listed or draft.patients)
                and scope.get("endpoint") is not None
                and message["status"] != 429
            ):
                headers = list(message.get("headers", []))
                if draft.replayed:
                    receipt = await self._receipt_of_staged(draft.replay_of)
                else:
                    try:
                        receipt = await self._append(scope, draft, message["status"])
                    except ReadAllowanceSpent as spent:
                        # Every read shown is journaled, so past the allowance none is.
                        withheld = True
                        await self._count_refused_read(scope, draft)
                        await self._too_many_reads(spent)(scope, receive, send)
                        return
                if receipt:
                    journaled_status = message["status"]
                headers += receipt
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, hashing_receive, journaling_send)
        except Exception as exc:
            if (
                journaled_status is not None
                and not delivered
                and Outcome.of_status(journaled_status) == Outcome.DONE
            ):
                # The entry said done, then the answer broke off (the store failed in
                # the middle of a download): a second entry records what was delivered.
                await self._append_cut_off(scope, draft, exc)
            raise
        finally:
            close_draft(token)

    async def _count_refused_read(self, scope: Scope, draft: JournalDraft) -> None:
        """A read past the account's allowance, counted in the technical log."""
        client = scope.get("client")
        address = client[0] if client else None
        await run_in_threadpool(self.refusals.admit, draft.actor, address, action_name(scope), 429)

    @staticmethod
    def _too_many_reads(spent: ReadAllowanceSpent) -> ASGIApp:
        return problem(429, spent.detail, headers={"Retry-After": str(spent.retry_after)})

    async def _append_cut_off(self, scope: Scope, draft: JournalDraft, exc: Exception) -> None:
        pending = pending_entry(scope, draft, answer_status(exc), self.clock)
        try:
            await self.writer.record(replace(pending, outbox_id=None))
        except Exception:  # the journal's own database gone too: the first error goes on
            logger.exception("the failure of a started answer could not be journaled")

    async def _receipt_of_staged(self, outbox_id: uuid.UUID | None) -> list[tuple[bytes, bytes]]:
        from uhealthsec.server.audit.outbox import receipt_of_staged  # it imports this module

        if outbox_id is None:
            return []
        return _receipt_headers(await run_in_threadpool(receipt_of_staged, self.writer, outbox_id))

    async def _append(
        self, scope: Scope, draft: JournalDraft, status: int
    ) -> list[tuple[bytes, bytes]]:
        pending = pending_entry(scope, draft, status, self.clock)
        reads = 1 if draft.method == "GET" else draft.reads
        if reads and draft.actor != NOBODY and pending.entry.outcome == Outcome.DONE:
            # A signed-in account's reads: shown only within its allowance (the writer
            # counts them, in the batch that journals them).
            pending = replace(pending, counted_reads=reads)
        if pending.entry.outcome != Outcome.DONE:
            # Counted in the technical log; journaled only within a signed-in caller's
            # allowance (13.1), also when answered without raising (a committed refusal:
            # its staged entry is then dropped).
            actor = None if draft.actor == NOBODY else draft.actor
            action, address = pending.entry.action, pending.ip_address
            if not await run_in_threadpool(self.refusals.admit, actor, address, action, status):
                if draft.outbox_id is not None:
                    await run_in_threadpool(self.writer.discard, draft.outbox_id)
                return []
        return _receipt_headers(await self.writer.record(pending))


def _receipt_headers(receipt: Receipt | None) -> list[tuple[bytes, bytes]]:
    """The entry and its inclusion proof, as the answer's headers."""
    if receipt is None:
        return []
    proof = ",".join(b64u_encode(p) for p in receipt.proof)
    return [
        (b"uhs-journal-entry", b64u_encode(receipt.entry).encode()),
        (b"uhs-journal-proof", f"{receipt.index};{receipt.head.size};{proof}".encode()),
    ]


def pending_entry(
    scope: Scope, draft: JournalDraft, status: int, clock: Callable[[], datetime]
) -> PendingEntry:
    """The entry a request's draft makes, with the answer's status."""
    client = scope.get("client")
    objects = list(draft.objects)
    for name, value in (scope.get("path_params") or {}).items():
        kind = _PATH_OBJECTS.get(name)
        object_id = _as_uuid(value)
        if kind is not None and object_id is not None and (kind, object_id) not in objects:
            objects.append((kind, object_id))
    entry = JournalEntry(
        timestamp_ms=int(clock().timestamp() * 1000),
        actor=draft.actor,
        action=action_name(scope),
        outcome=Outcome.of_status(status),
        status=status,
        objects=tuple(objects[:16]),
        client=draft.client[:64],
        request_digest=draft.request_digest(),
        signature=draft.signature,
    )
    return PendingEntry(
        entry,
        patient_ids=tuple(draft.patients),
        practice_id=draft.practice_id,
        ip_address=client[0] if client else None,
        outbox_id=draft.outbox_id,
        budgeted=draft.budgeted,
    )


def _as_uuid(value: object) -> uuid.UUID | None:
    """A path parameter as the router leaves it (text: routes declare no converter)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
