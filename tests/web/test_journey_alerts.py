"""R22 in the web application: Dr Martin, the demo practice's admin, handles its security
alerts in Debian's headless Chromium against a real ``uhs-server serve --demo``. She
lowers the repeated-denials thresholds (a value out of bounds refused first, with the
server's reasons); then Paul Durand tries three times to open a letter she sent to
Camille Petit only, and she tries as often with his; the worker's anomalies job
(``uhs-server worker --once``) raises the alerts: about Paul, about Camille, about
herself. She dismisses Paul's with a reason, opens an incident from Camille's (its
72-hour clock shown), and is refused hers: an operator can decide it. Past a page of
the API, the older decided alerts are asked for after the last one shown. Paul, not
an admin, is told the alerts are not his to see. Screens: docs/screens/110-115.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tests.serving import run_worker
from tests.web.conftest import serve_demo
from tests.web.journeys import (
    DR_MARTIN,
    PATIENT,
    PAUL_DURAND,
    DemoServer,
    check_accessibility,
    laptop_of,
    new_page,
    open_screen,
    photograph,
    photograph_on_a_phone,
    send_to_patient,
    sign_in,
    tab_to,
)
from uhealthsec.client.alerts import AlertClient
from uhealthsec.server.incidents.anomalies.models import AnomalyAlert
from uhealthsec.server.settings import Settings

#: Someone else who may decide the alerts of any practice: the alert about Dr Martin is
#: then refused to her (PROTOCOL 13.4).
OPERATOR = "securite@demo.test"
TRIES = 3
REASON = "Paul a cliqué sur un ancien lien de courrier ; vérifié avec lui."


@pytest.fixture(scope="module")
def alerts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with serve_demo(
        tmp_path_factory.mktemp("alerts"),
        settings=lambda _: {"UHS_INCIDENT_OPERATORS": json.dumps([OPERATOR])},
    ) as server:
        yield server


def denied_reads(server: DemoServer, reader: str, author: str) -> str:
    """``author`` sends Camille Petit a letter that only she may read; ``reader`` asks for
    it ``TRIES`` times and is refused each time (journaled denials). The practice's id."""
    with laptop_of(server, author) as (sender, _, _):
        document, practice_id = send_to_patient(sender, PATIENT, "Courrier pour Camille.\n")
    with laptop_of(server, reader) as (stranger, token, _):
        for _ in range(TRIES):
            asked = stranger.http.get(
                f"/documents/{document}", headers={"Authorization": f"Bearer {token}"}
            )
            assert asked.status_code == 404, asked.text
    return practice_id


def open_alerts(page) -> None:
    open_screen(page, "Cabinet")
    page.get_by_role("link", name="Voir les alertes").click()
    page.get_by_role("heading", name="Alertes de sécurité", level=1).wait_for()
    page.locator(".alerts .working").wait_for(state="detached")


def alert_titled(page, title: str):
    return page.locator("li.alert-item").filter(
        has=page.get_by_role("heading", name=title, level=3)
    )


def test_the_alert_screens_are_for_admins_only(browser, alerts_server):
    """Paul, a practitioner of the practice, is told the alerts are its admins'."""
    server = alerts_server
    page = new_page(browser, server)
    sign_in(page, server, PAUL_DURAND)
    open_screen(page, "Cabinet")
    page.get_by_role("heading", name="Cabinet", level=1).wait_for()
    assert page.get_by_role("link", name="Voir les alertes").count() == 0
    url = page.url.split("#")[0]
    with laptop_of(server, PAUL_DURAND) as (paul, _, _):
        [practice] = paul.call("GET", "/practices").json()
    page.goto(f"{url}#/practice/{practice['id']}/alerts")
    page.get_by_text("Seuls les administrateurs d'un cabinet voient ses alertes.").wait_for()
    assert page.errors == []  # type: ignore[attr-defined]


def test_r22_the_admin_sees_dismisses_and_escalates_alerts(
    browser, alerts_server, screens, monkeypatch
):
    """R22: alerts raised by the worker from real denials, handled in the browser."""
    server = alerts_server
    page = new_page(browser, server)
    sign_in(page, server, DR_MARTIN)

    # Nothing yet: said calmly, on the practice's screen and on the alerts' one.
    open_screen(page, "Cabinet")
    page.get_by_text("Aucune alerte à examiner.").wait_for()
    open_alerts(page)
    page.get_by_text("Rien à examiner pour le moment.").wait_for()
    assert page.get_by_text("Aucune alerte traitée pour l'instant.").is_visible()
    check_accessibility(page, "no alert")
    photograph(page, screens, "110-alerts-none")

    # Thresholds: out of bounds refused whole, with the server's own reasons; then saved.
    page.get_by_role("link", name="Régler les seuils").click()
    page.get_by_role("heading", name="Seuils des alertes", level=1).wait_for()
    page.get_by_text("Réglages par défaut : personne ne les a encore modifiés.").wait_for()
    denials = page.get_by_role("group", name="Refus répétés")
    per_account = denials.get_by_label("Refus pour un même compte")
    assert per_account.input_value() == "10"
    assert "De 2 à 100." in denials.inner_text()
    per_account.fill("1")
    page.get_by_role("button", name="Enregistrer les seuils").click()
    refused = page.get_by_role("alert")
    refused.wait_for()
    assert "Chaque seuil doit rester dans ses bornes" in refused.inner_text()
    assert re.search(r"Le serveur précise : .*denials_per_account", refused.inner_text())
    per_account.fill("2")
    denials.get_by_label("Refus sur un même patient").fill("2")
    # The off-hours rule would fire or not with the hour the test runs at: quietened.
    page.get_by_role("group", name="Accès en dehors des heures d'ouverture").get_by_label(
        "Nombre d'actions hors des heures"
    ).fill("100")
    page.get_by_role("group", name="Jours d'ouverture").get_by_label("Samedi").uncheck()
    page.get_by_role("button", name="Enregistrer les seuils").click()
    page.locator("#main").get_by_text("Seuils enregistrés.").wait_for()
    assert page.get_by_text(re.compile("Dernier réglage le .* par Dr Claire Martin")).is_visible()
    check_accessibility(page, "alert thresholds")
    photograph(page, screens, "111-alerts-thresholds")
    with laptop_of(server, DR_MARTIN) as (martin, _, _):
        [practice] = martin.call("GET", "/practices").json()
        tuned = AlertClient(martin).thresholds(practice["id"])
    assert (tuned["denials_per_account"], tuned["denials_per_patient"]) == (2, 2)
    assert (tuned["open_days"], tuned["off_hours_min_entries"]) == ([0, 1, 2, 3, 4], 100)

    # Paul tries Dr Martin's letter, she tries his: the worker raises the alerts.
    denied_reads(server, PAUL_DURAND, DR_MARTIN)
    denied_reads(server, DR_MARTIN, PAUL_DURAND)
    # The worker registers the web application's sign-in address from its own public
    # URL: the server's, or the browser could not sign in again.
    monkeypatch.setenv("UHS_PUBLIC_URL", server.url)
    said = run_worker(Settings(data_dir=server.home / "var"), "--once")
    assert "anomaly alert(s) opened" in said, said

    open_alerts(page)
    paul = alert_titled(page, "Refus répétés — Paul Durand")
    camille = alert_titled(page, "Refus répétés — Camille Petit")
    herself = alert_titled(page, "Refus répétés — Dr Claire Martin")
    for alert in (paul, camille, herself):
        alert.wait_for()
    assert "3 demande(s) refusée(s), pour un seuil de 2" in paul.inner_text()
    assert "Patient·e visé·e" in camille.inner_text()
    assert "Cette alerte concerne votre propre compte" in herself.inner_text()
    check_accessibility(page, "open alerts")
    photograph(page, screens, "112-alerts-open")

    # Paul's: dismissed with a reason, by the keyboard alone; a reason too short refused first.
    tab_to(page, "button[aria-label='Classer sans suite : Refus répétés — Paul Durand']")
    page.keyboard.press("Enter")
    reason = paul.get_by_label("Pourquoi n'est-ce pas une violation de données ?")
    assert reason.evaluate("(element) => element === document.activeElement")
    page.keyboard.type("Rien")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert "Le serveur précise : say in a sentence" in paul.get_by_role("alert").inner_text()
    reason.fill(REASON)
    paul.get_by_role("button", name="Classer l'alerte").click()
    page.locator("#main").get_by_text(
        "Alerte classée sans suite : Refus répétés — Paul Durand."
    ).wait_for()
    decided = page.locator("ul.decided li.alert-item").filter(has_text="Paul Durand")
    assert "Classée sans suite le" in decided.inner_text() and REASON in decided.inner_text()

    # Camille's: an incident of the breach register, its clock said before and after.
    camille.get_by_role("button", name="Ouvrir un incident").click()
    assert "délai de 72 heures" in camille.get_by_role("group").inner_text()
    camille.get_by_role("button", name="Ouvrir l'incident").click()
    opened = page.locator(".alert.success").filter(has_text="Incident ouvert")
    opened.wait_for()
    assert re.search(r"prévenez la CNIL avant le", opened.inner_text())
    check_accessibility(page, "incident opened")
    photograph(page, screens, "113-alerts-incident")

    # Her own: refused to her, with the server's reason, and still open.
    herself.get_by_role("button", name="Classer sans suite").click()
    herself.get_by_label("Pourquoi n'est-ce pas une violation de données ?").fill(
        "C'était moi, je me suis trompée de patiente."
    )
    herself.get_by_role("button", name="Classer l'alerte").click()
    refusal = herself.get_by_role("alert")
    refusal.wait_for()
    assert "Le serveur précise : this alert is about your own account" in refusal.inner_text()
    photograph(page, screens, "114-alerts-refused-to-its-subject")

    with laptop_of(server, DR_MARTIN) as (martin, _, _):
        every = AlertClient(martin).alerts(practice["id"], "all")
        me = str(martin.account.id)
    decided = {(a["rule"], a["subject_kind"], a["subject_id"] == me, a["status"]) for a in every}
    assert decided == {
        ("repeated_denials", "account", False, "dismissed"),
        ("repeated_denials", "patient", False, "incident"),
        ("repeated_denials", "account", True, "open"),
    }

    # The practice's screen counts what is left to look at; the phone shows the list whole.
    open_screen(page, "Cabinet")
    page.get_by_text("1 alerte(s) à examiner").wait_for()
    open_alerts(page)
    photograph_on_a_phone(page, screens, "115-alerts-phone")
    check_accessibility(page, "alerts on a phone")
    assert page.errors == []  # type: ignore[attr-defined]


def test_decided_alerts_are_paged_with_the_cursor(browser, alerts_server):
    """Past a page of the API (200 alerts), the older ones are asked for after the last
    one shown (``before``), and the button goes once the last page is in."""
    server = alerts_server
    older = 205
    with laptop_of(server, DR_MARTIN) as (martin, _, _):
        [practice] = martin.call("GET", "/practices").json()
        me = uuid.UUID(str(martin.account.id))
    engine = create_engine(Settings(data_dir=server.home / "var").resolved_database_url)
    long_ago = datetime.now(UTC) - timedelta(days=30)
    with Session(engine) as db, db.begin():
        for n in range(older):
            at = long_ago + timedelta(minutes=n)
            db.add(
                AnomalyAlert(
                    practice_id=uuid.UUID(practice["id"]),
                    rule="off_hours",
                    subject_kind="account",
                    subject_id=me,
                    window_start=at,
                    window_end=at,
                    count=3,
                    threshold=3,
                    counted="entries",
                    detail="3 actions outside the practice's hours",
                    status="dismissed",
                    reason=f"Garde de nuit numéro {n}, prévue au planning.",
                    created_at=at,
                    decided_by=me,
                    decided_at=at,
                )
            )
    engine.dispose()

    page = new_page(browser, server)
    sign_in(page, server, DR_MARTIN)
    open_alerts(page)
    decided = page.locator("ul.decided > li")
    more = page.get_by_role("button", name="Afficher les alertes plus anciennes")
    more.wait_for()
    first_page = decided.count()
    assert first_page < older  # the open alert of the page took one of its places
    assert "Garde de nuit numéro 0," not in page.locator("ul.decided").inner_text()
    more.click()
    page.get_by_text("Garde de nuit numéro 0,").wait_for()
    assert more.count() == 0
    reasons = re.findall(r"Garde de nuit numéro (\d+),", page.locator("ul.decided").inner_text())
    assert sorted(map(int, reasons)) == list(range(older))  # each once, none left out
    assert page.errors == []  # type: ignore[attr-defined]
