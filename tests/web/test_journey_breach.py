"""A patient reads the breach notice her practice sent her (GDPR art. 34, R21), in
Debian's headless Chromium against a real ``uhs-server serve --demo``: Dr Martin, the
practice's admin, records an incident, counts from the journal the patients her account
reached and decides to tell them; Camille Petit's "Mon historique" shows the notice, in
the practice's own words, above her access history. Screens:
docs/screens/100-breach-notice.png, 101-breach-notice-phone.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.web.conftest import serve_demo
from tests.web.journeys import (
    DR_MARTIN,
    PATIENT,
    DemoServer,
    check_accessibility,
    laptop_of,
    new_page,
    open_screen,
    photograph,
    photograph_on_a_phone,
    send_to_patient,
    sign_in,
)
from uhealthsec.client.incidents import IncidentClient

WHAT_HAPPENED = "L'ordinateur portable du cabinet a été volé le 26 novembre."


@pytest.fixture(scope="module")
def breach_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with serve_demo(tmp_path_factory.mktemp("breach"), host_name="localhost") as server:
        yield server


def test_a_patient_reads_the_breach_notice_her_practice_sent(browser, breach_server, screens):
    """R21: the patient reads the clear-language notice in the web application."""
    server = breach_server
    told = tell_the_patients_reached_by_martin(server)
    assert told["people_decision"] == "tell"

    page = new_page(browser, server)
    sign_in(page, server, PATIENT)
    open_screen(page, "Mon historique")
    page.get_by_role("heading", name="Avis de violation de données", level=2).wait_for()
    notice = page.get_by_role("listitem").filter(has_text="Avis reçu le")
    assert WHAT_HAPPENED in notice.inner_text()
    assert "Changez le mot de passe de votre messagerie." in notice.inner_text()
    check_accessibility(page, "a breach notice")
    photograph(page, screens, "100-breach-notice")
    photograph_on_a_phone(page, screens, "101-breach-notice-phone")
    assert page.errors == []  # type: ignore[attr-defined]


def tell_the_patients_reached_by_martin(server: DemoServer) -> dict:
    """Dr Martin writes to Camille's file, then records the theft of her laptop, counts
    the patients her account reached since yesterday and tells them."""
    with laptop_of(server, DR_MARTIN) as (martin, _, _):
        _, practice_id = send_to_patient(martin, PATIENT, "Bilan de reeducation.\n")
        incidents = IncidentClient(martin)
        incident = incidents.open(
            practice_id, nature=["confidentiality"], description=WHAT_HAPPENED
        )
        since = datetime.now(UTC) - timedelta(days=1)
        incidents.count(incident["id"], since, accounts=[martin.account.id])
        return incidents.decide_people(
            incident["id"], "tell", message="Changez le mot de passe de votre messagerie."
        )
