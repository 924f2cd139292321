"""The compliance dashboard in the web application (issue 25 item 5): Dr Martin, the
demo practice's admin, opens "Conformité" from the practice's screen in Debian's
headless Chromium against a real ``uhs-server serve --demo``. Camille Petit has asked
for her file and an incident became known 71 hours ago: each line says its status in
words and with a sign (never by colour alone), with the rule behind it; no backup was
ever made, said "jamais" and late. She downloads the dated PDF report, which an
inspector reads. Paul Durand, not an admin, is told the dashboard is not his to see.
Screens: docs/screens/116-118.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

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
    sign_in,
)
from uhealthsec.client.incidents import IncidentClient
from uhealthsec.client.rights import RightsClient
from uhealthsec.server.incidents.anomalies.rules import PARIS


@pytest.fixture(scope="module")
def compliance_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with serve_demo(tmp_path_factory.mktemp("compliance")) as server:
        yield server


def open_compliance(page) -> None:
    open_screen(page, "Cabinet")
    page.get_by_role("link", name="Voir la conformité du cabinet").click()
    page.get_by_role("heading", name="Conformité", level=1).wait_for()
    page.locator("li.compliance-item").first.wait_for()


def line(page, title: str):
    return page.locator("li.compliance-item").filter(
        has=page.get_by_role("heading", name=title, level=2)
    )


def test_the_dashboard_is_for_admins_only(browser, compliance_server):
    server = compliance_server
    page = new_page(browser, server)
    sign_in(page, server, PAUL_DURAND)
    open_screen(page, "Cabinet")
    page.get_by_role("heading", name="Cabinet", level=1).wait_for()
    assert page.get_by_role("link", name="Voir la conformité du cabinet").count() == 0
    with laptop_of(server, PAUL_DURAND) as (paul, _, _):
        [practice] = paul.call("GET", "/practices").json()
    page.goto(f"{page.url.split('#')[0]}#/practice/{practice['id']}/compliance")
    page.get_by_text("Seuls les administrateurs d'un cabinet voient sa conformité.").wait_for()
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_admin_reads_the_dashboard_and_downloads_the_report(
    browser, compliance_server, screens, tmp_path
):
    server = compliance_server
    with laptop_of(server, DR_MARTIN) as (martin, _, _):
        [practice] = martin.call("GET", "/practices").json()
        IncidentClient(martin).open(
            practice["id"],
            nature=["confidentiality"],
            description="Clé USB du cabinet perdue dans le train.",
            aware_at=datetime.now(UTC) - timedelta(hours=71),
        )
    with laptop_of(server, PATIENT) as (camille, _, _):
        RightsClient(camille).ask(practice["id"], "medical_file")

    page = new_page(browser, server)
    sign_in(page, server, DR_MARTIN)
    open_compliance(page)
    # Overall, and line by line: the words and the sign, not the colour alone.
    assert "Statut d'ensemble : ✗ en retard" in page.locator("p.overall").inner_text()
    backup = line(page, "Dernière sauvegarde")
    assert "en retard" in backup.get_by_role("heading").inner_text()
    assert "jamais" in backup.inner_text()
    incidents = line(page, "Alertes et violations de données (horloge de 72 h)")
    assert "à surveiller" in incidents.get_by_role("heading").inner_text()
    assert re.search(r"0 h \d\d restantes", incidents.inner_text())
    rights = line(page, "Demandes d'exercice des droits des patients")
    assert "1 demande(s) ouverte(s), dont 0 en retard" in rights.inner_text()
    assert "Règle :" in rights.inner_text() and "en retard" in rights.inner_text()
    factors = line(page, "Second facteur des membres")
    assert "conforme" in factors.get_by_role("heading").inner_text()
    transport = line(page, "Chiffrement du transport (TLS, HSTS)")
    assert "nginx" in transport.inner_text()
    check_accessibility(page, "compliance dashboard")
    photograph(page, screens, "116-compliance")

    # The dated report, in French, for an inspector.
    page.get_by_role("button", name="Télécharger le rapport (PDF)").click()
    page.locator("#main .alert.success", has_text="Rapport prêt").wait_for()
    with page.expect_download() as saving:
        page.get_by_role("link", name="Enregistrer le rapport").click()
    assert saving.value.suggested_filename.startswith("conformite-")
    saved = tmp_path / saving.value.suggested_filename
    saving.value.save_as(saved)
    pdf = PdfReader(io.BytesIO(saved.read_bytes()))
    text = "\n".join(p.extract_text() for p in pdf.pages)
    assert "Rapport de conformité" in text and "Cabinet de démonstration" in text
    assert datetime.now(PARIS).strftime("%d/%m/%Y") in text
    assert "Dernière sauvegarde" in text and "EN RETARD" in text and "Règle :" in text
    check_accessibility(page, "compliance report ready")
    photograph(page, screens, "117-compliance-report")

    open_compliance(page)
    photograph_on_a_phone(page, screens, "118-compliance-phone")
    check_accessibility(page, "compliance on a phone")
    assert page.errors == []  # type: ignore[attr-defined]
