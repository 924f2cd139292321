"""What keeps refusals from growing the journal without bound.

Every refused request (401, 403, 404, other 4xx, 5xx) is counted in a rolling
technical log, by who made it — the account, or the address when nobody signed in —
the hour, the action and the status; the log is purged after ``REFUSAL_LOG_DAYS``
(``uhs cleanup``) and its totals are served as metrics (``GET /journal/metrics``).
Only the first refusals of each account or address in an hour also go to the
journal, which is permanent: a botnet that posts without a token, or an account that
probes ids, leaves a bounded trace there and a count here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from uhealthsec.server.audit.models import RefusalCount
from uhealthsec.server.storage.db import transaction, upsert

#: Refusals journaled per address (nobody signed in) and per account in each window.
JOURNALED_REFUSALS_PER_ADDRESS = 20
JOURNALED_REFUSALS_PER_ACCOUNT = 200
WINDOW = timedelta(hours=1)
#: How long the technical log keeps its counts.
REFUSAL_LOG_DAYS = 30


class RefusalLog:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    def admit(self, actor: uuid.UUID | None, address: str | None, action: str, status: int) -> bool:
        """Count one refusal; whether it may also go to the journal."""
        if actor is not None:
            who, allowance = f"account:{actor}", JOURNALED_REFUSALS_PER_ACCOUNT
        else:
            who, allowance = f"address:{address or 'unknown'}"[:64], JOURNALED_REFUSALS_PER_ADDRESS
        now = self._clock()
        window = datetime.fromtimestamp(
            now.timestamp() // WINDOW.total_seconds() * WINDOW.total_seconds(), now.tzinfo
        )
        with transaction(self._sessions) as db:
            key = {"started_at": window, "who": who, "action": action[:64], "status": status}
            upsert(db, RefusalCount, key, add={"count": 1})
            made = db.scalar(
                select(func.sum(RefusalCount.count)).where(
                    RefusalCount.started_at == window, RefusalCount.who == who
                )
            )
        return int(made or 0) <= allowance


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
