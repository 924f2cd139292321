"""The compliance dashboard (issue 25 item 5) at its boundaries: a rights request the
day before and the day after its deadline, an incident at 71 h and 73 h, a member
without a second factor, no backup ever, no restore drill, and who sees it (both
databases)."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.server.records.conftest import Practice, colleague, device, refused
from tests.server_fixtures import make_settings
from uhealthsec.client.compliance import ComplianceClient
from uhealthsec.client.incidents import IncidentClient
from uhealthsec.client.rights import RightsClient
from uhealthsec.server.audit.outbox import stage_entry
from uhealthsec.server.compliance.dashboard import Dashboard, Item, Status, drill_entry
from uhealthsec.server.compliance.report import report_pdf
from uhealthsec.server.incidents.anomalies.rules import PARIS

OPERATOR = "olga@example.org"


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    return tmp_path / "backups"


@pytest.fixture
def settings(tmp_path, database_url, backups):
    return make_settings(
        tmp_path, database_url, incident_operators=[OPERATOR], backup_to=str(backups)
    )


def later(clock, users, person, **delta) -> None:
    """Move the server's clock; the admin signs in again (tokens last minutes)."""
    clock.advance(**delta)
    person.user.tokens = users.sign_in_again(person.user)


def line(dashboard: dict, key: str) -> dict:
    [item] = [i for i in dashboard["items"] if i["key"] == key]
    return item


def test_a_rights_request_is_watched_the_day_before_its_deadline_and_late_the_day_after(
    practice: Practice, clock, users
):
    compliance = ComplianceClient(practice.alice.exchange)
    assert line(compliance.dashboard(practice.id), "rights_requests")["status"] == "ok"
    asked = RightsClient(practice.carol.exchange).ask(practice.id, "access")
    due = datetime.fromisoformat(asked["due_at"])
    fresh = line(compliance.dashboard(practice.id), "rights_requests")
    assert (fresh["status"], fresh["facts"]["open"], fresh["facts"]["late"]) == ("ok", 1, 0)

    later(
        clock, users, practice.alice, seconds=(due - timedelta(days=1) - clock.now).total_seconds()
    )
    before = line(compliance.dashboard(practice.id), "rights_requests")
    assert before["status"] == "watch" and before["status_label"] == "à surveiller"
    assert before["facts"]["requests"][0]["late"] is False
    assert datetime.fromisoformat(before["facts"]["requests"][0]["due_at"]) == due

    later(clock, users, practice.alice, days=2)
    after = line(compliance.dashboard(practice.id), "rights_requests")
    assert after["status"] == "late" and after["status_label"] == "en retard"
    assert after["facts"]["late"] == 1 and after["facts"]["requests"][0]["late"] is True
    assert "EN RETARD" in after["details"][0] and "past" not in after["rule"]
    # No patient is named: the request is its right and its dates.
    assert "carol" not in str(after).lower()

    RightsClient(practice.alice.exchange).complete(asked["id"], "Copie remise au patient.")
    assert line(compliance.dashboard(practice.id), "rights_requests")["status"] == "ok"


def test_an_incident_at_71_hours_is_watched_and_at_73_hours_late(practice: Practice, clock):
    compliance = ComplianceClient(practice.alice.exchange)
    incidents = IncidentClient(practice.alice.exchange)
    assert line(compliance.dashboard(practice.id), "incidents")["status"] == "ok"
    incidents.open(
        practice.id,
        nature=["confidentiality"],
        description="Ordinateur portable du cabinet volé.",
        aware_at=clock.now - timedelta(hours=71),
    )
    at_71 = line(compliance.dashboard(practice.id), "incidents")
    assert at_71["status"] == "watch"
    [running] = at_71["facts"]["incidents"]
    assert running["clock"] == "due_soon" and running["hours_left"] == pytest.approx(1, abs=0.01)
    assert "1 h 00 restantes" in at_71["details"][0]

    late = incidents.open(
        practice.id,
        nature=["availability"],
        description="Serveur indisponible.",
        aware_at=clock.now - timedelta(hours=73),
    )
    at_73 = line(compliance.dashboard(practice.id), "incidents")
    assert at_73["status"] == "late" and at_73["facts"]["late"] == 1
    assert {i["clock"] for i in at_73["facts"]["incidents"]} == {"due_soon", "late"}
    assert any("EN RETARD de 1 h 00" in d for d in at_73["details"])
    # Decided not notifiable, with its reason: the clock stops, the line is no longer late.
    incidents.decide(late["id"], "not_notifiable", "Panne sans fuite de données possible.")
    assert line(compliance.dashboard(practice.id), "incidents")["facts"]["late"] == 0


def test_a_member_without_a_second_factor_is_named_and_patients_are_not(
    practice: Practice, client, users, outbox
):
    compliance = ComplianceClient(practice.alice.exchange)
    covered = line(compliance.dashboard(practice.id), "second_factors")
    # Alice alone: Carol is a patient, not a member counted here.
    assert covered["status"] == "ok" and covered["facts"]["members"] == 1
    practice.alice.exchange.call(
        "POST",
        f"/practices/{practice.id}/invitations",
        json={"email": "eve@example.org", "role": "secretary"},
    )
    users.register(
        "eve@example.org", invitation=outbox.last_code("eve@example.org", "Invitation code")
    )
    lacking = line(compliance.dashboard(practice.id), "second_factors")
    assert lacking["status"] == "watch"
    assert lacking["facts"]["without_second_factor"] == 1
    assert [m["email"] for m in lacking["facts"]["members_without"]] == ["eve@example.org"]
    assert "carol" not in str(lacking).lower()
    passkeys = line(compliance.dashboard(practice.id), "passkeys")
    assert passkeys["facts"] == {"members": 2, "with_passkey": 0, "share_percent": 0}
    assert passkeys["status"] == "watch"


def test_no_backup_ever_and_no_drill_are_late_then_a_recent_backup_and_a_drill_are_ok(
    practice: Practice, backups, clock, ctx, users
):
    compliance = ComplianceClient(practice.alice.exchange)
    dashboard = compliance.dashboard(practice.id)
    never = line(dashboard, "backup")
    assert (never["status"], never["summary"]) == ("late", "jamais")
    assert line(dashboard, "restore_drill")["summary"] == "jamais"
    assert dashboard["status"] == "late"

    made = clock.now - timedelta(hours=30)
    (backups / f"uhs-backup-{made:%Y%m%dT%H%M%SZ}").mkdir(parents=True)
    (backups / "uhs-backup-not-a-stamp").mkdir()  # not a backup's name: not counted
    aging = line(compliance.dashboard(practice.id), "backup")
    assert aging["status"] == "watch"
    assert aging["facts"]["last_backup_at"] == made.isoformat()
    later(clock, users, practice.alice, hours=19)  # 49 h
    assert line(compliance.dashboard(practice.id), "backup")["status"] == "late"
    (backups / f"uhs-backup-{clock.now - timedelta(hours=1):%Y%m%dT%H%M%SZ}").mkdir()
    assert line(compliance.dashboard(practice.id), "backup")["status"] == "ok"

    with ctx.sessions.begin() as db:
        staged = stage_entry(db, drill_entry(ctx), ctx.now())
    ctx.journal.append(staged)
    drill = line(compliance.dashboard(practice.id), "restore_drill")
    assert drill["status"] == "ok"
    later(clock, users, practice.alice, days=366)
    assert line(compliance.dashboard(practice.id), "restore_drill")["status"] == "late"


def test_transport_says_what_the_server_cannot_know(practice: Practice):
    transport = line(ComplianceClient(practice.alice.exchange).dashboard(practice.id), "transport")
    # The tests' server is reached over plain http: no HSTS, and the line says so.
    assert transport["status"] == "late" and transport["facts"]["hsts"] is False
    assert any("nginx" in d and "certificat" in d for d in transport["details"])


def test_only_the_practice_admins_and_operators_see_the_dashboard(
    practice: Practice, client, users, outbox
):
    """A practitioner who is not admin, another practice's admin and a patient get the
    answer of a practice that does not exist; an operator sees every practice."""
    dave = colleague(practice, client, users, outbox, "dave@example.org")
    bob = practice.bob
    bob.exchange.call("POST", "/practices", json={"name": "Cabinet Bob"})
    missing = refused(404, ComplianceClient(dave.exchange).dashboard, uuid.uuid4())
    for outsider in (dave, bob, practice.carol):
        outsider_view = ComplianceClient(outsider.exchange)
        assert refused(404, outsider_view.dashboard, practice.id) == missing
        assert refused(404, outsider_view.report, practice.id) == missing
        refused(404, outsider_view.all_practices)
    refused(404, ComplianceClient(practice.alice.exchange).all_practices)

    olga_user = users.signed_in(OPERATOR, "practitioner")
    olga = ComplianceClient(device(client, users, olga_user))
    assert olga.dashboard(practice.id)["practice_name"] == "Cabinet"
    names = sorted(d["practice_name"] for d in olga.all_practices())
    assert names == ["Cabinet", "Cabinet Bob"]
    first = olga.all_practices(limit=1)
    rest = olga.all_practices(after=first[0]["practice_id"], limit=100)
    assert [d["practice_name"] for d in first + rest] != [] and len(first + rest) == 2
    refused(422, olga.all_practices, limit=101)


def test_each_reading_is_journaled_about_the_practice(practice: Practice):
    ComplianceClient(practice.alice.exchange).dashboard(practice.id)
    activity = practice.alice.exchange.call("GET", f"/practices/{practice.id}/journal").json()
    assert "compliance.dashboard" in {entry["action"] for entry in activity}


def test_the_pdf_report_is_dated_in_french_and_says_each_status_in_words(practice: Practice, clock):
    RightsClient(practice.carol.exchange).ask(practice.id, "erasure")
    report = ComplianceClient(practice.alice.exchange).report(practice.id)
    pages = PdfReader(io.BytesIO(report), strict=True).pages
    text = "\n".join(page.extract_text() for page in pages)
    assert "Rapport de conformité" in text
    assert clock.now.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M (heure de Paris)") in text
    for words in ("Comment lire ce rapport", "EN RETARD", "CONFORME", "Règle :", "Constat :"):
        assert words in text, words
    assert "Demandes d'exercice des droits des patients" in text
    assert "jamais" in text  # no backup
    assert "carol" not in text.lower()


def test_the_report_carries_any_practice_name_as_text_over_several_pages():
    """A practice's name is its admin's words: PDF syntax in it stays text."""
    hostile = "Cabinet) Tj ET BT /F2 40 Tf (pwn \\ « é » œ €"
    found = Dashboard(
        uuid.uuid4(),
        hostile,
        datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
        [
            Item(
                "rights_requests", "Demandes", Status.LATE, "2 en retard", "Règle.", ["ligne"] * 200
            )
        ],
    )
    reader = PdfReader(io.BytesIO(report_pdf(found)), strict=True)
    assert len(reader.pages) > 2
    first = reader.pages[0].extract_text()
    assert f"Cabinet : {hostile}" in first
    assert "Établi le 28/11/2026 à 10:30 (heure de Paris)" in first
    last = reader.pages[-1].extract_text()
    assert f"page {len(reader.pages)} sur {len(reader.pages)}" in last
