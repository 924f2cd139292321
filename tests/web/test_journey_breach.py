"""A patient reads the breach notice her practice sent her (GDPR art. 34, R21), in
Debian's headless Chromium against a real ``uhs-server serve --demo``: Dr Martin, the
practice's admin, records an incident, counts from the journal the patients her account
reached and decides to tell them; Camille Petit's "Mon historique" shows the notice, in
the practice's own words, above her access history. Screen:
docs/screens/100-breach-notice.png.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest

from tests.web.conftest import serve_demo
from tests.web.journeys import (
    DR_MARTIN,
    PATIENT,
    DemoServer,
    check_accessibility,
    new_page,
    open_screen,
    photograph,
    sign_in,
)
from uhealthsec.client.api import AuthClient
from uhealthsec.client.exchange import ExchangeClient
from uhealthsec.client.incidents import IncidentClient
from uhealthsec.crypto.keystore import unlock_with_password
from uhealthsec.server.demo import DEMO_PASSWORD

WHAT_HAPPENED = "L'ordinateur portable du cabinet a été volé le 26 novembre."


@pytest.fixture(scope="module")
def breach_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with serve_demo(tmp_path_factory.mktemp("breach"), host_name="localhost") as server:
        yield server


def test_a_patient_reads_the_breach_notice_her_practice_sent(browser, breach_server, screens):
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
    assert page.errors == []  # type: ignore[attr-defined]


def tell_the_patients_reached_by_martin(server: DemoServer) -> dict:
    """Dr Martin writes to Camille's file, then records the theft of her laptop, counts
    the patients her account reached since yesterday and tells them."""
    with httpx2.Client(base_url=server.url) as http:
        auth = AuthClient(http)
        login = auth.start_login(DR_MARTIN, DEMO_PASSWORD, {"totp_code": server.totp(DR_MARTIN)})
        tokens = auth.authorize(login, "ordinateur portable")
        keys = unlock_with_password(auth.keystore(tokens), DEMO_PASSWORD)
        martin = ExchangeClient(http, lambda: tokens.access_token, keys)
        [practice] = martin.call("GET", "/practices").json()
        patient_file = martin.patient_file(practice["id"], PATIENT)["id"]
        with tempfile.TemporaryDirectory() as folder:
            report = Path(folder) / "bilan.txt"
            report.write_text("Bilan de reeducation.\n")
            martin.send(report, patient_file_id=patient_file, to=[PATIENT])
        incidents = IncidentClient(martin)
        incident = incidents.open(
            practice["id"], nature=["confidentiality"], description=WHAT_HAPPENED
        )
        since = datetime.now(UTC) - timedelta(days=1)
        incidents.count(incident["id"], since, accounts=[martin.account.id])
        return incidents.decide_people(
            incident["id"], "tell", message="Changez le mot de passe de votre messagerie."
        )
