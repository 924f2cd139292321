"""Research consent is specific (R19): a practice declares its studies, a patient
consents to each and withdraws as easily, and the practice learns who consents to a
study now (the input of research exports, R26). Through the API with SDK clients,
and through the service where no route answers yet (both databases)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from fhir.resources.R4B.bundle import Bundle

from tests.server.consent.test_consent import join, refused
from tests.server.records.conftest import Person, Practice, device
from uhealthsec.client.consent import ConsentClient
from uhealthsec.client.rights import RightsClient
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.consent.service import StudyService, paris_today
from uhealthsec.server.retention.rules import add_months
from uhealthsec.server.storage import migrate


def study_fields(today: date, **changed) -> dict:
    fields = {
        "title": "Lombalgie et kinésithérapie précoce",
        "sponsor": "CHU de Tours",
        "purpose": "Savoir si une rééducation commencée tôt évite les rechutes.",
        "methodology": "MR-004",
        "starts_on": today,
        "ends_on": today + timedelta(days=365),
    }
    return fields | changed


def consenting(ctx, member: Person, study_id: str) -> list[str]:
    """Who consents to the study now, as the research export will ask it."""
    with ctx.sessions.begin() as db:
        caller = db.get(Account, uuid.UUID(member.user.account_id))
        found = StudyService(db, ctx).consenting_patients(caller, uuid.UUID(study_id))
    return [str(patient_id) for patient_id in found]


@pytest.fixture
def today(ctx) -> date:
    return paris_today(ctx)


@pytest.fixture
def study(practice: Practice, today) -> dict:
    return ConsentClient(practice.alice.exchange).declare_study(practice.id, **study_fields(today))


def test_r19_consent_names_a_study_and_its_withdrawal_counts_at_once(
    practice: Practice, study, today, ctx
):
    """R19: consent is given per study, withdrawn in one action as it was given, and a
    withdrawal takes effect in the very next answer; versioned, journaled, exported."""
    alice, carol = practice.alice, practice.carol
    other = ConsentClient(alice.exchange).declare_study(
        practice.id,
        **study_fields(
            today,
            title="Sommeil et douleur chronique",
            methodology="cnil-authorisation",
            authorisation="DR-2026-123",
            ends_on=None,
            duration_months=6,
        ),
    )
    assert other["ends_on"] == (add_months(today, 6) - timedelta(days=1)).isoformat()
    patient = ConsentClient(carol.exchange)
    carol_id = carol.user.account_id

    # The patient sees the practice's studies, in the words it declared them with.
    seen = {s["id"]: s for s in patient.studies(practice.id)}
    assert seen[study["id"]]["sponsor"] == "CHU de Tours"
    assert seen[study["id"]]["methodology"] == "MR-004"
    assert seen[other["id"]]["authorisation"] == "DR-2026-123"
    assert {s["my_decision"] for s in seen.values()} == {None}
    assert {s["consenting"] for s in seen.values()} == {None}  # not the patient's to know

    given = patient.research(practice.id, study["id"], "permit")
    assert given["directive"]["study_id"] == study["id"]
    assert given["directive"]["study_title"] == study["title"]
    assert consenting(ctx, alice, study["id"]) == [carol_id]
    assert consenting(ctx, alice, other["id"]) == []  # consent to one study is not to all
    counts = {s["id"]: s["consenting"] for s in ConsentClient(alice.exchange).studies(practice.id)}
    assert counts == {study["id"]: 1, other["id"]: 0}
    assert [s["my_decision"] for s in patient.studies(practice.id) if s["id"] == study["id"]] == [
        "permit"
    ]

    patient.research(practice.id, study["id"], "deny")
    assert consenting(ctx, alice, study["id"]) == []
    counts = {s["id"]: s["consenting"] for s in ConsentClient(alice.exchange).studies(practice.id)}
    assert counts[study["id"]] == 0

    # Each change is a version of the patient's directives, about its study.
    history = [d for d in patient.directives(history=True) if d["purpose"] == "research"]
    assert [(d["study_id"], d["decision"], d["superseded_at"] is None) for d in history] == [
        (study["id"], "permit", False),
        (study["id"], "deny", True),
    ]
    bundle = patient.fhir()
    Bundle.model_validate(bundle)
    research = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["scope"]["coding"][0]["code"] == "research"
    ]
    assert [(c["provision"]["type"], c["status"]) for c in research] == [
        ("permit", "inactive"),
        ("deny", "active"),
    ]
    named = [x for x in research[0]["extension"] if x["url"] == "urn:uhealthsec:research-study"]
    assert named[0]["valueReference"]["type"] == "ResearchStudy"
    assert named[0]["valueReference"]["identifier"]["value"] == study["id"]
    assert "CHU de Tours" in named[0]["valueReference"]["display"]
    assert research[0]["provision"]["purpose"][1]["code"] == study["id"]
    assert research[0]["provision"]["period"] == {
        "start": study["starts_on"],
        "end": study["ends_on"],
    }
    journal = carol.exchange.call("GET", "/journal/history").json()
    assert [h["outcome"] for h in journal if h["action"] == "consent.record_directive"][-2:] == [
        "done",
        "done",
    ]


def test_r19_a_closed_or_ended_study_lists_nobody(
    practice: Practice, study, today, ctx, clock, users
):
    """R19: once a study is closed, or past its last day, nobody is in it and nobody can
    join it; withdrawing stays possible. Before its first day, nobody is in it yet."""
    alice, carol = practice.alice, practice.carol
    admin, patient = ConsentClient(alice.exchange), ConsentClient(carol.exchange)
    carol_id = carol.user.account_id

    patient.research(practice.id, study["id"], "permit")
    assert consenting(ctx, alice, study["id"]) == [carol_id]
    closed = admin.close_study(study["id"])
    assert closed["state"] == "closed" and closed["closed_at"] is not None
    assert consenting(ctx, alice, study["id"]) == []
    assert {s["id"]: s["consenting"] for s in admin.studies(practice.id)}[study["id"]] == 0
    error = refused(patient.research, practice.id, study["id"], "permit")
    assert error.status == 409 and "closed" in error.detail
    assert refused(admin.close_study, study["id"]).status == 409
    # Still listed to the patient, who consents to it, so that they can withdraw.
    assert [s["state"] for s in patient.studies(practice.id)] == ["closed"]
    patient.research(practice.id, study["id"], "deny")
    assert patient.studies(practice.id) == []

    # The last day is in; the day after is out.
    ending = admin.declare_study(practice.id, **study_fields(today, title="Fin", ends_on=today))
    upcoming = admin.declare_study(
        practice.id, **study_fields(today, title="Plus tard", starts_on=today + timedelta(days=1))
    )
    patient.research(practice.id, ending["id"], "permit")
    patient.research(practice.id, upcoming["id"], "permit")
    assert consenting(ctx, alice, ending["id"]) == [carol_id]
    assert consenting(ctx, alice, upcoming["id"]) == []
    clock.advance(days=1)
    carol.user.tokens = users.sign_in_again(carol.user)
    assert consenting(ctx, alice, ending["id"]) == []
    assert consenting(ctx, alice, upcoming["id"]) == [carol_id]
    error = refused(patient.research, practice.id, ending["id"], "permit")
    assert error.status == 409 and "ended" in error.detail


def test_r19_another_practices_study_cannot_be_consented_to_or_read(
    practice: Practice, study, today, ctx
):
    """R19: a study is its practice's; anyone else finds no such study, as if guessed."""
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    elsewhere = bob.exchange.call("POST", "/practices", json={"name": "Ailleurs"}).json()["id"]
    theirs = ConsentClient(bob.exchange).declare_study(elsewhere, **study_fields(today))

    patient = ConsentClient(carol.exchange)
    # Named with her own practice, another practice's study is not found…
    error = refused(patient.research, practice.id, theirs["id"], "permit")
    assert (error.status, error.detail) == (404, "no such study")
    # …and named with its practice, she has no file there.
    assert refused(patient.research, elsewhere, theirs["id"], "permit").status == 404
    assert refused(patient.studies, elsewhere).status == 404
    guessed = str(uuid.uuid4())
    assert refused(patient.research, practice.id, guessed, "permit").detail == "no such study"

    # Members of one practice neither read, close nor count the other's studies.
    assert refused(ConsentClient(bob.exchange).studies, practice.id).status == 404
    assert refused(ConsentClient(bob.exchange).close_study, study["id"]).status == 404
    assert refused(ConsentClient(alice.exchange).close_study, theirs["id"]).status == 404
    assert refused(ConsentClient(alice.exchange).close_study, guessed).status == 404
    with pytest.raises(Exception, match="no such study"):
        consenting(ctx, alice, theirs["id"])
    assert consenting(ctx, bob, theirs["id"]) == []


def test_r19_only_a_patient_of_the_practice_consents_and_only_for_themselves(
    practice: Practice, study, client, users, outbox
):
    """R19: a patient without a file in the practice cannot consent to its studies, a
    practitioner cannot consent for a patient, and no body names another patient."""
    alice, carol = practice.alice, practice.carol
    erin_user = users.signed_in("erin@example.org", "patient")
    erin = ConsentClient(device(client, users, erin_user))
    error = refused(erin.research, practice.id, study["id"], "permit")
    assert error.status == 404 and "no file" in error.detail
    assert refused(erin.studies, practice.id).status == 404

    assert (
        refused(ConsentClient(alice.exchange).research, practice.id, study["id"], "permit").status
        == 403
    )
    # The patient is whoever signed the request: a body naming someone else is refused.
    answer = carol.send(
        "POST",
        "/consents",
        {
            "practice_id": practice.id,
            "purpose": "research",
            "decision": "permit",
            "study_id": study["id"],
            "patient_id": erin_user.account_id,
        },
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")

    # Declaring and closing are for admins and practitioners; secretaries see the list.
    secretary = ConsentClient(
        join(practice, client, users, outbox, "sec@example.org", "secretary").exchange
    )
    assert refused(secretary.declare_study, practice.id, **study_fields(date.today())).status == 403
    assert refused(secretary.close_study, study["id"]).status == 403
    assert [(s["id"], s["consenting"]) for s in secretary.studies(practice.id)] == [
        (study["id"], None)
    ]
    assert (
        refused(
            ConsentClient(carol.exchange).declare_study, practice.id, **study_fields(date.today())
        ).status
        == 403
    )


def test_r19_a_restricted_file_is_not_in_any_study(practice: Practice, study, ctx):
    """R19 with GDPR art. 18: a file whose processing is restricted is kept, not used
    for research, though its patient consented."""
    alice, carol = practice.alice, practice.carol
    ConsentClient(carol.exchange).research(practice.id, study["id"], "permit")
    request = RightsClient(carol.exchange).ask(practice.id, "restriction")
    RightsClient(alice.exchange).complete(request["id"])
    assert consenting(ctx, alice, study["id"]) == []
    RightsClient(carol.exchange).lift(request["id"])
    assert consenting(ctx, alice, study["id"]) == [carol.user.account_id]


@pytest.mark.parametrize(
    ("changed", "status", "says"),
    [
        ({"title": "x" * 201}, 422, "title"),
        ({"title": ""}, 422, "title"),
        ({"title": "    "}, 400, "not blank"),
        ({"sponsor": "CHU de Tours\u0000"}, 400, "control"),
        ({"sponsor": "y" * 201}, 422, "sponsor"),
        ({"purpose": "z" * 2001}, 422, "purpose"),
        ({"methodology": "MR-007"}, 422, "methodology"),
        ({"methodology": "cnil-authorisation"}, 400, "authorisation number"),
        ({"authorisation": "DR-1"}, 400, "authorisation number"),
        ({"authorisation": "9" * 41, "methodology": "cnil-authorisation"}, 422, "authorisation"),
        ({"duration_months": 12}, 400, "not both"),
        ({"ends_on": None}, 400, "not both"),
        ({"ends_on": None, "duration_months": 100000}, 422, "duration_months"),
        ({"starts_on": "9999-01-01", "ends_on": "9999-12-31"}, 400, "by 2100"),
        ({"starts_on": "9999-12-01", "ends_on": None, "duration_months": 240}, 400, "by 2100"),
        ({"ends_on": "2001-01-01"}, 400, "on or after its start"),
        ({"starts_on": "2020-01-01", "ends_on": "2020-12-31"}, 400, "already ended"),
        ({"starts_on": "not a date"}, 422, "starts_on"),
        ({"extra": "field"}, 422, "extra"),
    ],
)
def test_r19_a_bad_study_is_refused_with_a_problem(
    practice: Practice, today, changed, status, says
):
    """R19: every field of a study is bounded; a refusal is problem+json, nothing written."""
    alice = practice.alice.exchange
    fields = study_fields(today)
    fields = {k: v.isoformat() if isinstance(v, date) else v for k, v in fields.items()} | changed
    fields = {k: v for k, v in fields.items() if v is not None}
    answer = practice.alice.send("POST", f"/practices/{practice.id}/studies", fields)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert says in answer.text
    assert ConsentClient(alice).studies(practice.id) == []


def test_r19_a_research_directive_names_a_study_and_only_it_does(practice: Practice, study):
    """R19: the practice-wide research switch is gone: research without a study is
    refused, and a study on another purpose too."""
    patient = ConsentClient(practice.carol.exchange)
    error = refused(patient.decide, practice.id, "research", "permit")
    assert error.status == 400 and "names one study" in error.detail
    error = refused(patient.decide, practice.id, "outside_team", "permit", study_id=study["id"])
    assert error.status == 400 and "only a research directive" in error.detail
    error = refused(
        patient.decide, practice.id, "research", "permit", "alice@example.org", study["id"]
    )
    assert error.status == 400


def test_r19_practice_wide_research_consents_are_not_carried_over(practice: Practice, ctx):
    """R19: a research directive of before studies named none: the migration supersedes
    it (kept in the history) rather than make it a consent to a study never shown."""
    carol_id = uuid.UUID(practice.carol.user.account_id)
    migrate.downgrade(ctx.engine, "0043")
    directives = sa.table(
        "consent_directives",
        sa.column("id", sa.Uuid()),
        sa.column("patient_id", sa.Uuid()),
        sa.column("version", sa.Integer()),
        sa.column("practice_id", sa.Uuid()),
        sa.column("purpose", sa.String()),
        sa.column("decision", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    with ctx.engine.begin() as connection:
        connection.execute(
            directives.insert().values(
                id=uuid.uuid4(),
                patient_id=carol_id,
                version=2,
                practice_id=uuid.UUID(practice.id),
                purpose="research",
                decision="permit",
                created_at=datetime(2025, 1, 1, tzinfo=UTC),
            )
        )
    migrate.upgrade(ctx.engine)
    patient = ConsentClient(practice.carol.exchange)
    assert [d["purpose"] for d in patient.directives(practice.id)] == ["outside_team"]
    old = [d for d in patient.directives(history=True) if d["purpose"] == "research"]
    assert len(old) == 1 and old[0]["study_id"] is None and old[0]["superseded_at"] is not None
