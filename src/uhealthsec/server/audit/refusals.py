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

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from uhealthsec.server.audit.models import ReadCount, RefusalCount
from uhealthsec.server.storage.db import transaction, upsert, window_start

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
        window = window_start(self._clock(), WINDOW)
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


def count_reads(db: Session, now: datetime, reads: dict[uuid.UUID, int]) -> dict[uuid.UUID, int]:
    """Count ``reads[account]`` reads of personal data of each account, made ``now``, in
    ``db``'s transaction (the journal's batch that journals them: shared by every API
    process through the database, and counted with the entries they make, or not at
    all); how many of each are within the account's allowance this minute. One
    statement for the whole batch: it runs under the journal's lock."""
    started = window_start(now, READ_WINDOW)
    table = ReadCount.__table__
    make = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = make(table).values(
        [{"started_at": started, "account_id": a, "count": n} for a, n in sorted(reads.items())]
    )
    rows = db.execute(
        statement.on_conflict_do_update(
            index_elements=["started_at", "account_id"],
            set_={"count": table.c.count + statement.excluded.count},
        ).returning(table.c.account_id, table.c.count)
    ).all()
    made = {row[0]: row[1] for row in rows}
    return {
        account_id: max(0, min(count, JOURNALED_READS_PER_MINUTE - (int(made[account_id]) - count)))
        for account_id, count in reads.items()
    }


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


#: What the journal's metrics count (``GET /journal/metrics``, and ``GET /metrics``).
REFUSAL_METRICS = {
    "refusals_anonymous": "refused requests of nobody signed in, in the technical log",
    "refusals_signed_in": "refused requests of signed-in accounts, in the technical log",
}


def journal_refusals(db: Session) -> list[Metric]:
    """The totals above as Prometheus families."""
    values = refusal_totals(db)
    return [
        GaugeMetricFamily(f"uhs_journal_{name}", text, value=values[name])
        for name, text in REFUSAL_METRICS.items()
    ]
