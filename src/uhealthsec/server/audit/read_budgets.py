"""Budgets on reads of personal data, past the journal's minute allowance (R27).

The journal's allowance (audit/refusals.py) bounds one account's reads in a minute;
these bound them over an hour, and bound what one network (IPv4 /24, IPv6 /64) reads
through all its accounts, so that neither a stolen session nor a run of accounts from
one network scrapes a practice. They are counted where the allowance is, in the
journal's batch that journals the reads (under its lock, shared by every API process
through the database), and a read past any of them is refused 429 with Retry-After
before anything is shown, like one past the allowance. The thresholds are settings
(``reads_per_*``, with their reasons). A network is counted under an HMAC: no address
is stored. Reads refused are counted as ``uhs_reads_throttled_total{budget}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client.metrics_core import CounterMetricFamily, Metric
from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from uhealthsec.server.audit.models import ReadBudgetCount
from uhealthsec.server.audit.refusals import JOURNALED_READS_PER_MINUTE, READ_WINDOW
from uhealthsec.server.settings import Settings
from uhealthsec.server.shield.models import ShieldCounter
from uhealthsec.server.shield.networks import network_of
from uhealthsec.server.storage.db import upsert, window_start

#: The journal's own allowance (counted in ``journal_reads``), named as the others.
ACCOUNT_MINUTE = "account_minute"
_THROTTLED = "reads_throttled:"


@dataclass(frozen=True)
class ReadBudget:
    name: str
    #: "account" or "network": whose reads it counts.
    per: str
    window: timedelta
    limit: int

    def retry_after(self, now: datetime) -> int:
        """Seconds until this budget's window ends (and the reads are allowed again)."""
        seconds = self.window.total_seconds()
        return int(seconds - now.timestamp() % seconds) + 1

    def refusal(self, now: datetime) -> ReadBudgetSpent:
        who = "this account" if self.per == "account" else "this network"
        when = "in a minute" if self.window <= READ_WINDOW else "in an hour"
        retry = self.retry_after(now)
        return ReadBudgetSpent(
            f"{who} read more than {self.limit} items of personal data {when}, each of "
            f"which is journaled: try again in {retry} seconds",
            retry,
            self.name,
        )


class ReadBudgetSpent(Exception):
    """A read not journaled, and so not shown: a budget of its account or network is
    spent in this window."""

    def __init__(self, detail: str, retry_after: int, budget: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
        self.budget = budget


#: The journal's allowance, as a budget (its counts stay in ``journal_reads``).
JOURNAL_ALLOWANCE = ReadBudget(ACCOUNT_MINUTE, "account", READ_WINDOW, JOURNALED_READS_PER_MINUTE)


@dataclass(frozen=True)
class ReadBudgets:
    budgets: tuple[ReadBudget, ...]
    #: The key a network is counted under (an HMAC under a server subkey).
    network_key: Callable[[str], bytes]

    @classmethod
    def of(cls, settings: Settings, mac: Callable[[str, bytes], bytes]) -> ReadBudgets:
        hour, minute = timedelta(hours=1), READ_WINDOW
        return cls(
            (
                ReadBudget("account_hour", "account", hour, settings.reads_per_account_hour),
                ReadBudget("network_minute", "network", minute, settings.reads_per_network_minute),
                ReadBudget("network_hour", "network", hour, settings.reads_per_network_hour),
            ),
            lambda network: mac("read-budgets", network.encode()),
        )

    def subjects(
        self, account: uuid.UUID, client_ip: str | None
    ) -> Iterator[tuple[ReadBudget, bytes]]:
        """Each budget a read of ``account`` from ``client_ip`` counts against, and the
        subject it is counted under there."""
        network = network_of(client_ip)
        for budget in self.budgets:
            if budget.per == "account":
                yield budget, account.bytes
            elif network is not None:
                yield budget, self.network_key(network)

    def remaining(
        self, db: Session, now: datetime, keys: set[tuple[str, bytes]]
    ) -> dict[tuple[str, bytes], int]:
        """How many reads each ``(budget, subject)`` may still make in its window. Read
        under the journal's lock, which the batch holds until it has counted its reads
        (``add``): no other batch counts in between."""
        if not keys:
            return {}
        by_name = {b.name: b for b in self.budgets}
        wanted = or_(
            *(
                and_(
                    ReadBudgetCount.budget == name,
                    ReadBudgetCount.started_at == window_start(now, by_name[name].window),
                    ReadBudgetCount.subject.in_([s for n, s in keys if n == name]),
                )
                for name in {n for n, _ in keys}
            )
        )
        made = {
            (name, bytes(subject)): int(count)
            for name, subject, count in db.execute(
                select(
                    ReadBudgetCount.budget, ReadBudgetCount.subject, ReadBudgetCount.count
                ).where(wanted)
            ).all()
        }
        return {key: max(0, by_name[key[0]].limit - made.get(key, 0)) for key in keys}

    def add(self, db: Session, now: datetime, shown: dict[tuple[str, bytes], int]) -> None:
        """Count the reads shown: only those, so that reads refused to one account (its
        own allowance spent) do not spend its network's budget for the others behind
        the same address. One statement for the whole batch."""
        shown = {key: n for key, n in shown.items() if n}
        if not shown:
            return
        by_name = {b.name: b for b in self.budgets}
        table = ReadBudgetCount.__table__
        make = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
        statement = make(table).values(
            [
                {
                    "budget": name,
                    "subject": subject,
                    "started_at": window_start(now, by_name[name].window),
                    "count": n,
                }
                for (name, subject), n in sorted(shown.items())
            ]
        )
        db.execute(
            statement.on_conflict_do_update(
                index_elements=["budget", "subject", "started_at"],
                set_={"count": table.c.count + statement.excluded.count},
            )
        )


def count_throttled(db: Session, refused: dict[str, int]) -> None:
    """Reads refused, by budget: totals kept with the shield's counters."""
    for name, n in sorted(refused.items()):
        upsert(db, ShieldCounter, {"name": f"{_THROTTLED}{name}"}, add={"value": n})


#: Every budget's name, for the metric (each shown, 0 until it refuses a read).
BUDGET_NAMES = (ACCOUNT_MINUTE, "account_hour", "network_minute", "network_hour")


def throttled_reads(db: Session) -> list[Metric]:
    """``uhs_reads_throttled_total{budget}``: reads refused past a budget (R27), for
    the anomaly rules of the incidents' alerts."""
    rows = db.execute(
        select(ShieldCounter.name, ShieldCounter.value).where(
            ShieldCounter.name.startswith(_THROTTLED)
        )
    ).all()
    totals = {name.removeprefix(_THROTTLED): int(value) for name, value in rows}
    family = CounterMetricFamily(
        "uhs_reads_throttled",
        "Reads of personal data refused (429) past a budget, by budget (R27).",
        labels=["budget"],
    )
    for name in BUDGET_NAMES:
        family.add_metric([name], totals.get(name, 0))
    return [family]
