"""Issue 21, item 6, the practice's admin in the web application, in Debian's headless
Chromium against a real ``uhs-server serve --demo`` (Dr Martin runs the demo practice):
vouching for a colleague's professional identity, the patients' open rights requests
with their legal deadlines (late ones said "En retard") answered from the page, the
practice's retention policy, a patient file's retention facts with the server's
safeguards, and the practice's activity exported as FHIR AuditEvents (validated with
``fhir.resources``). A practitioner who is not admin is offered none of it, and the
server refuses it to him; names are text, never markup; a server answering another
practice's requests is refused. axe-core on each state; screenshots 55-58, 65-69.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta

import httpx2
import pytest

from tests.server_fixtures import Outbox
from tests.serving import HTTP_TIMEOUT
from tests.web.journeys import (
    DR_MARTIN,
    PATIENT,
    PAUL_DURAND,
    check_accessibility,
    new_page,
    open_screen,
    photograph,
    sign_in,
)
from tests.web.test_journey_consents import camilles_file, sdk
from tests.web.test_journey_practice import members_of, open_practice_screen
from uhealthsec.client.api import AuthClient
from uhealthsec.client.errors import ApiError
from uhealthsec.client.rights import RightsClient

#: A colleague without RPPS whose name is markup: it must show as text.
COLLEAGUE = ("lea.roux@cabinet.test", '<img src=x id="injected">Léa Roux')
PASSWORD = "tilleul agrafe horloge sereine rivage"
ANOTHER_PRACTICE = "0b9e2f4c-8d1a-4c3e-9f7b-2a6d5e4c3b21"


@pytest.fixture(scope="module")
def demo(demo_server):
    """The demo server with a colleague invited as a practitioner, not verified, and
    two requests of Camille Petit, one received 40 days ago (late)."""
    martin = sdk(demo_server, DR_MARTIN)
    practice_id, file_id = camilles_file(martin)
    email, name = COLLEAGUE
    martin.call(
        "POST",
        f"/practices/{practice_id}/invitations",
        json={"email": email, "role": "practitioner"},
    )
    code = Outbox(demo_server.home / "var" / "outbox").last_code(email, "Invitation code")
    with httpx2.Client(base_url=demo_server.url, timeout=HTTP_TIMEOUT) as http:
        AuthClient(http).register(email, PASSWORD, name, "practitioner", invitation=code)
    camille = RightsClient(sdk(demo_server, PATIENT))
    late = camille.ask(practice_id, "rectification")
    camille.ask(practice_id, "objection")
    # Received 40 days ago: its month has passed (the server keeps instants in UTC).
    (database,) = demo_server.home.rglob("uhealthsec.db")
    late_id = late["id"].replace("-", "")  # SQLAlchemy's Uuid in SQLite: 32 hex digits
    with sqlite3.connect(database) as db:
        received, due = db.execute(
            "SELECT received_at, due_at FROM rights_requests WHERE id = ?",
            (late_id,),
        ).fetchone()
        earlier = [
            str(datetime.fromisoformat(value) - timedelta(days=40)) for value in (received, due)
        ]
        db.execute(
            "UPDATE rights_requests SET received_at = ?, due_at = ? WHERE id = ?",
            (*earlier, late_id),
        )
    return demo_server, practice_id, file_id


def requests_part(page):
    return page.get_by_role("region", name="Demandes des patients")


def test_dr_martin_vouches_for_a_colleague_and_answers_the_requests(browser, demo, screens):
    server, _, _ = demo
    martin = new_page(browser, server)
    sign_in(martin, server, DR_MARTIN)
    open_practice_screen(martin)
    members_of(martin)
    rows = martin.locator("table.members tbody tr")
    colleague = rows.filter(has_text="Léa Roux")
    paul = rows.filter(has_text=PAUL_DURAND)
    # The name is shown as it was typed, never parsed as markup.
    assert colleague.locator("td").first.inner_text() == COLLEAGUE[1]
    assert martin.locator("#injected").count() == 0
    # Paul Durand is verified (the demo's operator did it): nothing to vouch for.
    assert "vérifiée" in paul.inner_text() and paul.get_by_role("button").count() == 0
    assert "non vérifiée" in colleague.inner_text()

    colleague.get_by_role(
        "button", name=f"Je me porte garant·e de son identité professionnelle : {COLLEAGUE[1]}"
    ).click()
    question = colleague.get_by_role("group")
    assert "Vous attestez que" in question.inner_text()
    check_accessibility(martin, "vouching asked once more")
    photograph(martin, screens, "55-admin-vouch-confirm")
    question.get_by_role("button", name="Oui, je m'en porte garant·e").click()
    colleague = martin.locator("table.members tbody tr").filter(has_text="Léa Roux")
    colleague.locator(".verified").wait_for()
    assert colleague.get_by_role("button").count() == 0
    check_accessibility(martin, "colleague verified")
    photograph(martin, screens, "56-admin-vouched")

    # The requests: the late one (oldest deadline) first, said in words.
    part = requests_part(martin)
    items = part.locator("li")
    items.nth(1).wait_for()
    assert items.count() == 2
    late, other = items.nth(0), items.nth(1)
    assert "Rectification" in late.inner_text() and "Camille Petit" in late.inner_text()
    assert "En retard" in late.inner_text() and "Délai dépassé de" in late.inner_text()
    assert "En retard" not in other.inner_text() and "jour(s) restant(s)" in other.inner_text()
    # A late request can no longer be extended: not offered.
    assert "Prolonger" not in late.get_by_label("Réponse", exact=True).inner_text()
    check_accessibility(martin, "patients' requests")
    photograph(martin, screens, "57-admin-requests")

    # Refusing needs reasons the patient reads: too short, the server refuses it.
    other.get_by_label("Réponse", exact=True).select_option(label="Refuser")
    other.get_by_label("Message au patient").fill("Non.")
    other.get_by_role("button", name="Envoyer la réponse").click()
    refusal = other.get_by_role("alert")
    refusal.wait_for()
    assert "de 10 à 1000 caractères" in refusal.inner_text()
    check_accessibility(martin, "answer refused")
    photograph(martin, screens, "58-admin-request-refused")
    other.get_by_label("Message au patient").fill(
        "Votre opposition ne s'applique pas aux soins en cours."
    )
    other.get_by_role("button", name="Envoyer la réponse").click()
    requests_part(martin).get_by_text("Opposition — Camille Petit : Refusée.").wait_for()
    assert requests_part(martin).locator("li").count() == 1
    late = requests_part(martin).locator("li").first
    late.get_by_label("Message au patient").fill("Adresse corrigée.")
    late.get_by_role("button", name="Envoyer la réponse").click()
    requests_part(martin).get_by_text("Aucune demande en attente.").wait_for()

    # Camille sees both answers, with the words told to her.
    answered = {r["right"]: r for r in RightsClient(sdk(server, PATIENT)).mine()}
    assert answered["rectification"]["status"] == "done"
    assert answered["rectification"]["reason"] == "Adresse corrigée."
    assert answered["objection"]["status"] == "refused"
    assert martin.errors == []  # type: ignore[attr-defined]


def test_the_retention_policy_and_a_files_retention_facts(browser, demo, screens):
    server, _, file_id = demo
    martin = new_page(browser, server)
    sign_in(martin, server, DR_MARTIN)
    open_practice_screen(martin)
    policy = martin.get_by_role("region", name="Conservation des dossiers")
    policy.get_by_text("20 ans après le dernier soin ;").wait_for()
    assert "Par défaut, la loi fait garder un dossier médical 20 ans" in policy.inner_text()
    # Below the law's floor: refused, the bounds said in French.
    policy.get_by_label("Durée de conservation (années)").fill("5")
    policy.get_by_role("button", name="Enregistrer la durée").click()
    refusal = policy.get_by_role("alert")
    refusal.wait_for()
    assert "Une durée de conservation va de 10 à 100 ans" in refusal.inner_text()
    check_accessibility(martin, "retention policy refused")
    photograph(martin, screens, "65-admin-policy-refused")
    policy.get_by_label("Durée de conservation (années)").fill("30")
    policy.get_by_role("button", name="Enregistrer la durée").click()
    policy.get_by_text("Durée de conservation enregistrée : 30 ans.").wait_for()
    assert "garde ses dossiers 30 ans après le dernier soin" in policy.inner_text()
    check_accessibility(martin, "retention policy saved")
    photograph(martin, screens, "66-admin-policy-saved")

    # Camille's file: a death before the file's last care is refused, plainly.
    martin.evaluate("(route) => { location.hash = route; }", f"#/patients/{file_id}")
    martin.get_by_role("heading", name="Camille Petit", level=1).wait_for()
    retention = martin.get_by_role("region", name="Conservation")
    retention.get_by_label("Date de décès", exact=True).fill("2001-03-04")
    retention.get_by_role("button", name="Enregistrer les dates").click()
    refusal = retention.get_by_role("alert")
    refusal.wait_for()
    assert "le décès ne peut pas précéder le dernier soin" in refusal.inner_text()
    check_accessibility(martin, "retention facts refused")
    photograph(martin, screens, "67-admin-facts-refused")
    retention.get_by_label("Date de décès", exact=True).fill("")
    retention.get_by_label("Date de naissance").fill("1990-06-02")
    retention.get_by_role("button", name="Enregistrer les dates").click()
    saved = retention.locator(".alert.success")
    saved.wait_for()
    # 30 years (the practice's policy) after the last care, as the server computes it.
    facts = sdk(server, DR_MARTIN).call("GET", f"/patient-files/{file_id}/retention").json()
    assert facts["born_on"] == "1990-06-02" and facts["keep_until"]
    keep_until = datetime.fromisoformat(facts["keep_until"])
    assert keep_until.year - datetime.fromisoformat(facts["last_care_on"]).year == 30
    assert saved.inner_text().startswith("Dates enregistrées : le dossier est gardé jusqu'au")
    assert "2 juin 1990" in retention.inner_text()
    check_accessibility(martin, "retention facts saved")
    photograph(martin, screens, "68-admin-facts-saved")

    # A death recorded by mistake (the day of the last care) is erased, not overwritten.
    erase = retention.get_by_label("Effacer la date de décès (enregistrée par erreur)")
    assert not erase.is_visible()  # offered only once a death is recorded
    retention.get_by_label("Date de décès", exact=True).fill(facts["last_care_on"][:10])
    retention.get_by_role("button", name="Enregistrer les dates").click()
    retention.get_by_text("Date de décès", exact=True).first.wait_for()
    assert (
        sdk(server, DR_MARTIN).call("GET", f"/patient-files/{file_id}/retention").json()["died_on"]
        == facts["last_care_on"][:10]
    )
    erase.check()
    retention.get_by_label("Date de décès", exact=True).fill(facts["last_care_on"][:10])
    retention.get_by_role("button", name="Enregistrer les dates").click()
    assert "pas les deux" in retention.get_by_role("alert").inner_text()  # both: refused here
    retention.get_by_label("Date de décès", exact=True).fill("")
    retention.get_by_role("button", name="Enregistrer les dates").click()
    erase.wait_for(state="hidden")
    after = sdk(server, DR_MARTIN).call("GET", f"/patient-files/{file_id}/retention").json()
    assert after["died_on"] is None and after["born_on"] == "1990-06-02"
    check_accessibility(martin, "death erased")
    photograph(martin, screens, "74-admin-death-erased")
    assert martin.errors == []  # type: ignore[attr-defined]


def test_the_practices_activity_exported_as_fhir_audit_events(browser, demo, screens, tmp_path):
    from fhir.resources.R4B.auditevent import AuditEvent
    from fhir.resources.R4B.bundle import Bundle

    server, _, _ = demo
    martin = new_page(browser, server)
    sign_in(martin, server, DR_MARTIN)
    open_screen(martin, "Mon historique")
    martin.get_by_role("heading", name="Cabinet de démonstration", level=2).wait_for()
    martin.locator("table.history tbody tr").first.wait_for()
    with martin.expect_download() as downloading:
        martin.get_by_role("button", name="Exporter (FHIR AuditEvent)", exact=True).click()
    download = downloading.value
    assert download.url.startswith("blob:") and download.suggested_filename.endswith(".fhir.json")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    bundle = json.loads(saved.read_text())
    Bundle.model_validate(bundle)
    events = [AuditEvent.model_validate(e["resource"]) for e in bundle["entry"]]
    assert events and all(e.recorded for e in events)
    check_accessibility(martin, "activity exported")
    photograph(martin, screens, "69-admin-export")
    assert martin.errors == []  # type: ignore[attr-defined]


def test_a_colleague_who_is_not_admin_is_offered_none_of_it(browser, demo):
    server, practice_id, _ = demo
    paul = new_page(browser, server)
    sign_in(paul, server, PAUL_DURAND)
    open_practice_screen(paul)
    members_of(paul)
    assert paul.get_by_text("Votre rôle : praticien·ne.").is_visible()
    # Not offered: vouching, the requests, the policy, the invitation.
    assert paul.locator("table.members").get_by_role("button").count() == 0
    assert requests_part(paul).count() == 0
    assert paul.get_by_role("region", name="Conservation des dossiers").count() == 0
    check_accessibility(paul, "practice screen of a practitioner")
    # And the server refuses them to him.
    client = sdk(server, PAUL_DURAND)
    colleague = next(
        m
        for m in client.call("GET", f"/practices/{practice_id}/members").json()
        if m["email"] == COLLEAGUE[0]
    )
    refused = [
        (
            "POST",
            f"/practices/{practice_id}/members/{colleague['account_id']}/identity-verification",
            {},
        ),
        (
            "PUT",
            f"/practices/{practice_id}/retention-policy",
            {"json": {"years": 40, "archive_after_years": 5}},
        ),
        ("GET", f"/practices/{practice_id}/journal/export", {}),
    ]
    for method, path, options in refused:
        with pytest.raises(ApiError) as refusal:
            client.call(method, path, **options)
        assert refusal.value.status == 403, path
    assert paul.errors == []  # type: ignore[attr-defined]


def test_a_server_answering_another_practices_requests_is_refused(browser, demo):
    server, practice_id, _ = demo
    RightsClient(sdk(server, PATIENT)).ask(practice_id, "portability")

    def moved_to_another_practice(route):
        answer = route.fetch()
        requests = answer.json()
        for request in requests:
            request["practice_id"] = ANOTHER_PRACTICE
        route.fulfill(response=answer, body=json.dumps(requests))

    martin = new_page(browser, server)
    sign_in(martin, server, DR_MARTIN)
    martin.context.route(f"**/practices/{practice_id}/rights-requests", moved_to_another_practice)
    open_practice_screen(martin)
    refusal = requests_part(martin).get_by_role("alert")
    refusal.wait_for()
    assert "Code pour l'assistance : malformed_answer" in refusal.inner_text()
    assert requests_part(martin).locator("li").count() == 0
