"""Issue 21, item 3, "Mes consentements", in Debian's headless Chromium against a real
``uhs-server serve --demo``: Dr Martin sends Camille Petit and Paul Durand a document
about her (Python SDK); Camille consents to sharing outside the care team, then
objects to it, each time seeing the effect before confirming; the history shows the
new version, and the SDK reads the same directive. Paul, a member of the care team,
keeps his access (the server's rule, CSP L1110-4); Camille then objects to sharing
with Paul alone, sees that he will lose access to the document, confirms, and his
device no longer lists it. Then Camille reads the practice's research study, takes
part in it and stops, one button each (R19). Keyboard, axe-core, phone width; each
screen photographed.
"""

from __future__ import annotations

from datetime import date

import httpx2

from tests.web.journeys import (
    DR_MARTIN,
    PATIENT,
    PAUL_DURAND,
    DemoServer,
    check_accessibility,
    new_page,
    photograph,
    photograph_on_a_phone,
    sign_in,
    tab_to,
)
from uhealthsec.client.api import AuthClient
from uhealthsec.client.consent import ConsentClient
from uhealthsec.client.exchange import ExchangeClient
from uhealthsec.crypto.keystore import unlock_with_password
from uhealthsec.server.demo import DEMO_PASSWORD


def sdk(server: DemoServer, email: str) -> ExchangeClient:
    """``email`` signed in to the demo server with the Python SDK, keys unlocked."""
    http = httpx2.Client(base_url=server.url, timeout=30)
    auth = AuthClient(http)
    login = auth.start_login(email, DEMO_PASSWORD, {"totp_code": server.totp(email)})
    tokens = auth.authorize(login, "journey tests")
    keys = unlock_with_password(auth.keystore(tokens), DEMO_PASSWORD)
    return ExchangeClient(http, lambda: tokens.access_token, keys)


def camilles_file(martin: ExchangeClient) -> tuple[str, str]:
    """The demo practice's id and Camille Petit's file there, as Dr Martin finds them."""
    (practice,) = martin.call("GET", "/practices").json()
    patient_file = martin.patient_file(practice["id"], PATIENT)
    return practice["id"], patient_file["id"]


def readable(client: ExchangeClient) -> set[str]:
    return {str(summary.id) for summary in client.all_documents()}


def test_a_patient_objects_and_sees_the_effect_first(browser, demo_server, screens, tmp_path):
    martin, paul, camille_sdk = (sdk(demo_server, who) for who in (DR_MARTIN, PAUL_DURAND, PATIENT))
    practice_id, file_id = camilles_file(martin)
    note = tmp_path / "compte-rendu.txt"
    note.write_text("Compte rendu de consultation\n", encoding="utf-8")
    document = str(
        martin.send(note, patient_file_id=file_id, to=[PATIENT, PAUL_DURAND], title="Compte rendu")
    )
    assert document in readable(paul)

    page = new_page(browser, demo_server)
    sign_in(page, demo_server, PATIENT)
    page.get_by_role("link", name="Mes consentements").click()
    page.get_by_role("heading", name="Mes consentements", level=1).wait_for()
    outside = page.get_by_role("switch", name="Partage hors de l'équipe de soins")
    team = page.get_by_role("switch", name="Partage au sein de l'équipe de soins")
    assert outside.get_attribute("aria-checked") == "false"
    assert team.get_attribute("aria-checked") == "true"
    assert (
        "consentement préalable"
        in page.locator(f"#{outside.get_attribute('aria-describedby')}").inner_text()
    )
    check_accessibility(page, "consents")
    photograph(page, screens, "70-consents")

    # Consent given from the keyboard: nothing is sent before the effect is confirmed.
    tab_to(page, "ul.consent-switches li:nth-child(2) button.switch")
    page.keyboard.press("Space")
    effect = page.locator(".effect")
    effect.get_by_text("Personne ne perdra l'accès à vos documents.").wait_for()
    assert ConsentClient(camille_sdk).directives() == []
    tab_to(page, ".effect button:has-text('Confirmer')")
    page.keyboard.press("Enter")
    page.locator(".alert.success", has_text="Votre choix est enregistré (version 1).").wait_for()
    assert outside.get_attribute("aria-checked") == "true"

    # Then withdrawn: the effect names Paul, whom only a non-member would lose.
    outside.click()
    effect.get_by_text("Paul Durand perdra l'accès à 1 document").wait_for()
    assert "celles qui ne font pas partie de l'équipe de soins" in effect.inner_text()
    check_accessibility(page, "consent effect")
    photograph(page, screens, "71-consents-effect")
    effect.get_by_role("button", name="Confirmer").click()
    page.locator(".alert.success", has_text="Votre choix est enregistré (version 2).").wait_for()
    history = page.locator("ol.consent-history").inner_text()
    assert "Version 2 Partage hors de l'équipe de soins, tout le monde : Refusé" in history
    assert "(en vigueur)" in history and "(remplacée le" in history
    (directive,) = ConsentClient(camille_sdk).directives()
    assert (directive["version"], directive["purpose"], directive["decision"]) == (
        2,
        "outside_team",
        "deny",
    )
    assert directive["practice_id"] == practice_id and directive["recipient_id"] is None
    # Paul is in the care team: a directive about others leaves his access (L1110-4).
    assert document in readable(paul)

    # An objection to Paul alone: exactly his access, shown first, then ended.
    page.get_by_label("Adresse e-mail du professionnel").fill(PAUL_DURAND)
    page.get_by_label("Type de partage").select_option("care_team")
    page.get_by_label("Décision").select_option("deny")
    page.get_by_role("button", name="Voir l'effet avant de confirmer").click()
    effect.get_by_text("Paul Durand perdra l'accès à 1 document").wait_for()
    assert "celles qui" not in effect.inner_text()
    assert document in readable(paul)
    effect.get_by_role("button", name="Confirmer").click()
    page.locator(
        ".alert.success",
        has_text="enregistré (version 3). Accès à vos documents qui ont pris fin : 1.",
    ).wait_for()
    assert document not in readable(paul)
    assert "Paul Durand" in page.locator("ul.consents").inner_text()
    check_accessibility(page, "consent history")
    photograph(page, screens, "72-consents-history")

    photograph_on_a_phone(page, screens, "73-consents-phone")
    assert page.errors == []


def test_a_patient_takes_part_in_one_study_and_stops_in_one_click(browser, demo_server, screens):
    """R19: the practice's study is shown in plain French (who runs it, why, until when,
    under which CNIL framework); taking part and stopping are one button each, and the
    practice's count follows at once."""
    martin, camille_sdk = (sdk(demo_server, who) for who in (DR_MARTIN, PATIENT))
    practice_id, _ = camilles_file(martin)
    practice = ConsentClient(martin)
    study = practice.declare_study(
        practice_id,
        title="Lombalgie et kinésithérapie précoce",
        sponsor="CHU de Tours",
        purpose="Savoir si une rééducation commencée tôt évite les rechutes de mal de dos.",
        methodology="MR-004",
        starts_on=date(2026, 1, 1),
        ends_on=date(2099, 12, 31),
    )

    page = new_page(browser, demo_server)
    sign_in(page, demo_server, PATIENT)
    page.get_by_role("link", name="Mes consentements").click()
    card = page.locator("li.study", has_text="Lombalgie et kinésithérapie précoce")
    card.wait_for()
    text = card.inner_text()
    assert "CHU de Tours" in text and "rechutes de mal de dos" in text
    assert "Méthodologie de référence de la CNIL MR-004" in text
    assert "31 décembre 2099" in text
    assert "Vous ne participez pas à cette étude." in text
    # No switch for research as a whole any more: consent is given study by study.
    assert page.get_by_role("switch", name="Recherche").count() == 0

    tab_to(page, "li.study button")
    page.keyboard.press("Enter")
    page.locator(".alert.success", has_text="Vous participez à l'étude").wait_for()
    assert [s["consenting"] for s in practice.studies(practice_id)] == [1]
    decided = [d for d in ConsentClient(camille_sdk).directives() if d["purpose"] == "research"]
    assert [(d["study_id"], d["decision"]) for d in decided] == [(study["id"], "permit")]
    card.get_by_text("Vous participez à cette étude.").wait_for()
    check_accessibility(page, "consents study")
    photograph(page, screens, "74-consents-study")

    card.get_by_role("button", name="Ne plus participer").click()
    page.locator(".alert.success", has_text="Vous ne participez plus à l'étude").wait_for()
    assert [s["consenting"] for s in practice.studies(practice_id)] == [0]
    history = page.locator("ol.consent-history").inner_text()
    assert "Étude « Lombalgie et kinésithérapie précoce » : participation retirée" in history
    photograph_on_a_phone(page, screens, "75-consents-study-phone")
    assert page.errors == []
