"""R11: within the care team, sharing is allowed after the patient is informed, unless
they objected. The practice's information notice, the record that the patient was
informed of it (at the invitation's acceptance, or in person at first care), and the
refusal of care-team sharing until then; through the API with SDK clients (both
databases)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.server.consent.test_consent import join
from tests.server.records.conftest import Person, Practice, colleague, device, refused
from uhealthsec.client.consent import ConsentClient
from uhealthsec.client.errors import ApiError
from uhealthsec.protocol.consent import MAX_NOTICE_CHARS
from uhealthsec.server.consent.notice import DEFAULT_NOTICE_FR
from uhealthsec.server.errors import PATIENT_NOT_INFORMED
from uhealthsec.server.incidents.anomalies.rules import PARIS

NOTICE_FR = "Notre cabinet partage votre dossier au sein de l'équipe de soins. " * 3


def invited_patient(practice: Practice, client, users, outbox, email: str, **acceptance) -> Person:
    """A patient of Alice's practice who accepted its invitation with ``acceptance``
    (without a notice version unless given: a client that showed no notice)."""
    user = users.signed_in(email, "patient")
    practice.alice.exchange.call(
        "POST", f"/practices/{practice.id}/invitations", json={"email": email, "role": "patient"}
    )
    code = outbox.last_code(email, "invitation code")
    answer = users.sdk.http.post(
        "/practices/invitations/accept",
        json={"code": code, **acceptance},
        headers=users.sdk.bearer(user.tokens),
    )
    assert answer.status_code == 200, answer.text
    return Person(user, device(client, users, user))


@pytest.fixture
def dave(practice: Practice, client, users, outbox) -> Person:
    """A practitioner of Alice's practice: his patients' care team."""
    return colleague(practice, client, users, outbox, "dave@example.org")


@pytest.fixture
def paul(practice: Practice, client, users, outbox) -> Person:
    """A patient who joined without being shown the notice: never informed."""
    return invited_patient(practice, client, users, outbox, "paul@example.org")


def today(clock) -> object:
    return clock.now.astimezone(PARIS).date()


def test_r11_care_team_sharing_of_a_never_informed_patient_is_refused_until_informed(
    practice: Practice, dave: Person, paul: Person, report, clock
):
    """R11: never informed -> care-team sharing refused, with what to do; informed in
    person -> allowed; the patient sees the notice they were given."""
    alice = practice.alice.exchange
    paul_file = alice.patient_file(practice.id, paul.email)["id"]
    consent = ConsentClient(alice)
    assert consent.file_information(paul_file) == []

    with pytest.raises(ApiError) as refusal:
        alice.send(report, patient_file_id=paul_file, to=[dave.email])
    assert refusal.value.status == 403
    # Its own problem type, for a client to offer recording the information.
    assert refusal.value.body["type"] == PATIENT_NOT_INFORMED
    detail = refusal.value.detail
    assert "has not been informed yet" in detail and "L1110-4" in detail
    assert "record that you informed them in person" in detail
    assert "accept the practice's invitation" in detail
    # Nothing of the refused request stays.
    assert alice.documents() == [] and dave.exchange.documents() == []
    # Alice's own copy and the patient's are not care-team sharing.
    own = alice.send(report, patient_file_id=paul_file, to=[paul.email])
    assert [d.id for d in paul.exchange.documents()] == [own]

    recorded = consent.record_information(paul_file, today(clock))
    assert recorded["how"] == "in_person" and recorded["notice_version"] == 0
    assert recorded["recorded_by_name"] == "Dr Alice"
    document_id = alice.send(report, patient_file_id=paul_file, to=[dave.email])
    assert [d.id for d in dave.exchange.documents()] == [document_id]

    seen = ConsentClient(paul.exchange).information()
    assert [(i["how"], i["informed_on"], i["notice_version"]) for i in seen] == [
        ("in_person", today(clock).isoformat(), 0)
    ]
    assert seen[0]["notice"]["text_fr"] == DEFAULT_NOTICE_FR
    assert seen[0]["notice"]["practice_name"] == "Cabinet"


def test_r11_acceptance_of_the_invitation_records_the_notice_shown(
    practice: Practice, dave: Person, report, clock
):
    """R11: a patient who accepted the invitation after their client showed the notice
    is informed (the shared fixture joins Carol so), and the care team shares."""
    carol = ConsentClient(practice.carol.exchange).information()
    assert [(i["how"], i["notice_version"], i["informed_on"]) for i in carol] == [
        ("invitation", 0, today(clock).isoformat())
    ]
    assert carol[0]["recorded_by_name"] == "Dr Carol"  # the patient herself
    alice = practice.alice.exchange
    document_id = alice.send(report, patient_file_id=practice.patient_file, to=[dave.email])
    assert [d.id for d in dave.exchange.documents()] == [document_id]
    assert ConsentClient(alice).file_information(practice.patient_file) == carol


def test_r11_informed_then_objection_is_refused(practice: Practice, dave: Person, report, clock):
    """R11: the objection wins over the information, at once and with its own reason."""
    alice = practice.alice.exchange
    ConsentClient(practice.carol.exchange).decide(practice.id, "care_team", "deny")
    detail = refused(
        403, alice.send, report, patient_file_id=practice.patient_file, to=[dave.email]
    )
    assert "objected to sharing their file with their care team" in detail
    ConsentClient(practice.carol.exchange).decide(practice.id, "care_team", "permit")
    alice.send(report, patient_file_id=practice.patient_file, to=[dave.email])


def test_r11_an_objection_of_a_never_informed_patient_still_wins(
    practice: Practice, dave: Person, paul: Person, report, clock
):
    """R11: recording the information does not lift an objection made before it."""
    alice = practice.alice.exchange
    paul_file = alice.patient_file(practice.id, paul.email)["id"]
    ConsentClient(paul.exchange).decide(practice.id, "care_team", "deny", dave.email)
    ConsentClient(alice).record_information(paul_file, today(clock))
    detail = refused(403, alice.send, report, patient_file_id=paul_file, to=[dave.email])
    assert "objected to sharing their file with this member" in detail


def test_r11_the_day_informed_is_neither_in_the_future_nor_before_the_file(
    practice: Practice, paul: Person, clock, users
):
    """R11: the day after today is refused, today is taken; the day before the file was
    opened is refused, the day it was opened is taken."""
    alice = practice.alice.exchange
    paul_file = alice.patient_file(practice.id, paul.email)["id"]
    opened = today(clock)
    consent = ConsentClient(alice)
    clock.advance(days=3)
    practice.alice.user.tokens = users.sign_in_again(practice.alice.user)
    detail = refused(400, consent.record_information, paul_file, opened - timedelta(days=1))
    assert f"opened on {opened.isoformat()}" in detail
    detail = refused(400, consent.record_information, paul_file, today(clock) + timedelta(days=1))
    assert "after today" in detail
    assert consent.file_information(paul_file) == []  # nothing of the refusals stays
    assert consent.record_information(paul_file, opened)["informed_on"] == opened.isoformat()
    later = consent.record_information(paul_file, today(clock))
    assert later["informed_on"] == today(clock).isoformat()
    assert len(consent.file_information(paul_file)) == 2


def test_r11_only_a_practitioner_of_the_practice_records_the_information(
    practice: Practice, paul: Person, client, users, outbox, clock
):
    """R11: a member of another practice cannot record it (nor learn the file exists),
    nor can the patient, nor a secretary of the practice (members whose role does not
    allow it)."""
    alice = practice.alice.exchange
    paul_file = alice.patient_file(practice.id, paul.email)["id"]
    bob = practice.bob.exchange
    bob.call("POST", "/practices", json={"name": "Autre cabinet"})
    detail = refused(404, ConsentClient(bob).record_information, paul_file, today(clock))
    assert "no such practice" in detail
    refused(404, ConsentClient(bob).file_information, paul_file)
    refused(403, ConsentClient(paul.exchange).record_information, paul_file, today(clock))
    secretary = join(practice, client, users, outbox, "sec@example.org", "secretary")
    refused(403, ConsentClient(secretary.exchange).record_information, paul_file, today(clock))
    assert ConsentClient(alice).file_information(paul_file) == []


def test_r11_a_patient_is_informed_only_of_their_practices_notices(
    practice: Practice, paul: Person, client, users, outbox, clock
):
    """R11: a version the practice never published (another practice's) is refused,
    whether recorded in person or named at the invitation's acceptance; the refused
    acceptance leaves nothing (no membership, the invitation still open)."""
    bob = practice.bob.exchange
    other = bob.call("POST", "/practices", json={"name": "Autre cabinet"}).json()["id"]
    published = ConsentClient(bob).publish_notice(other, NOTICE_FR)
    assert published["version"] == 1
    alice = practice.alice.exchange
    paul_file = alice.patient_file(practice.id, paul.email)["id"]
    detail = refused(404, ConsentClient(alice).record_information, paul_file, today(clock), 1)
    assert "no notice of this version" in detail
    # Nor can Alice read another practice's notice.
    refused(404, ConsentClient(alice).notice, other)

    user = users.signed_in("zoe@example.org", "patient")
    alice.call(
        "POST",
        f"/practices/{practice.id}/invitations",
        json={"email": user.email, "role": "patient"},
    )
    code = outbox.last_code(user.email, "invitation code")
    shown = users.sdk.invitation_notice(code)
    assert shown.for_patient and shown.version == 0 and shown.practice_name == "Cabinet"
    for version in (1, 999_999):
        answer = users.sdk.http.post(
            "/practices/invitations/accept",
            json={"code": code, "notice_version": version},
            headers=users.sdk.bearer(user.tokens),
        )
        assert answer.status_code == 404, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    assert users.sdk.http.get("/practices", headers=users.sdk.bearer(user.tokens)).json() == []
    answer = users.sdk.http.post(
        "/practices/invitations/accept",
        json={"code": code, "notice_version": -1},
        headers=users.sdk.bearer(user.tokens),
    )
    assert answer.status_code == 422
    answer = users.sdk.http.post(
        "/practices/invitations/accept",
        json={"code": code, "notice_version": 0},
        headers=users.sdk.bearer(user.tokens),
    )
    assert answer.status_code == 200, answer.text


def test_r11_a_practice_publishes_versions_never_edited_and_bounded(
    practice: Practice, paul: Person, dave: Person, clock
):
    """R11: an admin publishes the practice's notice; each version is kept as it was,
    the newest is the one shown; a text over the bound, or a practitioner who is not
    admin, is refused."""
    alice = ConsentClient(practice.alice.exchange)
    assert alice.notice(practice.id)["version"] == 0
    first = alice.publish_notice(practice.id, NOTICE_FR, "Our practice shares your file. " * 5)
    second = alice.publish_notice(practice.id, NOTICE_FR + " Version deux.")
    assert (first["version"], second["version"]) == (1, 2)
    assert alice.notice(practice.id)["version"] == 2
    assert alice.notice(practice.id, 1) == first
    assert alice.notice(practice.id, 0)["text_fr"] == DEFAULT_NOTICE_FR
    # The patient reads it too, and is recorded informed of the version Alice gave.
    assert ConsentClient(paul.exchange).notice(practice.id)["version"] == 2
    paul_file = practice.alice.exchange.patient_file(practice.id, paul.email)["id"]
    assert alice.record_information(paul_file, today(clock))["notice_version"] == 2
    assert alice.record_information(paul_file, today(clock), 1)["notice"] == first

    path = f"/practices/{practice.id}/notices"
    huge = "x" * (MAX_NOTICE_CHARS + 1)
    call = practice.alice.exchange.call
    refused(422, call, "POST", path, json={"text_fr": huge})
    just = "x" * MAX_NOTICE_CHARS
    assert call("POST", path, json={"text_fr": just}).json()["version"] == 3
    assert "not blank" in refused(400, call, "POST", path, json={"text_fr": " " * 200})
    refused(403, ConsentClient(dave.exchange).publish_notice, practice.id, NOTICE_FR)
    assert alice.notice(practice.id)["version"] == 3
