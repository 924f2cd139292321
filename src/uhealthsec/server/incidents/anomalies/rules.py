"""The anomaly rules (R22), as pure functions over facts drawn from the journal: no
database, no HTTP, so that the tests feed them a synthetic journal and the benchmark
a simulated month.

Each rule counts, for one subject (an account in a practice, or a patient), what fell
in a window ending at each newly appended entry, and detects when the count reaches
its threshold (thresholds.py). Consecutive detections of one subject whose windows
touch are one detection, extended. Only entries newer than the evaluation's position
end a window; older ones are read as the windows' history.

Who is watched: accounts that are staff (admin, practitioner, secretary) of a
practice, and, for their denials only, accounts with no staff place anywhere that
were denied in a practice the entry names. An entry that names its practice is
counted there; one that names none (a denial before any practice was known) is
counted in each practice the account is staff of. Denials against one patient are
counted, whoever asked, in the practice the entry names if the patient is one of its
patients, or in each of the patient's practices when the entry names none.
"""

from __future__ import annotations

import math
import statistics
import uuid
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from uhealthsec.crypto.journal import Outcome
from uhealthsec.server.incidents.anomalies.thresholds import Thresholds

PARIS = ZoneInfo("Europe/Paris")

#: The journal actions of emergency access (break-glass, R11b). Break-glass does not
#: exist yet; when it does, its action's name goes here and every such entry raises an
#: ``EMERGENCY`` alert for the practice's review (threshold: one).
EMERGENCY_ACTIONS: frozenset[str] = frozenset()


#: The journal actions of a document's content downloaded (what a thief takes).
CONTENT_ACTIONS = frozenset({"records.content"})


class Rule(StrEnum):
    MASS_DOWNLOAD = "mass_download"
    OFF_HOURS = "off_hours"
    REPEATED_DENIALS = "repeated_denials"
    READ_THROTTLE = "read_throttle"
    TWO_NETWORKS = "two_networks"
    NEW_NETWORK_READS = "new_network_reads"
    EMERGENCY = "emergency_access"


ACCOUNT = "account"
PATIENT = "patient"


@dataclass(frozen=True)
class Fact:
    """What the rules read of one journal entry."""

    index: int
    at: datetime
    actor: uuid.UUID | None
    practice_id: uuid.UUID | None
    action: str
    outcome: int
    patients: tuple[uuid.UUID, ...] = ()
    documents: tuple[uuid.UUID, ...] = ()
    #: The network the request came from (IPv4 /24, IPv6 /64), while the server keeps
    #: the connection data (R14); None after, or for work of the server itself.
    network: str | None = None


@dataclass(frozen=True)
class Throttle:
    """Reads refused to one account past a read budget (R27), in one window."""

    account: uuid.UUID
    window_start: datetime
    window_end: datetime
    #: Reads refused in the window; None when only known spent (the hourly budget).
    refused: int | None


@dataclass(frozen=True)
class Detection:
    rule: Rule
    practice_id: uuid.UUID
    subject_kind: str
    subject_id: uuid.UUID
    window_start: datetime
    window_end: datetime
    count: int
    #: The count at which the rule fires.
    threshold: int
    detail: str
    #: What ``count`` counts: "patients" or "documents" (mass download, each with its
    #: own threshold and alert), "entries", "reads" or "networks".
    counted: str = "entries"


class Directory(Protocol):
    """What the rules need to know besides the journal."""

    def staff_practices(self, account: uuid.UUID) -> frozenset[uuid.UUID]: ...

    def patient_practices(self, patient: uuid.UUID) -> frozenset[uuid.UUID]: ...

    def thresholds(self, practice_id: uuid.UUID) -> Thresholds: ...

    def daily_counts(
        self, account: uuid.UUID, practice_id: uuid.UUID, before: date, days: int
    ) -> list[tuple[int, int]]:
        """(distinct patients, distinct documents) the account read in the practice on
        each Europe/Paris day with reads among the ``days`` days before ``before``."""
        ...

    def known_network(self, account: uuid.UUID, network: str, before: datetime, days: int) -> bool:
        """Whether the account made a journaled request from ``network`` in the
        ``days`` days before ``before`` (as far as the connection data is kept, R14);
        also when it made none from any network then: with nothing to compare with
        (a new account), no network is new."""
        ...


def evaluate(
    facts: list[Fact],
    new_from: int,
    directory: Directory,
    throttles: Iterable[Throttle] = (),
    emergency_actions: frozenset[str] = EMERGENCY_ACTIONS,
) -> list[Detection]:
    """Every detection of every rule whose window ends at an entry newer than
    ``new_from`` (facts in the journal's order, history included)."""
    by_account: dict[tuple[uuid.UUID, uuid.UUID], list[Fact]] = {}
    by_outsider: dict[tuple[uuid.UUID, uuid.UUID], list[Fact]] = {}
    by_patient: dict[tuple[uuid.UUID, uuid.UUID], list[Fact]] = {}
    for fact in facts:
        if fact.actor is not None:
            staff = directory.staff_practices(fact.actor)
            if staff:
                where = [fact.practice_id] if fact.practice_id is not None else sorted(staff)
                for practice_id in where:
                    by_account.setdefault((practice_id, fact.actor), []).append(fact)
            elif fact.practice_id is not None and fact.outcome == Outcome.DENIED:
                # An account with no staff place anywhere, denied in a practice: its
                # denials are one alert about it, not only one per patient it tried.
                by_outsider.setdefault((fact.practice_id, fact.actor), []).append(fact)
        if fact.outcome == Outcome.DENIED:
            for patient in fact.patients:
                theirs = directory.patient_practices(patient)
                # An entry that names its practice counts there only: the patient's
                # other practices learn nothing of what was asked elsewhere.
                if fact.practice_id is not None:
                    theirs = theirs & {fact.practice_id}
                for practice_id in sorted(theirs):
                    by_patient.setdefault((practice_id, patient), []).append(fact)
    found: list[Detection] = []
    for (practice_id, account), mine in by_account.items():
        limits = directory.thresholds(practice_id)
        found += _mass_download(practice_id, account, mine, new_from, limits, directory)
        found += _off_hours(practice_id, account, mine, new_from, limits)
        found += _denials_by_account(practice_id, account, mine, new_from, limits)
        found += _two_networks(practice_id, account, mine, new_from, limits)
        found += _new_network_reads(practice_id, account, mine, new_from, limits, directory)
        found += _emergency(practice_id, account, mine, new_from, emergency_actions)
    for (practice_id, account), mine in by_outsider.items():
        limits = directory.thresholds(practice_id)
        found += _denials_by_account(practice_id, account, mine, new_from, limits)
    for (practice_id, patient), theirs in by_patient.items():
        limits = directory.thresholds(practice_id)
        found += _denials_against_patient(practice_id, patient, theirs, new_from, limits)
    for throttle in throttles:
        for practice_id in sorted(directory.staff_practices(throttle.account)):
            detection = _throttle(practice_id, throttle, directory.thresholds(practice_id))
            if detection is not None:
                found.append(detection)
    return found


# -- windows ------------------------------------------------------------------------------


def _windows(
    facts: list[Fact],
    new_from: int,
    window: timedelta,
    items: Callable[[Fact], Iterable[Hashable]],
) -> Iterator[tuple[Fact, datetime, int]]:
    """For each new fact: the start of the window (at, the oldest fact in it), and how
    many distinct items the facts in (at - window, at] name."""
    inside: deque[tuple[Fact, tuple[Hashable, ...]]] = deque()
    counts: Counter[Hashable] = Counter()
    for fact in facts:
        named = tuple(dict.fromkeys(items(fact)))
        if not named:
            continue
        inside.append((fact, named))
        counts.update(named)
        while inside and inside[0][0].at <= fact.at - window:
            _, gone = inside.popleft()
            counts.subtract(gone)
            for item in gone:
                if counts[item] <= 0:
                    del counts[item]
        if fact.index > new_from:
            yield fact, inside[0][0].at, len(counts)


def _merged(
    rule: Rule,
    practice_id: uuid.UUID,
    kind: str,
    subject: uuid.UUID,
    hits: Iterable[tuple[datetime, datetime, int, int]],
    describe: Callable[[int, int], str],
    counted: str = "entries",
) -> list[Detection]:
    """One detection per run of hits whose windows touch, with the largest count."""
    out: list[Detection] = []
    for start, end, count, threshold in hits:
        last = out[-1] if out else None
        if last is not None and start <= last.window_end:
            best = max(count, last.count)
            out[-1] = Detection(
                rule,
                practice_id,
                kind,
                subject,
                last.window_start,
                end,
                best,
                last.threshold,
                describe(best, last.threshold),
                counted,
            )
        else:
            out.append(
                Detection(
                    rule,
                    practice_id,
                    kind,
                    subject,
                    start,
                    end,
                    count,
                    threshold,
                    describe(count, threshold),
                    counted,
                )
            )
    return out


# -- the rules ------------------------------------------------------------------------------


def mass_download_limit(floor: int, factor: float, daily: list[int]) -> int:
    """The most distinct items one window may hold: max(floor, factor x median of the
    daily counts); a window holding more fires. No history: the floor."""
    usual = statistics.median(daily) if daily else 0
    return max(floor, math.floor(factor * usual))


def _mass_download(
    practice_id: uuid.UUID,
    account: uuid.UUID,
    facts: list[Fact],
    new_from: int,
    limits: Thresholds,
    directory: Directory,
) -> list[Detection]:
    done = [f for f in facts if f.outcome == Outcome.DONE]
    window = timedelta(minutes=limits.mass_window_minutes)
    baselines: dict[date, tuple[int, int]] = {}

    def limit_on(day: date) -> tuple[int, int]:
        if day not in baselines:
            daily = directory.daily_counts(account, practice_id, day, limits.mass_history_days)
            baselines[day] = (
                mass_download_limit(
                    limits.mass_floor_patients, limits.mass_factor, [p for p, _ in daily]
                ),
                mass_download_limit(
                    limits.mass_floor_documents, limits.mass_factor, [d for _, d in daily]
                ),
            )
        return baselines[day]

    found: list[Detection] = []
    for what, floor, pick, which in (
        ("patients", limits.mass_floor_patients, lambda f: f.patients, 0),
        ("documents", limits.mass_floor_documents, lambda f: f.documents, 1),
    ):
        hits = []
        for fact, start, count in _windows(done, new_from, window, pick):
            if count <= floor:  # below the floor no baseline is looked up
                continue
            limit = limit_on(start.astimezone(PARIS).date())[which]
            if count > limit:
                hits.append((start, fact.at, count, limit + 1))
        found += _merged(
            Rule.MASS_DOWNLOAD,
            practice_id,
            ACCOUNT,
            account,
            hits,
            _mass_detail(what, limits),
            what,
        )
    return found


def _mass_detail(what: str, limits: Thresholds) -> Callable[[int, int], str]:
    def describe(count: int, threshold: int) -> str:
        return (
            f"{count} distinct {what} read within {limits.mass_window_minutes} minutes (the "
            f"rule fires at {threshold}: more than max(floor, {limits.mass_factor:g} x the "
            "account's median day))"
        )

    return describe


def off_hours(at: datetime, limits: Thresholds) -> bool:
    local = at.astimezone(PARIS)
    return local.weekday() not in limits.open_days or not (
        limits.open_hour <= local.hour < limits.close_hour
    )


def _off_hours(
    practice_id: uuid.UUID,
    account: uuid.UUID,
    facts: list[Fact],
    new_from: int,
    limits: Thresholds,
) -> list[Detection]:
    outside = [f for f in facts if f.patients and off_hours(f.at, limits)]
    window = timedelta(minutes=limits.off_hours_window_minutes)
    need = limits.off_hours_min_entries
    hits = [
        (start, fact.at, count, need)
        for fact, start, count in _windows(outside, new_from, window, lambda f: (f.index,))
        if count >= need
    ]
    return _merged(
        Rule.OFF_HOURS,
        practice_id,
        ACCOUNT,
        account,
        hits,
        lambda n, at: (
            f"{n} actions about patients outside the practice's hours "
            f"({limits.open_hour}h-{limits.close_hour}h, days {limits.open_days}, "
            f"Europe/Paris); the rule fires from {at}"
        ),
    )


def _denials(
    rule_subject: tuple[uuid.UUID, str, uuid.UUID],
    facts: list[Fact],
    new_from: int,
    window: timedelta,
    need: int,
    whose: str,
) -> list[Detection]:
    practice_id, kind, subject = rule_subject
    denied = [f for f in facts if f.outcome == Outcome.DENIED]
    hits = [
        (start, fact.at, count, need)
        for fact, start, count in _windows(denied, new_from, window, lambda f: (f.index,))
        if count >= need
    ]
    minutes = int(window.total_seconds() // 60)
    return _merged(
        Rule.REPEATED_DENIALS,
        practice_id,
        kind,
        subject,
        hits,
        lambda n, at: f"{n} denied requests {whose} within {minutes} minutes; fires from {at}",
    )


def _denials_by_account(
    practice_id: uuid.UUID,
    account: uuid.UUID,
    facts: list[Fact],
    new_from: int,
    limits: Thresholds,
) -> list[Detection]:
    return _denials(
        (practice_id, ACCOUNT, account),
        facts,
        new_from,
        timedelta(minutes=limits.denials_window_minutes),
        limits.denials_per_account,
        "by this account",
    )


def _denials_against_patient(
    practice_id: uuid.UUID,
    patient: uuid.UUID,
    facts: list[Fact],
    new_from: int,
    limits: Thresholds,
) -> list[Detection]:
    return _denials(
        (practice_id, PATIENT, patient),
        facts,
        new_from,
        timedelta(minutes=limits.denials_window_minutes),
        limits.denials_per_patient,
        "about this patient",
    )


def _two_networks(
    practice_id: uuid.UUID,
    account: uuid.UUID,
    facts: list[Fact],
    new_from: int,
    limits: Thresholds,
) -> list[Detection]:
    window = timedelta(minutes=limits.networks_window_minutes)
    need = limits.networks_min
    hits = [
        (start, fact.at, count, need)
        for fact, start, count in _windows(
            facts, new_from, window, lambda f: (f.network,) if f.network else ()
        )
        if count >= need
    ]
    return _merged(
        Rule.TWO_NETWORKS,
        practice_id,
        ACCOUNT,
        account,
        hits,
        lambda n, at: (
            f"requests of this account from {n} different networks (IPv4 /24, IPv6 /64) "
            f"within {limits.networks_window_minutes} minutes; fires from {at}"
        ),
        "networks",
    )


def _new_network_reads(
    practice_id: uuid.UUID,
    account: uuid.UUID,
    facts: list[Fact],
    new_from: int,
    limits: Thresholds,
    directory: Directory,
) -> list[Detection]:
    """Bulk reads from a network the account had not used: the content of
    ``new_network_documents`` distinct documents downloaded from it within
    ``new_network_window_minutes`` of its first request from it, when none came from it
    in the ``new_network_history_days`` before (a stolen session or password used from
    the thief's network). Contents, not listings: an inbox shown on a new network (a
    practitioner travelling) names many documents and reads none."""
    window = timedelta(minutes=limits.new_network_window_minutes)
    need = limits.new_network_documents
    by_network: dict[str, list[Fact]] = {}
    for fact in facts:
        if fact.network is not None:
            by_network.setdefault(fact.network, []).append(fact)
    found: list[Detection] = []
    for network, mine in by_network.items():
        first = mine[0]
        read: set[uuid.UUID] = set()
        reached: Fact | None = None
        for fact in mine:
            if fact.at >= first.at + window:
                continue  # entries are in the journal's order, nearly the clock's
            if fact.outcome == Outcome.DONE and fact.action in CONTENT_ACTIONS:
                read.update(fact.documents)
            if reached is None and len(read) >= need:
                reached = fact
        last = max((f for f in mine if f.at < first.at + window), key=lambda f: f.index)
        if reached is None or last.index <= new_from:
            continue  # under the threshold, or nothing new in the window
        if directory.known_network(account, network, first.at, limits.new_network_history_days):
            continue
        found.append(
            Detection(
                Rule.NEW_NETWORK_READS,
                practice_id,
                ACCOUNT,
                account,
                first.at,
                last.at,
                len(read),
                need,
                f"{len(read)} distinct documents read within "
                f"{limits.new_network_window_minutes} minutes of this account's first request "
                f"from a network (IPv4 /24, IPv6 /64) it had not used in "
                f"{limits.new_network_history_days} days; fires from {need}",
                "documents",
            )
        )
    return found


def _emergency(
    practice_id: uuid.UUID,
    account: uuid.UUID,
    facts: list[Fact],
    new_from: int,
    actions: frozenset[str],
) -> list[Detection]:
    if not actions:
        return []
    return [
        Detection(
            Rule.EMERGENCY,
            practice_id,
            ACCOUNT,
            account,
            f.at,
            f.at,
            1,
            1,
            "an emergency access, to be reviewed by the practice's admin",
        )
        for f in facts
        if f.index > new_from and f.action in actions
    ]


def _throttle(practice_id: uuid.UUID, throttle: Throttle, limits: Thresholds) -> Detection | None:
    if throttle.refused is None:
        count, detail = (
            1,
            "the account used up its hourly read budget: any further read that hour is refused",
        )
        need = 1
    else:
        count, need = throttle.refused, limits.throttle_min_refused
        detail = f"{count} reads refused to this account in a minute, past its allowance"
        if count < need:
            return None
    return Detection(
        Rule.READ_THROTTLE,
        practice_id,
        ACCOUNT,
        throttle.account,
        throttle.window_start,
        throttle.window_end,
        count,
        need,
        detail,
        "reads",
    )
