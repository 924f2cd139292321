"""The breach register (R20, R21): the 72-hour clock, the numbers counted from the
journal, the art. 34(3)(a) record, who may see an incident, the notices to patients
and the worker's reminders (both databases)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from email.header import decode_header, make_header

import pytest

from tests.server.records.conftest import Person, Practice, colleague, device, refused
from tests.server_fixtures import make_settings
from uhealthsec.client.incidents import IncidentClient
from uhealthsec.server.audit.outbox import sequence_stale
from uhealthsec.server.incidents.exposure import clear_metadata_text
from uhealthsec.server.incidents.models import Incident
from uhealthsec.server.incidents.service import COUNT_COST, WRITES_PER_HOUR, IncidentService

OPERATOR = "olga@example.org"


@pytest.fixture
def settings(tmp_path, database_url):
    return make_settings(tmp_path, database_url, incident_operators=[OPERATOR])


def opened(admin: Person, practice_id: str, **fields) -> dict:
    fields.setdefault("nature", ["confidentiality"])
    fields.setdefault("description", "Ordinateur portable du cabinet volé dans la voiture.")
    return IncidentClient(admin.exchange).open(practice_id, **fields)


def test_r20_the_clock_72_hours_from_awareness_and_a_late_notice_gives_its_reasons(
    practice: Practice, clock
):
    """At 71 h 59 the initial notification is on time; at 72 h 01 it is refused
    without the reasons for the delay, and recorded with them."""
    incidents = IncidentClient(practice.alice.exchange)
    now = clock.now
    on_time = opened(practice.alice, practice.id, aware_at=now - timedelta(hours=71, minutes=59))
    assert on_time["clock"] == "due_soon"
    done = incidents.notify(on_time["id"])
    assert done["clock"] == "notified" and done["decision"] == "notifiable"
    assert [n["kind"] for n in done["notifications"]] == ["initial"]
    # A second initial notification is a complement, which says what it adds.
    assert "complementary" in refused(409, incidents.notify, on_time["id"])
    assert "adds" in refused(400, incidents.notify, on_time["id"], complementary=True)
    more = incidents.notify(
        on_time["id"], complementary=True, complement="Le portable a été retrouvé, disque intact."
    )
    assert [n["kind"] for n in more["notifications"]] == ["initial", "complementary"]

    late = opened(practice.alice, practice.id, aware_at=now - timedelta(hours=72, minutes=1))
    assert late["clock"] == "late"
    detail = refused(400, incidents.notify, late["id"])
    assert "reasons for the delay" in detail
    assert incidents.show(late["id"])["notifications"] == []  # nothing written
    noted = incidents.notify(late["id"], delay_reasons="Découverte un week-end, cabinet fermé.")
    assert noted["clock"] == "notified_late"
    assert noted["notifications"][0]["delay_reasons"].startswith("Découverte")

    fresh = opened(practice.alice, practice.id)
    assert fresh["clock"] == "on_time" and fresh["aware_at"] == fresh["created_at"]
    future = (now + timedelta(minutes=5)).isoformat()
    assert "future" in refused(400, incidents.update, fresh["id"], aware_at=future)
    # Once notified, the awareness time the deadline was judged by stays.
    earlier = (now - timedelta(hours=1)).isoformat()
    assert "notified" in refused(409, incidents.update, on_time["id"], aware_at=earlier)


def test_r20_numbers_counted_from_the_journal_prefill_the_estimates(
    practice: Practice, report, clock, ctx
):
    """Alice sends Carol's report: counting Alice's actions finds Carol and the
    document; Bob's, or a period before, find nothing; the admin's correction stays."""
    start = clock.now - timedelta(minutes=1)
    practice.alice.exchange.send(report, patient_file_id=practice.patient_file, to=[])
    clock.advance(minutes=2)
    incidents = IncidentClient(practice.alice.exchange)
    incident = opened(practice.alice, practice.id)
    alice_id, bob_id = practice.alice.user.account_id, practice.bob.user.account_id

    counted = incidents.count(incident["id"], start, clock.now, [alice_id])
    assert (counted["people_counted"], counted["records_counted"]) == (1, 1)
    assert (counted["people_estimate"], counted["records_estimate"]) == (1, 1)

    with ctx.sessions.begin() as db:
        service = IncidentService(db, ctx)
        concerned = service.patients(db.get(Incident, uuid.UUID(incident["id"])))
    assert concerned == [uuid.UUID(practice.carol.user.account_id)]

    none = incidents.count(incident["id"], start, clock.now, [bob_id])
    assert (none["people_counted"], none["records_counted"]) == (0, 0)
    # The narrower count replaces the broader one: Carol is no longer to be told.
    with ctx.sessions.begin() as db:
        assert IncidentService(db, ctx).patients(db.get(Incident, uuid.UUID(incident["id"]))) == []
    before = incidents.count(incident["id"], start - timedelta(days=2), start - timedelta(days=1))
    assert before["people_counted"] == 0
    # The practice corrects the estimate: both numbers are kept, and the next count
    # does not overwrite it.
    corrected = incidents.update(incident["id"], people_estimate=40)
    again = incidents.count(incident["id"], start, clock.now)
    assert (again["people_estimate"], again["people_counted"]) == (40, 1)
    assert corrected["records_estimate"] == 1
    assert "before its end" in refused(400, incidents.count, incident["id"], clock.now, start)

    # Counting reads up to a year of the journal: an incident takes a few an hour.
    spent = 4 * COUNT_COST + 1
    for _ in range((WRITES_PER_HOUR - spent) // COUNT_COST):
        incidents.count(incident["id"], start)
    assert "an hour" in refused(429, incidents.count, incident["id"], start)


def test_r21_unintelligible_content_records_the_metadata_in_clear_and_telling_sends_notices(
    practice: Practice, report, clock, outbox, ctx
):
    incidents = IncidentClient(practice.alice.exchange)
    stolen = opened(practice.alice, practice.id)
    decided = incidents.decide_people(stolen["id"], "unintelligible")
    assert decided["people_decision"] == "unintelligible"
    assert decided["clear_metadata"] == clear_metadata_text()
    assert "adresse e-mail" in decided["clear_metadata"]
    form = incidents.export(stolen["id"], "md")
    assert "34(3)(a)" in form and "adresse e-mail" in form

    # Not notifiable needs a written reason; then it cannot be notified.
    assert "in writing" in refused(400, incidents.decide, stolen["id"], "not_notifiable")
    incidents.decide(stolen["id"], "not_notifiable", "Disque chiffré, clé jamais exposée.")
    assert "not notifiable" in refused(409, incidents.notify, stolen["id"])
    register = incidents.register(practice.id)
    assert [(i["id"], i["decision"]) for i in register] == [(stolen["id"], "not_notifiable")]

    start = clock.now - timedelta(minutes=1)
    practice.alice.exchange.send(report, patient_file_id=practice.patient_file, to=[])
    leaked = opened(practice.alice, practice.id, description="Compte d'Alice utilisé par un tiers.")
    assert "count them" in refused(409, incidents.decide_people, leaked["id"], "tell")
    incidents.count(leaked["id"], start, clock.now + timedelta(minutes=1))
    told = incidents.decide_people(leaked["id"], "tell", message="Changez votre mot de passe.")
    assert told["people_decision"] == "tell"
    notices = IncidentClient(practice.carol.exchange).my_notices()
    assert len(notices) == 1 and "Compte d'Alice utilisé par un tiers." in notices[0]["text"]
    mail = outbox.messages(practice.carol.email)[-1]
    assert (
        str(make_header(decode_header(mail["Subject"]))) == "Violation de données vous concernant"
    )
    assert "told" in refused(409, incidents.decide_people, leaked["id"], "tell")
    assert IncidentClient(practice.alice.exchange).my_notices() == []
    # The notice is in Carol's access history, once the sweeper sequenced its entry.
    sequence_stale(ctx.journal, clock.now + timedelta(seconds=1), timedelta(0))
    history = practice.carol.exchange.call("GET", "/journal/history").json()
    sent = [h for h in history if h["action"] == "incidents.notice_sent"]
    assert [h["actor_id"] for h in sent] == [practice.alice.user.account_id]


def test_r20_only_the_practice_admins_and_operators_see_an_incident(
    practice: Practice, client, users, outbox
):
    """A practitioner who is not admin, a patient and another practice's admin learn
    nothing of the incident (404); the member without the right is told so on the
    practice's register (403); an operator opens one in any practice."""
    incident = opened(practice.alice, practice.id)
    dave = colleague(practice, client, users, outbox, "dave@example.org")
    bob = practice.bob
    # Bob is the admin of a practice of his own.
    bob.exchange.call("POST", "/practices", json={"name": "Cabinet Bob"})
    for outsider in (dave, practice.carol, bob):
        incidents = IncidentClient(outsider.exchange)
        detail = refused(404, incidents.show, incident["id"])
        assert detail == refused(404, incidents.show, uuid.uuid4())
        refused(404, incidents.update, incident["id"], description="effacé")
        refused(404, incidents.notify, incident["id"])
        refused(404, incidents.export, incident["id"])
    refused(403, IncidentClient(dave.exchange).register, practice.id)
    refused(403, opened, dave, practice.id)
    refused(404, IncidentClient(bob.exchange).register, practice.id)
    refused(404, opened, bob, practice.id)

    olga_user = users.signed_in(OPERATOR, "practitioner")
    olga = IncidentClient(device(client, users, olga_user))
    by_operator = olga.open(practice.id, nature=["availability"], description="Serveur HS.")
    assert by_operator["contact"].endswith("<alice@example.org>")
    assert olga.show(incident["id"])["id"] == incident["id"]
    assert {i["id"] for i in IncidentClient(practice.alice.exchange).register(practice.id)} == {
        incident["id"],
        by_operator["id"],
    }


def test_r20_reminders_at_48_and_66_hours_each_sent_once(practice: Practice, ctx, clock, outbox):
    incident = opened(practice.alice, practice.id, aware_at=clock.now - timedelta(hours=47))
    decided = opened(practice.alice, practice.id, aware_at=clock.now - timedelta(hours=47))
    IncidentClient(practice.alice.exchange).decide(
        decided["id"], "not_notifiable", "Sauvegarde restaurée, aucune donnée exposée."
    )

    def remind() -> int:
        with ctx.sessions.begin() as db:
            return IncidentService(db, ctx).send_reminders()

    def reminders() -> list[str]:
        return [
            subject
            for subject in (
                str(make_header(decode_header(m["Subject"])))
                for m in outbox.messages(practice.alice.email)
            )
            if subject.startswith("Violation")
        ]

    assert remind() == 0
    clock.advance(hours=1, minutes=1)
    assert remind() == 1
    assert remind() == 0
    assert reminders() == ["Violation de données : notification à la CNIL dans 23 h"]
    clock.advance(hours=18)
    assert remind() == 1
    assert remind() == 0
    # Two in all: none for the incident decided not notifiable.
    assert len(reminders()) == 2 and reminders()[-1].endswith("dans 5 h")
    body = outbox.messages(practice.alice.email)[-1].get_payload(decode=True).decode()
    assert incident["id"] in body and decided["id"] not in body
