"""The patient's directives and the L1110-4 sharing rule, through the API with SDK
clients (both databases)."""

from __future__ import annotations

from datetime import date

import pytest
from fhir.resources.R4B.bundle import Bundle

from tests.server.records.conftest import Person, Practice, device
from uhealthsec.client.api import ApiError
from uhealthsec.client.consent import ConsentClient


def join(practice: Practice, client, users, outbox, email: str, role: str) -> Person:
    """Someone the practice's admin invites into the care team."""
    practice.alice.exchange.call(
        "POST", f"/practices/{practice.id}/invitations", json={"email": email, "role": role}
    )
    user = users.signed_in(email, invitation=outbox.last_code(email, "Invitation code"))
    return Person(user, device(client, users, user))


def outsider(client, users, email: str) -> Person:
    user = users.signed_in(email)
    return Person(user, device(client, users, user))


@pytest.fixture
def dave(practice, client, users, outbox) -> Person:
    """A practitioner of Alice's practice: Carol's care team."""
    return join(practice, client, users, outbox, "dave@example.org", "practitioner")


def refused(call, *args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_care_team_without_objection(practice: Practice, dave: Person, report, tmp_path):
    document_id = practice.alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[dave.email]
    )
    assert dave.exchange.fetch(document_id, tmp_path / "d.txt").path.read_bytes() == (
        report.read_bytes()
    )


def test_care_team_with_objection(practice: Practice, dave: Person, client, users, outbox, report):
    """R10: a secretary reads a document only while it is shared with her.
    R11: an objection ends care-team sharing at once and is lifted at once.
    """
    alice, carol = practice.alice, practice.carol
    secretary = join(practice, client, users, outbox, "sec@example.org", "secretary")
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[dave.email, secretary.email]
    )
    consent = ConsentClient(carol.exchange)

    # An objection to one member ends his access at once and refuses new shares.
    recorded = consent.decide(practice.id, "care_team", "deny", dave.email)
    assert recorded["shares_ended"] == 1
    assert dave.exchange.documents() == []
    error = refused(
        alice.exchange.send, report, patient_file_id=practice.patient_file, to=[dave.email]
    )
    assert error.status == 403
    assert "objected to sharing their file with this member of their care team" in error.detail
    assert "L1110-4" in error.detail
    # The rest of the team is not concerned.
    assert [d.id for d in secretary.exchange.documents()] == [document_id]

    # An objection to the whole team; the author keeps her own document.
    assert consent.decide(practice.id, "care_team", "deny")["shares_ended"] == 1
    assert secretary.exchange.documents() == []
    assert [d.id for d in alice.exchange.documents()] == [document_id]
    error = refused(alice.exchange.share, document_id, [secretary.email])
    assert "objected to sharing their file with their care team" in error.detail

    # Lifting the general objection leaves the one about Dave in force.
    consent.decide(practice.id, "care_team", "permit")
    alice.exchange.share(document_id, [secretary.email])
    assert [d.id for d in secretary.exchange.documents()] == [document_id]
    assert refused(alice.exchange.share, document_id, [dave.email]).status == 403


def test_outside_the_team_without_consent(practice: Practice, client, users, report):
    """R11: outside the care team, no sharing without the patient's prior consent."""
    erin = outsider(client, users, "erin@example.org")
    alice = practice.alice.exchange
    error = refused(alice.send, report, patient_file_id=practice.patient_file, to=[erin.email])
    assert error.status == 403
    assert "needs the patient's prior consent (CSP L1110-4)" in error.detail
    # Nothing of the refused request stays: no document for anyone.
    assert alice.documents() == [] and erin.exchange.documents() == []


def test_outside_the_team_with_consent(practice: Practice, client, users, report, tmp_path):
    erin = outsider(client, users, "erin@example.org")
    frank = outsider(client, users, "frank@example.org")
    alice = practice.alice.exchange
    consent = ConsentClient(practice.carol.exchange)

    # Consent for one professional: Erin only.
    consent.decide(practice.id, "outside_team", "permit", erin.email)
    document_id = alice.send(report, patient_file_id=practice.patient_file, to=[erin.email])
    assert erin.exchange.fetch(document_id, tmp_path / "e.txt").path.read_bytes() == (
        report.read_bytes()
    )
    assert refused(alice.share, document_id, [frank.email]).status == 403

    # Consent for anyone outside the team, then narrowed: not Erin.
    consent.decide(practice.id, "outside_team", "permit")
    alice.share(document_id, [frank.email])
    assert [d.id for d in frank.exchange.documents()] == [document_id]
    assert consent.decide(practice.id, "outside_team", "deny", erin.email)["shares_ended"] == 1
    assert erin.exchange.documents() == []
    assert [d.id for d in frank.exchange.documents()] == [document_id]


def test_after_revocation(practice: Practice, report, tmp_path):
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email, carol.email]
    )
    alice.exchange.new_version(document_id, report)  # two versions shared with Bob

    recorded = ConsentClient(carol.exchange).decide(practice.id, "outside_team", "deny", bob.email)
    assert recorded["shares_ended"] == 2
    assert bob.exchange.documents() == []
    assert refused(bob.exchange.fetch, document_id, tmp_path / "b.txt").status == 404
    assert refused(alice.exchange.share, document_id, [bob.email]).status == 403
    # The author and the patient keep their access.
    assert alice.exchange.fetch(document_id, tmp_path / "a.txt").version == 2
    assert carol.exchange.fetch(document_id, tmp_path / "c.txt").version == 2


def test_directives_are_versioned_journaled_and_exported_as_fhir(practice: Practice, dave):
    """R19: research consent is given, versioned, journaled and exported."""
    carol = practice.carol
    study = ConsentClient(practice.alice.exchange).declare_study(
        practice.id,
        title="Suivi de la tension",
        sponsor="Université de Tours",
        purpose="Comparer deux rythmes de suivi de l'hypertension.",
        methodology="MR-003",
        starts_on=date(2026, 1, 1),
        ends_on=date(2099, 12, 31),
    )
    consent = ConsentClient(carol.exchange)
    consent.decide(practice.id, "care_team", "deny", dave.email)
    consent.decide(practice.id, "care_team", "permit", dave.email)
    consent.research(practice.id, study["id"], "permit")
    # The same decision again is no new version.
    consent.research(practice.id, study["id"], "permit")

    history = consent.directives(history=True)
    assert [(d["version"], d["purpose"], d["decision"]) for d in history] == [
        (1, "outside_team", "permit"),
        (2, "care_team", "deny"),
        (3, "care_team", "permit"),
        (4, "research", "permit"),
    ]
    assert [d["superseded_at"] is None for d in history] == [True, False, True, True]
    current = consent.directives(practice.id)
    assert [d["version"] for d in current] == [1, 3, 4]
    assert current[1]["recipient_email"] == dave.email

    bundle = consent.fhir()
    Bundle.model_validate(bundle)
    consents = [e["resource"] for e in bundle["entry"]]
    assert [(c["meta"]["versionId"], c["status"], c["provision"]["type"]) for c in consents] == [
        ("1", "active", "permit"),
        ("2", "inactive", "deny"),
        ("3", "active", "permit"),
        ("4", "active", "permit"),
    ]
    assert consents[3]["scope"]["coding"][0]["code"] == "research"
    assert consents[1]["policyRule"]["coding"][0]["code"] == "OPTOUT"
    assert consents[1]["provision"]["actor"][0]["reference"]["reference"] == (
        f"Practitioner/{dave.user.account_id}"
    )

    journal = carol.exchange.call("GET", "/journal/history").json()
    recorded = [h for h in journal if h["action"] == "consent.record_directive"]
    assert len(recorded) == 5 and {h["outcome"] for h in recorded} == {"done"}


def test_who_may_record_and_read_directives(practice: Practice, dave, client, users):
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    # Only the patient decides, and only about a practice that holds a file of theirs.
    error = refused(ConsentClient(alice.exchange).decide, practice.id, "care_team", "deny")
    assert error.status == 403
    other = alice.exchange.call("POST", "/practices", json={"name": "Autre"}).json()["id"]
    assert refused(ConsentClient(carol.exchange).decide, other, "care_team", "deny").status == 404
    error = refused(
        ConsentClient(carol.exchange).decide, practice.id, "outside_team", "permit", "x@nowhere.org"
    )
    assert error.status == 404

    # The care team sees the directives in force; nobody outside it does.
    seen = ConsentClient(dave.exchange).of_patient_file(practice.patient_file)
    assert [(d["purpose"], d["recipient_email"]) for d in seen] == [("outside_team", bob.email)]
    assert refused(ConsentClient(bob.exchange).of_patient_file, practice.patient_file).status == 404
