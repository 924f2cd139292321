"""R17, "Supprimer mon compte", in Debian's headless Chromium against a real
``uhs-server serve --demo`` of its own (the account is gone afterwards): Camille Petit
reads, before confirming, what deleting her account erases and what the law keeps
and until when (Dr Martin's file holds a document, kept 20 years); she confirms from
the keyboard, reads the answer in French, and can no longer sign in. axe-core, phone
width; each screen photographed.
"""

from __future__ import annotations

from datetime import date

from tests.web.journeys import (
    DEMO_PASSWORD,
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
from tests.web.test_journey_rights import in_french
from uhealthsec.server.retention.rules import add_years


def test_a_patient_sees_what_deletion_keeps_then_deletes_her_account(
    browser, demo_server, screens, tmp_path
):
    martin = sdk(demo_server, DR_MARTIN)
    _, file_id = camilles_file(martin)
    note = tmp_path / "ordonnance.txt"
    note.write_text("Ordonnance\n", encoding="utf-8")
    martin.send(note, patient_file_id=file_id, to=[PATIENT], title="Ordonnance")
    status = martin.call(
        "PUT", f"/patient-files/{file_id}/retention", json={"born_on": "1984-06-02"}
    ).json()
    last_day = date.fromisoformat(status["keep_until"])
    assert last_day == add_years(date.today(), 20)

    page = new_page(browser, demo_server)
    sign_in(page, demo_server, PATIENT)
    page.get_by_role("link", name="Mes droits").click()
    section = page.locator("section.account-deletion")
    section.get_by_role("heading", name="Supprimer mon compte").wait_for()
    section.get_by_text("Sera conservé, parce que la loi l'exige").wait_for()
    kept = section.locator("li.kept", has_text="Vos documents (1)")
    shown = kept.inner_text()
    assert f"Jusqu'au {in_french(last_day)} inclus" in shown
    assert "R1112-7" in shown and "17.3 b et c" in shown
    erased = section.locator("li.erased").all_inner_texts()
    assert any("Votre nom et votre adresse e-mail" in line for line in erased)
    assert "ne pourra pas servir à un nouveau compte" in section.inner_text()
    check_accessibility(page, "account deletion preview")
    # The section alone: the rest of the screen is 75-rights.png.
    section.screenshot(path=str(screens / "account-deletion-preview.png"))

    # Confirmed from the keyboard; the box must be ticked first.
    tab_to(page, "section.account-deletion input[type=checkbox]")
    page.keyboard.press("Space")
    tab_to(page, "button:has-text('Supprimer mon compte')")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Votre compte est supprimé", level=1).wait_for()
    answer = "\n".join(page.locator("ul.erasure-lines").all_inner_texts())
    assert "Effacé — Votre nom et votre adresse e-mail" in answer
    assert "Conservé — Vos documents (1) — " in answer
    assert f"Jusqu'au {in_french(last_day)} inclus" in answer
    check_accessibility(page, "account deleted")
    photograph(page, screens, "account-deleted")
    photograph_on_a_phone(page, screens, "account-deleted-phone")

    page.get_by_role("button", name="Terminer").click()
    page.get_by_label("Adresse e-mail").fill(PATIENT)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.locator(".alert").first.wait_for()
    assert page.get_by_role("heading", name="Documents", level=1).count() == 0
    # The practice keeps her file, within its retention.
    assert [d.title for d in martin.documents()] == ["Ordonnance"]
    assert page.errors == []
