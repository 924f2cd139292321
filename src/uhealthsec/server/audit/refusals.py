"""What keeps refusals from growing the journal without bound.

Every refused request (401, 403, 404, other 4xx, 5xx) is counted in a rolling
technical log, by who made it — the account, or the address when nobody signed in —
the hour, the action and the status; the log is purged after ``REFUSAL_LOG_DAYS``
(``uhs-server cleanup``) and its totals are served as metrics (``GET /journal/metrics``).
The journal is permanent: only the first refusals of each account in an hour go to
it, and never a refusal of a request nobody signed in. An address is no bound (an
IPv6 /64 holds 2^64 of them), so a botnet that posts without a token leaves only a
count here, and an account that probes ids a bounded trace there.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from uhealthsec.server.audit.models import ReadCount, RefusalCount
from uhealthsec.server.storage.db import transaction, upsert

#: Refusals journaled per account in each window (none when nobody signed in).
JOURNALED_REFUSALS_PER_ACCOUNT = 200
WINDOW = timedelta(hours=1)
#: How long the technical log keeps its counts.
REFUSAL_LOG_DAYS = 30
#: Reads of personal data an account may make in a minute. Each is journaled, so this
#: bounds how fast one account grows the journal (12,000 entries an hour at most), far
#: above what a person, or a client syncing a file, reads; past it the read is refused
#: (429) before anything is shown, and counted here.
JOURNALED_READS_PER_MINUTE = 200
READ_WINDOW = timedelta(minutes=1)


class RefusalLog:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    def admit(self, actor: uuid.UUID | None, address: str | None, action: str, status: int) -> bool:
        """Count one refusal; whether it may also go to the journal."""
        who = f"account:{actor}" if actor is not None else f"address:{address or 'unknown'}"[:64]
        window = _window_start(self._clock(), WINDOW)
        with transaction(self._sessions) as db:
            key = {"started_at": window, "who": who, "action": action[:64], "status": status}
            upsert(db, RefusalCount, key, add={"count": 1})
            if actor is None:
                return False
            made = db.scalar(
                select(func.sum(RefusalCount.count)).where(
                    RefusalCount.started_at == window, RefusalCount.who == who
                )
            )
        return int(made or 0) <= JOURNALED_REFUSALS_PER_ACCOUNT


class ReadLimit:
    """How many reads of personal data each account made this minute, shared by every
    API process through the database."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    def admit(self, account_id: uuid.UUID, reads: int = 1) -> bool:
        """Count ``reads`` reads; whether they are within the account's allowance."""
        key = {"started_at": _window_start(self._clock(), READ_WINDOW), "account_id": account_id}
        with transaction(self._sessions) as db:
            upsert(db, ReadCount, key, add={"count": reads})
            made = db.scalar(
                select(ReadCount.count).where(
                    ReadCount.started_at == key["started_at"], ReadCount.account_id == account_id
                )
            )
        return int(made or 0) <= JOURNALED_READS_PER_MINUTE


def _window_start(now: datetime, window: timedelta) -> datetime:
    seconds = window.total_seconds()
    return datetime.fromtimestamp(now.timestamp() // seconds * seconds, now.tzinfo)


def refusal_totals(db: Session) -> dict[str, int]:
    """Refusals counted in the technical log (the last ``REFUSAL_LOG_DAYS``)."""
    rows = db.execute(
        select(RefusalCount.who, func.sum(RefusalCount.count)).group_by(RefusalCount.who)
    ).all()
    anonymous = sum(int(n) for who, n in rows if who.startswith("address:"))
    return {
        "refusals_anonymous": anonymous,
        "refusals_signed_in": sum(int(n) for _, n in rows) - anonymous,
    }
