"""Who records the dates a file's destruction depends on, their plausibility, and the
grace period before a destruction they decide (both databases)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from tests.server.records.conftest import Person, Practice, colleague, refused
from uhealthsec.server.retention.models import FileRetention
from uhealthsec.server.retention.rules import Basis, RetentionFacts, add_years, retention_end
from uhealthsec.server.retention.service import purge


def put_facts(person: Person, patient_file: str, **facts) -> dict:
    return person.exchange.call(
        "PUT", f"/patient-files/{patient_file}/retention", json=facts
    ).json()


@pytest.fixture
def dave(practice: Practice, client, users, outbox) -> Person:
    """A practitioner of Alice's practice who does not treat Carol (yet)."""
    return colleague(practice, client, users, outbox, "dave@example.org")


def test_only_the_admin_or_a_treating_practitioner_records_the_dates(
    practice: Practice, dave: Person, report, clock
):
    """The attack of issue 15: a practitioner who can read the file records a death to
    have the worker destroy it."""
    today = clock.now.date()
    claim = f"/patient-files/{practice.patient_file}/retention/claim"
    detail = refused(403, put_facts, dave, practice.patient_file, died_on=today.isoformat())
    assert "treating this patient" in detail
    refused(403, dave.exchange.call, "POST", claim, json={"on": today.isoformat()})
    assert put_facts(practice.alice, practice.patient_file)["died_on"] is None

    # Writing in the file makes Dave one of the practitioners treating Carol.
    dave.exchange.send(
        report, patient_file_id=practice.patient_file, to=[], patient=practice.carol.email
    )
    assert put_facts(dave, practice.patient_file, born_on="1950-03-04")["born_on"] == ("1950-03-04")

    # Carol sees both attempts in her history, the refused one included.
    history = practice.carol.exchange.call("GET", "/journal/history").json()
    recorded = [
        (h["actor_id"], h["outcome"]) for h in history if h["action"] == "retention.record_facts"
    ]
    assert (dave.user.account_id, "denied") in recorded
    assert (dave.user.account_id, "done") in recorded


def test_implausible_dates_are_refused(practice: Practice, clock):
    alice, today = practice.alice, clock.now.date()
    for facts, reason in (
        ({"died_on": (today - timedelta(days=1)).isoformat()}, "before the file's last care"),
        ({"born_on": (today + timedelta(days=1)).isoformat()}, "in the future"),
        ({"died_on": (today + timedelta(days=1)).isoformat()}, "in the future"),
        ({"born_on": "1960-01-01", "last_care_on": "1959-12-31"}, "before the birth date"),
    ):
        assert reason in refused(400, put_facts, alice, practice.patient_file, **facts)
    assert put_facts(alice, practice.patient_file)["born_on"] is None  # nothing written


def test_a_destruction_decided_by_a_recent_date_waits_its_grace_period(
    practice: Practice, ctx, clock, users, report
):
    alice = practice.alice
    alice.exchange.send(report, patient_file_id=practice.patient_file, to=[])
    opened = clock.now.date()
    clock.advance(days=366 * 15)
    alice.user.tokens = users.sign_in_again(alice.user)
    today = clock.now.date()

    # A death two years after the last care, recorded today: the file's end is long past.
    died = (opened + timedelta(days=366 * 2)).isoformat()
    status = put_facts(alice, practice.patient_file, born_on="1950-01-01", died_on=died)
    assert status["keep_until"] < today.isoformat()
    grace_end = today + timedelta(days=30)
    assert status["destroyable_from"] == grace_end.isoformat()

    [waiting] = purge(ctx, today, dry_run=True)  # `uhs-server worker --dry-run` lists it
    assert (waiting.patient_file_id, waiting.destroyable_from) == (
        uuid.UUID(practice.patient_file),
        grace_end,
    )
    assert purge(ctx, today) == [] and purge(ctx, grace_end - timedelta(days=1)) == []

    # A second person sees it and erases the mistaken death: nothing is due any more.
    corrected = put_facts(alice, practice.patient_file, died_on=None)
    assert corrected["died_on"] is None
    assert corrected["keep_until"] == add_years(opened, 20).isoformat()
    assert purge(ctx, grace_end, dry_run=True) == []

    # Recorded again and left alone, the death destroys the file once the grace is over.
    put_facts(alice, practice.patient_file, died_on=died)
    assert purge(ctx, grace_end - timedelta(days=1)) == []
    [destroyed] = purge(ctx, grace_end)
    assert destroyed.patient_file_id == uuid.UUID(practice.patient_file)
    assert alice.exchange.documents() == []


def test_a_shorter_retention_policy_waits_its_grace_period_too(
    practice: Practice, ctx, clock, users, report
):
    alice = practice.alice
    alice.exchange.send(report, patient_file_id=practice.patient_file, to=[])
    put_facts(alice, practice.patient_file, born_on="1950-01-01")
    clock.advance(days=366 * 15)
    alice.user.tokens = users.sign_in_again(alice.user)
    today = clock.now.date()
    alice.exchange.call(
        "PUT",
        f"/practices/{practice.id}/retention-policy",
        json={"years": 10, "archive_after_years": 5},
    )
    [waiting] = purge(ctx, today, dry_run=True)
    assert waiting.destroyable_from == today + timedelta(days=30)
    assert purge(ctx, today) == []
    assert len(purge(ctx, today + timedelta(days=30))) == 1


def test_a_death_before_the_last_care_cannot_destroy_a_file_in_care(
    practice: Practice, ctx, clock, users, report
):
    """A file opened eleven years ago with a document written today: a death dated on
    the opening day would have ended it a year ago and let the worker destroy it."""
    alice = practice.alice
    opened = clock.now.date()
    clock.advance(days=366 * 11)
    alice.user.tokens = users.sign_in_again(alice.user)
    alice.exchange.send(report, patient_file_id=practice.patient_file, to=[])
    today = clock.now.date()
    detail = refused(
        400, put_facts, alice, practice.patient_file, born_on="1950-01-01", died_on=str(opened)
    )
    assert f"before the file's last care ({today.isoformat()})" in detail
    # Nor does moving the recorded last care after a recorded death pass.
    put_facts(alice, practice.patient_file, born_on="1950-01-01", died_on=str(today))
    assert purge(ctx, add_years(today, 10), dry_run=True) == []
    # A document added after the death (older data, or care the dates missed) keeps
    # the file ten years after that document.
    assert retention_end(
        RetentionFacts(last_care_on=today, born_on=date(1950, 1, 1), died_on=opened)
    ).keep_until == add_years(today, 10)


def claim(person: Person, patient_file: str, action: str, on: date) -> dict:
    return person.exchange.call(
        "POST", f"/patient-files/{patient_file}/retention/{action}", json={"on": on.isoformat()}
    ).json()


def test_a_claim_starts_within_the_files_care_and_suspends_at_most_its_life(
    practice: Practice, clock, users
):
    """Claims from year 1, closed today and opened again, pushed the file's end past the
    year 9999 (a 500 for the practice's file list, the worker stopped)."""
    alice, patient_file = practice.alice, practice.patient_file
    opened = clock.now.date()
    put_facts(alice, patient_file, born_on="1960-01-01")
    for since, reason in (
        (date(1, 1, 1), "before the file's first care"),
        (opened - timedelta(days=1), "before the file's first care"),
        (opened + timedelta(days=1), "in the future"),
    ):
        assert reason in refused(400, claim, alice, patient_file, "claim", since)
    clock.advance(days=100)
    alice.user.tokens = users.sign_in_again(alice.user)
    today = clock.now.date()
    for _ in range(3):  # overlapping claims over the same period
        claim(alice, patient_file, "claim", opened)
        status = claim(alice, patient_file, "claim/close", today)
    assert status["suspended_days"] == 100
    assert status["keep_until"] == (add_years(opened, 20) + timedelta(days=100)).isoformat()


def test_an_end_beyond_the_calendar_keeps_the_file_and_breaks_nothing(
    practice: Practice, ctx, clock, users, report
):
    """A suspension an older server accepted (claims from year 1): the end falls past
    the year 9999. The file is kept; its status, the practice's file list and the
    purge worker answer as usual."""
    alice, patient_file = practice.alice, practice.patient_file
    alice.exchange.send(report, patient_file_id=patient_file, to=[])
    put_facts(alice, patient_file, born_on="1960-01-01")
    with ctx.sessions.begin() as db:
        record = db.get(FileRetention, uuid.UUID(patient_file))
        record.suspended_days = (date.max - clock.now.date()).days
    status = put_facts(alice, patient_file)
    assert (status["keep_until"], status["basis"]) == (None, Basis.BEYOND_CALENDAR)
    [listed] = alice.exchange.call(
        "GET", "/patient-files", params={"practice_id": practice.id}
    ).json()
    assert listed["id"] == patient_file
    assert purge(ctx, clock.now.date(), dry_run=True) == []
    # An end on the calendar's last day has no day after it to be destroyed from.
    last = RetentionFacts(last_care_on=date(9979, 12, 31), born_on=date(1960, 1, 1))
    assert retention_end(last).basis == Basis.BEYOND_CALENDAR
