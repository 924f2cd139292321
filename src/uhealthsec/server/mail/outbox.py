"""The outbox: a request's mail is a row written in the request's own transaction, so
it exists exactly when the request committed (never for one rolled back), and it is
delivered after the commit, never inside the request. A mail server that is down,
slow, or refuses the TLS handshake delays the mail; it does not fail the request, and
the code the mail carries is not lost.

Delivery claims each mail with one atomic UPDATE before sending it, so that several
processes deliver the same outbox (each API process its own requests' mail, any number
of ``uhs-server worker`` whatever is due) and each mail goes out once. A failed attempt is
retried with exponential backoff, up to ``mail_max_attempts``; then the mail is given
up and logged, by its id and error class only.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, event, func, or_, select, update
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from uhealthsec.server.mail.models import OutboxMail
from uhealthsec.server.mail.transports import FileMailer, Mailer
from uhealthsec.server.settings import Settings
from uhealthsec.server.storage.db import transaction

if TYPE_CHECKING:
    from uhealthsec.server.context import AppContext

log = logging.getLogger(__name__)

#: Where a session keeps the ids of the mail it queued until it commits.
_QUEUED = "uhealthsec.mail.queued"
#: How long a claimed mail is left to the process that claimed it before another may
#: try it (that process died mid-send): well beyond the SMTP timeouts of one attempt.
CLAIM_SECONDS = 600
#: Backoff doubles from ``mail_retry_seconds`` up to this.
MAX_RETRY_SECONDS = 3600
#: Mails a worker claims per statement.
CLAIM_BATCH = 20


class MailOutbox:
    """The mailer of a request: ``send`` queues the mail in the request's transaction
    (the ``Mailer`` protocol); ``MailCourier`` delivers it once that commits."""

    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    def send(self, to: str, subject: str, body: str) -> None:
        now = self.ctx.now()
        mail = OutboxMail(
            id=uuid.uuid4(),
            recipient=to,
            subject=subject,
            body=body,
            created_at=now,
            attempts=0,
            next_attempt_at=now,
        )
        self.db.add(mail)
        self.db.info.setdefault(_QUEUED, []).append(mail.id)

    def purge(self) -> int:
        """Delete what is kept of mail sent or given up more than ``mail_keep_days``
        ago (``uhs-server cleanup``): recipients are personal data, kept only to diagnose."""
        cutoff = self.ctx.now() - timedelta(days=self.ctx.settings.mail_keep_days)
        result = self.db.execute(
            delete(OutboxMail).where(
                or_(OutboxMail.sent_at < cutoff, OutboxMail.failed_at < cutoff)
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def waiting_mail(db: Session) -> int:
    """How many mails wait to be sent or retried (a sent or given-up mail has no next
    attempt)."""
    return (
        db.scalar(
            select(func.count())
            .select_from(OutboxMail)
            .where(OutboxMail.next_attempt_at.is_not(None))
        )
        or 0
    )


@dataclass
class Delivery:
    """What one delivery round did."""

    sent: int = 0
    #: Failed attempts that will be retried.
    deferred: int = 0
    #: Failed last attempts: the mail is not tried again.
    given_up: int = 0

    def add(self, other: Delivery) -> None:
        self.sent += other.sent
        self.deferred += other.deferred
        self.given_up += other.given_up


@dataclass(frozen=True)
class _Claimed:
    id: uuid.UUID
    recipient: str
    subject: str
    body: str
    attempts: int


class MailCourier:
    """Delivers the outbox through a transport (mail/transports.py).

    The mail a session queued is handed over when the session commits. A file is
    written at once, and the demo and the tests read the code right after the answer:
    it is delivered in the committing thread, before the answer. SMTP may wait on the
    network up to its timeouts: it is delivered by a thread of its own, and the answer
    does not wait. Whatever fails there stays in the outbox for ``uhs-server worker``
    (``deliver_due``), which also retries.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        transport: Mailer,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self.transport = transport
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self._at_once = isinstance(transport, FileMailer)
        self._queue: queue.Queue[list[uuid.UUID] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        event.listen(sessions, "after_commit", self._committed)
        event.listen(sessions, "after_soft_rollback", self._rolled_back)

    # -- handing over -------------------------------------------------------------------

    def _committed(self, session: Session) -> None:
        if session.get_nested_transaction() is not None:
            return  # a savepoint released: nothing is committed yet
        queued = session.info.pop(_QUEUED, None)
        if not queued:
            return
        if self._at_once:
            self._deliver_quietly(queued)
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="uhs-mail", daemon=True)
                self._thread.start()
        self._queue.put(queued)

    def _rolled_back(self, session: Session, previous: SessionTransaction) -> None:
        # The rows are gone with the transaction. A savepoint's rollback leaves the
        # mail queued before it (and one queued inside it is just not found).
        if previous.parent is None:
            session.info.pop(_QUEUED, None)

    def _run(self) -> None:
        while True:
            ids = self._queue.get()
            if ids is None:
                return
            while True:  # mail committed meanwhile goes in the same round
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._deliver_quietly(ids)
                    return
                ids.extend(more)
            self._deliver_quietly(ids)

    def _deliver_quietly(self, ids: list[uuid.UUID]) -> None:
        # After the commit: the request has its answer whatever happens here. A mail
        # not delivered now (the database busy, say) is still due for the worker.
        try:
            self.deliver(ids)
        except Exception as exc:
            log.warning("queued mail left for the worker (%s)", type(exc).__name__)

    def close(self) -> None:
        event.remove(self._sessions, "after_commit", self._committed)
        event.remove(self._sessions, "after_soft_rollback", self._rolled_back)
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    # -- delivering ---------------------------------------------------------------------

    def deliver(self, ids: Collection[uuid.UUID]) -> Delivery:
        """Send these mails if they are still due (a request's, after its commit)."""
        done = Delivery()
        for mail in self._claim(ids):
            done.add(self._attempt(mail))
        return done

    def deliver_due(self) -> Delivery:
        """Send every mail due now, a batch at a time (a worker's round)."""
        done = Delivery()
        while claimed := self._claim(None):
            for mail in claimed:
                done.add(self._attempt(mail))
        return done

    def _claim(self, ids: Collection[uuid.UUID] | None) -> list[_Claimed]:
        """Take mails for this process: counted as attempted, and not due again until
        the claim lapses. The UPDATE checks that each is still due as it changes it,
        atomically, so of two processes claiming one mail the second finds it taken."""
        now = self._clock()
        # A mail waiting always has its text (it is cleared with next_attempt_at).
        due = and_(OutboxMail.next_attempt_at <= now, OutboxMail.body.is_not(None))
        if ids is None:
            # SKIP LOCKED: on PostgreSQL, concurrent workers each take other rows rather
            # than queue behind one another's. SQLite has no row locks (and ignores it):
            # its writers take turns, and the UPDATE's own check keeps claims apart.
            candidates = (
                select(OutboxMail.id)
                .where(due)
                .order_by(OutboxMail.next_attempt_at)
                .limit(CLAIM_BATCH)
                .with_for_update(skip_locked=True)
            )
            chosen = OutboxMail.id.in_(candidates)
        else:
            chosen = OutboxMail.id.in_(list(ids))
        claim = (
            update(OutboxMail)
            .where(chosen, due)
            .values(
                attempts=OutboxMail.attempts + 1,
                next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS),
            )
            .returning(
                OutboxMail.id,
                OutboxMail.recipient,
                OutboxMail.subject,
                OutboxMail.body,
                OutboxMail.attempts,
            )
            .execution_options(synchronize_session=False)
        )
        with transaction(self._sessions) as db:
            rows = db.execute(claim).all()
        return [  # a body is never NULL here (``due``): the test only narrows the type
            _Claimed(row.id, row.recipient, row.subject, row.body, row.attempts)
            for row in rows
            if row.body is not None
        ]

    def _attempt(self, mail: _Claimed) -> Delivery:
        try:
            self.transport.send(mail.recipient, mail.subject, mail.body)
        except Exception as exc:  # whatever the transport met, this mail's attempt failed
            return self._failed(mail, failure(exc))
        self._finish(mail.id, sent_at=self._clock(), last_error=None)
        return Delivery(sent=1)

    def _failed(self, mail: _Claimed, error: str) -> Delivery:
        limit = self._settings.mail_max_attempts
        if mail.attempts >= limit:
            # Given up: the text goes too, like a sent mail's. The codes it held expire
            # anyway; whoever waits for one asks again (a new registration, invitation).
            log.error("mail %s given up after %d attempts (%s)", mail.id, mail.attempts, error)
            self._finish(mail.id, failed_at=self._clock(), last_error=error)
            return Delivery(given_up=1)
        retry_at = self._clock() + retry_delay(self._settings, mail.attempts)
        log.warning(
            "mail %s not sent, attempt %d of %d (%s); next attempt at %s",
            mail.id,
            mail.attempts,
            limit,
            error,
            retry_at.isoformat(timespec="seconds"),
        )
        with transaction(self._sessions) as db:
            db.execute(
                update(OutboxMail)
                .where(OutboxMail.id == mail.id, OutboxMail.sent_at.is_(None))
                .values(next_attempt_at=retry_at, last_error=error)
                .execution_options(synchronize_session=False)
            )
        return Delivery(deferred=1)

    def _finish(self, mail_id: uuid.UUID, **outcome: object) -> None:
        # The body is cleared with the outcome: one-time codes are kept only until sent.
        with transaction(self._sessions) as db:
            db.execute(
                update(OutboxMail)
                .where(OutboxMail.id == mail_id)
                .values(body=None, next_attempt_at=None, **outcome)
                .execution_options(synchronize_session=False)
            )


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    """After the ``attempts``-th failure: ``mail_retry_seconds``, doubled each time."""
    seconds = settings.mail_retry_seconds * 2 ** min(attempts - 1, 20)
    return timedelta(seconds=min(seconds, MAX_RETRY_SECONDS))


def failure(exc: BaseException) -> str:
    """What the outbox and the log keep of a failure: the exception's class, and an
    SMTP reply's code, never a message (a server may quote the recipient or the text,
    and a TLS error names the host)."""
    code = getattr(exc, "smtp_code", None)
    name = type(exc).__name__
    return (f"{name} {code}" if isinstance(code, int) else name)[:100]
