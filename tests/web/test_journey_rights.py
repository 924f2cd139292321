"""Issue 21, item 4, "Mes droits", in Debian's headless Chromium against a real
``uhs-server serve --demo``: Camille Petit asks, from the keyboard, for the erasure of
her file and sees its legal deadline; she asks for access and withdraws it; Dr Martin
answers the erasure through the Python SDK, and the server refuses it, the file being
within its legal retention; Camille sees the refusal, the exception cited and the
day erasure becomes possible. axe-core, phone width; each screen photographed.
"""

from __future__ import annotations

from datetime import date, datetime

from tests.web.journeys import (
    DR_MARTIN,
    PATIENT,
    check_accessibility,
    new_page,
    photograph,
    photograph_on_a_phone,
    sign_in,
    tab_to,
)
from tests.web.test_journey_consents import camilles_file, sdk
from uhealthsec.client.rights import RightsClient

MONTHS = [
    *("janvier", "février", "mars", "avril", "mai", "juin"),
    *("juillet", "août", "septembre", "octobre", "novembre", "décembre"),
]


def in_french(day: date) -> str:
    """A day as the page writes it (toLocaleDateString fr-FR, long)."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def test_an_erasure_refused_within_retention_shows_why_and_when(
    browser, demo_server, screens, tmp_path
):
    martin = sdk(demo_server, DR_MARTIN)
    practice_id, file_id = camilles_file(martin)
    note = tmp_path / "ordonnance.txt"
    note.write_text("Ordonnance\n", encoding="utf-8")
    martin.send(note, patient_file_id=file_id, to=[PATIENT], title="Ordonnance")
    # Kept 20 years after the last care: known once the birth date is.
    martin.call("PUT", f"/patient-files/{file_id}/retention", json={"born_on": "1984-06-02"})

    page = new_page(browser, demo_server)
    sign_in(page, demo_server, PATIENT)
    page.get_by_role("link", name="Mes droits").click()
    page.get_by_role("heading", name="Mes droits", level=1).wait_for()
    page.get_by_text("Aucune demande pour l'instant.").wait_for()
    assert (
        "sous 8 jours"
        in page.get_by_text("Votre dossier médical, pas avant 48 heures").inner_text()
    )
    check_accessibility(page, "rights")
    photograph(page, screens, "75-rights")

    # Erasure, chosen and sent from the keyboard.
    tab_to(page, "input[value=access]")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.get_by_label("Effacement").is_checked()
    tab_to(page, "button:has-text('Envoyer la demande')")
    page.keyboard.press("Enter")
    page.locator(".alert.success", has_text="Demande envoyée : Effacement.").wait_for()
    (erasure,) = RightsClient(martin).of_practice(practice_id)
    due = datetime.fromisoformat(erasure["due_at"]).astimezone().date()
    said = (
        f"Demande envoyée : Effacement. Le cabinet doit répondre au plus tard le {in_french(due)}."
    )
    assert page.locator(".alert.success").inner_text() == said
    item = page.locator("ul.rights-requests > li", has_text="Effacement")
    assert "En attente de réponse" in item.inner_text()
    assert f"au plus tard le {in_french(due)} (GDPR art. 17)" in item.inner_text()

    # Access, asked then withdrawn while pending.
    page.get_by_label("Accès à vos données").check()
    page.get_by_role("button", name="Envoyer la demande").click()
    access = page.locator("ul.rights-requests > li", has_text="Accès à vos données")
    access.get_by_text("En attente de réponse").wait_for()
    access.get_by_role("button", name="Retirer la demande").click()
    page.locator(".alert.success", has_text="Demande retirée : Accès à vos données.").wait_for()
    assert "Retirée" in access.inner_text()
    assert access.get_by_role("button").count() == 0
    assert [r["right"] for r in RightsClient(martin).of_practice(practice_id)] == ["erasure"]

    # Dr Martin answers the erasure: the law keeps the file, so the server refuses it.
    answered = RightsClient(martin).complete(erasure["id"])
    assert answered["status"] == "refused" and answered["erasure_from"]
    possible = date.fromisoformat(answered["erasure_from"])
    assert possible > date.today()

    page.get_by_role("link", name="Mes consentements").click()
    page.get_by_role("heading", name="Mes consentements", level=1).wait_for()
    page.get_by_role("link", name="Mes droits").click()
    item.get_by_text("Refusée").wait_for()
    shown = item.inner_text()
    assert f"Effacement impossible avant le {in_french(possible)}" in shown
    assert "obligation légale de conserver le dossier médical" in shown
    assert "R1112-7" in shown and "GDPR art. 17(3)(b)" in shown
    assert item.get_by_role("button").count() == 0
    check_accessibility(page, "rights refused")
    photograph(page, screens, "76-rights-refused")

    photograph_on_a_phone(page, screens, "77-rights-phone")
    assert page.errors == []
