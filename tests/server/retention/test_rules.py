"""CSP R1112-7 retention dates, including the days on each side of every boundary."""

from __future__ import annotations

from datetime import date

import pytest

from uhealthsec.server.retention.rules import Basis, RetentionFacts, add_years, retention_end


def end(**facts) -> tuple[date | None, Basis]:
    result = retention_end(RetentionFacts(**facts))
    return result.keep_until, result.basis


def test_adult_twenty_years_after_the_last_care():
    result = retention_end(RetentionFacts(date(2006, 3, 15), born_on=date(1970, 1, 1)))
    assert (result.keep_until, result.basis) == (date(2026, 3, 15), Basis.LAST_CARE)
    assert not result.expired(date(2026, 3, 15))  # kept through its last day
    assert result.expired(date(2026, 3, 16))
    assert "20 years after the last care" in result.explanation


@pytest.mark.parametrize(
    ("born_on", "expected"),
    [
        # 8 years old at the last care: the 28th birthday is the 20-year end itself.
        (date(2004, 1, 10), (date(2032, 1, 10), Basis.LAST_CARE)),
        # One day younger: the 28th birthday comes one day later and wins.
        (date(2004, 1, 11), (date(2032, 1, 11), Basis.MINOR)),
        # One day older: 20 years is later than the 28th birthday.
        (date(2004, 1, 9), (date(2032, 1, 10), Basis.LAST_CARE)),
        # A baby: kept until 28.
        (date(2011, 6, 1), (date(2039, 6, 1), Basis.MINOR)),
    ],
)
def test_minor_until_the_28th_birthday(born_on, expected):
    """R15: 20 years after the last care, or the 28th birthday, on both sides of the day."""
    assert end(last_care_on=date(2012, 1, 10), born_on=born_on) == expected


@pytest.mark.parametrize(
    ("died_on", "expected"),
    [
        # Less than 10 years after the last care: 10 years after the death.
        (date(2015, 5, 1), (date(2025, 5, 1), Basis.DEATH)),
        (date(2020, 4, 30), (date(2030, 4, 30), Basis.DEATH)),
        # Exactly 10 years after: not "less than", the 20-year rule applies.
        (date(2020, 5, 1), (date(2030, 5, 1), Basis.LAST_CARE)),
        # Later: the 20-year rule.
        (date(2024, 1, 1), (date(2030, 5, 1), Basis.LAST_CARE)),
    ],
)
def test_deceased(died_on, expected):
    assert end(last_care_on=date(2010, 5, 1), born_on=date(1950, 1, 1), died_on=died_on) == expected


def test_the_death_rule_prevails_over_the_minor_rule():
    # A child of 2 at the last care who died two years later: 10 years after the death,
    # not the 28th birthday (2036).
    assert end(
        last_care_on=date(2010, 3, 1), born_on=date(2008, 3, 1), died_on=date(2012, 3, 1)
    ) == (
        date(2022, 3, 1),
        Basis.DEATH,
    )


def test_without_a_birth_date_the_end_is_unknown_unless_death_decides():
    assert end(last_care_on=date(2000, 1, 1)) == (None, Basis.BIRTH_DATE_UNKNOWN)
    assert end(last_care_on=date(2000, 1, 1), died_on=date(2001, 1, 1)) == (
        date(2011, 1, 1),
        Basis.DEATH,
    )
    assert not retention_end(RetentionFacts(date(1900, 1, 1))).expired(date(2100, 1, 1))


def test_29_february_ends_on_the_last_day_of_february():
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)
    assert end(last_care_on=date(2004, 2, 29), born_on=date(1960, 1, 1), years=21) == (
        date(2025, 2, 28),
        Basis.LAST_CARE,
    )
    # Born on 29 February: 28th birthday in a common year.
    assert end(last_care_on=date(2001, 1, 1), born_on=date(2000, 2, 29)) == (
        date(2028, 2, 29),
        Basis.MINOR,
    )
    assert end(last_care_on=date(2002, 1, 1), born_on=date(2001, 3, 1), years=20) == (
        date(2029, 3, 1),
        Basis.MINOR,
    )


def test_a_claim_suspends_the_clock():
    facts = {"last_care_on": date(2006, 3, 15), "born_on": date(1970, 1, 1)}
    assert end(**facts, claim_open=True) == (None, Basis.SUSPENDED)
    assert end(**facts, suspended_days=100) == (date(2026, 6, 23), Basis.LAST_CARE)
    assert end(**facts, died_on=date(2007, 1, 1), suspended_days=1) == (
        date(2017, 1, 2),
        Basis.DEATH,
    )


def test_the_practice_chooses_the_period():
    assert end(last_care_on=date(2006, 3, 15), born_on=date(1970, 1, 1), years=30) == (
        date(2036, 3, 15),
        Basis.LAST_CARE,
    )
