"""How long a patient file is kept (CSP R1112-7). Pure functions, no I/O.

- 20 years from the patient's last care (the practice may choose another period;
  the professional bodies recommend 20 for independent practices too);
- if that falls before the patient's 28th birthday, until the 28th birthday;
- in all cases, if the patient died less than 10 years after the last care, until
  10 years after the death (instead of the two rules above);
- a claim or litigation about medical liability suspends the clock: the end is
  pushed back by every day a claim was open, and is unknown while one is.

Periods in years end on the same day of the same month, or on the last day of the
month when that day does not exist (29 February: Code de procédure civile, art. 641).
The file is kept through its end date and may be destroyed from the next day.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

DEFAULT_YEARS = 20
MINOR_UNTIL_AGE = 28
AFTER_DEATH_YEARS = 10


class Basis(StrEnum):
    LAST_CARE = "last_care"
    MINOR = "minor"
    DEATH = "death"
    #: A claim is open: the clock is stopped.
    SUSPENDED = "suspended"
    #: Without the birth date, the minor rule cannot be ruled out.
    BIRTH_DATE_UNKNOWN = "birth_date_unknown"
    #: The end falls past the last date the server can represent: the file is kept.
    BEYOND_CALENDAR = "beyond_calendar"


EXPLANATIONS = {
    Basis.LAST_CARE: "{years} years after the last care (CSP R1112-7)",
    Basis.MINOR: "the patient's 28th birthday, later than {years} years after the last care "
    "(CSP R1112-7)",
    Basis.DEATH: "10 years after the patient's death, less than 10 years after the last care "
    "(CSP R1112-7)",
    Basis.SUSPENDED: "suspended while a claim about medical liability is open",
    Basis.BIRTH_DATE_UNKNOWN: "unknown until the patient's birth date is recorded (the minor "
    "rule of CSP R1112-7 may apply)",
    Basis.BEYOND_CALENDAR: "kept: its end falls after the year 9999",
}


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or the last day of that month when it is shorter
    (31 January + 1 month = 28 or 29 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def add_years(day: date, years: int) -> date:
    """The same day ``years`` later; the last day of February for 29 February."""
    return add_months(day, 12 * years)


@dataclass(frozen=True)
class RetentionFacts:
    last_care_on: date
    born_on: date | None = None
    died_on: date | None = None
    years: int = DEFAULT_YEARS
    #: Days during which claims were open and are now closed.
    suspended_days: int = 0
    #: A claim open now.
    claim_open: bool = False


@dataclass(frozen=True)
class RetentionEnd:
    #: The last day the file is kept; None while it cannot be known.
    keep_until: date | None
    basis: Basis
    years: int

    @property
    def explanation(self) -> str:
        return EXPLANATIONS[self.basis].format(years=self.years)

    def expired(self, today: date) -> bool:
        return self.keep_until is not None and today > self.keep_until


def retention_end(facts: RetentionFacts) -> RetentionEnd:
    """The file's end; never an exception: an end the calendar cannot hold (with the
    day after it, from which the file may be destroyed) is no end, the file is kept."""
    try:
        end = _retention_end(facts)
        if end.keep_until is not None:
            end.keep_until + timedelta(days=1)  # the first day it may be destroyed
        return end
    except (OverflowError, ValueError):  # past date.max (year 9999)
        return RetentionEnd(None, Basis.BEYOND_CALENDAR, facts.years)


def _retention_end(facts: RetentionFacts) -> RetentionEnd:
    if facts.claim_open:
        return RetentionEnd(None, Basis.SUSPENDED, facts.years)
    suspension = timedelta(days=facts.suspended_days)
    if facts.died_on is not None and facts.died_on < add_years(
        facts.last_care_on, AFTER_DEATH_YEARS
    ):
        # Care recorded after a death (a document added since) is the later date: the
        # file is never destroyed sooner than 10 years after its last care.
        end = add_years(max(facts.died_on, facts.last_care_on), AFTER_DEATH_YEARS)
        return RetentionEnd(end + suspension, Basis.DEATH, facts.years)
    end = add_years(facts.last_care_on, facts.years)
    if facts.born_on is None:
        return RetentionEnd(None, Basis.BIRTH_DATE_UNKNOWN, facts.years)
    birthday = add_years(facts.born_on, MINOR_UNTIL_AGE)
    if end < birthday:
        return RetentionEnd(birthday + suspension, Basis.MINOR, facts.years)
    return RetentionEnd(end + suspension, Basis.LAST_CARE, facts.years)
