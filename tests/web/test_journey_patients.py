"""Journey 5, patient files, in Debian's headless Chromium against a real
``uhs-server serve --demo``: Dr Martin finds Camille Petit's file by name, sees until
when it is kept and the patient's consent (read only), opens a document's versions
and readers, shares it with the patient until a date, uploads a new version after
seeing whom it will be encrypted for, revokes Paul Durand, and the next version is
encrypted without him (as the SDK keeps a revoked reader out); Paul's device no longer
lists the document. Each screen is checked with axe-core and photographed.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from tests.web.journeys import (
    DR_MARTIN,
    PATIENT,
    PAUL_DURAND,
    PHONE,
    check_accessibility,
    new_page,
    photograph,
    sign_in,
)


def send_note(page, tmp_path, title: str) -> None:
    """Dr Martin sends Paul Durand a text note about Camille Petit (journey 3's screen)."""
    page.get_by_role("link", name="Envoyer", exact=True).click()
    page.get_by_role("heading", name="Envoyer un document").wait_for()
    patients = page.get_by_label("Choisissez la patiente ou le patient")
    patients.select_option(
        patients.locator("option", has_text="Camille Petit").get_attribute("value")
    )
    page.get_by_label(re.compile("Paul Durand")).check()
    note = tmp_path / "bilan.txt"
    note.write_text("Bilan kinésithérapie, version 1\n", encoding="utf-8")
    page.locator("input[type=file]").set_input_files(str(note))
    page.get_by_label(re.compile("^Titre")).fill(title)
    page.get_by_role("button", name="Vérifier les destinataires").click()
    page.get_by_role("button", name="Chiffrer et envoyer").click()
    page.locator(".alert.success", has_text=f"Envoyé : {title}.").wait_for()


def outcome(page, text: str) -> None:
    page.locator(".document-panel .alert.success", has_text=text).wait_for()


def readers_text(page) -> str:
    return page.locator(".document-panel ul.readers").first.inner_text()


def new_version(page, tmp_path, text: str) -> str:
    """Checks a new version and returns the readers the confirmation shows, then sends it."""
    upload = tmp_path / f"bilan-{len(text)}.txt"
    upload.write_text(text, encoding="utf-8")
    page.get_by_label("Fichier de la nouvelle version").set_input_files(str(upload))
    page.get_by_role("button", name="Vérifier avant d'envoyer").click()
    page.get_by_role("heading", name="Avant de modifier ce document").wait_for()
    return page.locator("form.new-version ul.readers").inner_text()


def test_a_practitioner_manages_a_patient_file(browser, demo_server, screens, tmp_path):
    title = "Bilan kiné"
    page = new_page(browser, demo_server)
    sign_in(page, demo_server, DR_MARTIN)
    send_note(page, tmp_path, title)

    # The list, and the search by the patient's name.
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("heading", name="Dossiers patients", level=1).wait_for()
    assert page.get_by_role("link", name="Patients").get_attribute("aria-current") == "page"
    search = page.get_by_label("Rechercher un patient par son nom")
    search.fill("petit")
    assert page.locator("ul.patients li").count() == 1
    search.fill("personne de ce nom")
    assert page.locator("ul.patients li").count() == 0
    assert page.locator("p.count").inner_text() == "0 dossier(s)"
    search.fill("Camille")
    check_accessibility(page, "patient files")
    photograph(page, screens, "30-patients-list")

    # The file: retention end, consent (read only), its documents.
    page.get_by_role("link", name="Camille Petit").click()
    page.get_by_role("heading", name="Camille Petit", level=1).wait_for()
    assert re.fullmatch(r"#/patients/[0-9a-f-]{36}", page.evaluate("location.hash"))
    kept = page.locator("section.part", has_text="Conservation du dossier").inner_text()
    # The demo patient's birth date is not recorded: the end waits on it.
    assert "Conservé jusqu'au\ninconnu pour l'instant" in kept
    assert "date de naissance inconnue" in kept
    consent = page.locator("section.part", has_text="Consentement du patient")
    assert "Seul le patient modifie ses choix" in consent.inner_text()
    assert consent.locator("input, button, select").count() == 0
    page.get_by_role("link", name=title).wait_for()
    check_accessibility(page, "patient file")

    # A document's versions and readers.
    page.get_by_role("button", name=f"Versions et lecteurs de « {title} »").click()
    page.get_by_role("heading", name="Lecteurs").wait_for()
    assert "Version 1 — Bilan kiné" in page.locator("ol.versions").inner_text()
    listed = readers_text(page)
    assert "Paul Durand" in listed and "accès sans fin" in listed

    # Shared with the patient until a date.
    until = date.today() + timedelta(days=30)
    page.get_by_label("Adresse e-mail du lecteur").fill(PATIENT)
    page.get_by_label("Accès jusqu'au (facultatif)").fill(until.isoformat())
    page.get_by_role("button", name="Partager", exact=True).click()
    outcome(page, f"Document partagé avec {PATIENT}.")
    patient_line = page.locator(".document-panel ul.readers li", has_text=PATIENT).inner_text()
    assert "accès jusqu'au" in patient_line and str(until.year) in patient_line
    check_accessibility(page, "document history")
    photograph(page, screens, "31-patients-file")

    # A new version: first what it continues and who will read it, then sent.
    shown = new_version(page, tmp_path, "Bilan kinésithérapie, version 2\n")
    assert all(who in shown for who in (DR_MARTIN, PAUL_DURAND, PATIENT))
    assert (
        "« Bilan kiné » passera de la version 1 à la version 2"
        in page.locator("form.new-version").inner_text()
    )
    check_accessibility(page, "before changing")
    photograph(page, screens, "32-patients-new-version")
    page.get_by_role("button", name="Envoyer la version 2").click()
    outcome(page, "La version 2 de « Bilan kiné » est envoyée.")
    assert "Version 2 — Bilan kiné" in page.locator("ol.versions").inner_text()

    # Paul's access revoked: listed no more, and kept out of the next version.
    page.get_by_role("button", name="Retirer l'accès de Paul Durand").click()
    outcome(page, f"L'accès de {PAUL_DURAND} est retiré")
    assert PAUL_DURAND not in readers_text(page)
    assert f"{PAUL_DURAND} : retiré à la version 2" in page.locator(".document-panel").inner_text()
    shown = new_version(page, tmp_path, "Bilan kinésithérapie, version 3, sans Paul\n")
    assert PAUL_DURAND not in shown and PATIENT in shown and DR_MARTIN in shown
    page.get_by_role("button", name="Envoyer la version 3").click()
    outcome(page, "La version 3 de « Bilan kiné » est envoyée.")
    assert page.errors == []  # type: ignore[attr-defined]

    # Paul's device lists the document no more; the file works at a phone's width.
    colleague = new_page(browser, demo_server, viewport=PHONE)
    sign_in(colleague, demo_server, PAUL_DURAND)
    colleague.get_by_role("link", name="Patients", exact=True).click()
    colleague.get_by_role("link", name="Camille Petit").click()
    colleague.get_by_role("heading", name="Camille Petit", level=1).wait_for()
    colleague.get_by_text("Aucun document de ce dossier que vous puissiez lire.").wait_for()
    check_accessibility(colleague, "patient file on a phone")
    photograph(colleague, screens, "33-patients-file-phone")
    assert colleague.errors == []  # type: ignore[attr-defined]
