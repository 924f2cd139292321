"""Journey 3 of issue 20, its last sentence: a patient who has no account yet. In
Debian's headless Chromium against a real ``uhs-server serve --demo``: Dr Martin
invites a new patient from the sending screen and sends her a report with Paul Durand
as reader: refused, she was never informed of how her care team shares her file (R11);
Dr Martin records in her file that she informed her in person and sends it again
(Paul Durand reads it at once); the report waits for the patient, as the document's
screen and her file say; the patient follows the invitation's link, registers and joins; Dr Martin's
application, at its next sign-in, finds her keys proven in the key directory and
shares the report with her; the patient opens it, its signature verified. Each screen
is checked with axe-core and photographed (docs/screens/8x-pending-*.png).
"""

from __future__ import annotations

import re

from tests.web.journeys import (
    DR_MARTIN,
    PHONE,
    check_accessibility,
    new_page,
    open_screen,
    photograph,
    sign_in,
)
from tests.web.test_journey_practice import follow_link, invitation_link, register_invited

NEW_PATIENT = ("lea.garnier@exemple.test", "Léa Garnier")
WAITING = f"En attente de l'inscription du patient : {NEW_PATIENT[0]}"
READERS = "dl.details dt:has-text('Peuvent le lire') + dd"


def fill_in_report(martin, report) -> None:
    martin.locator("input[type=file]").set_input_files(str(report))
    martin.get_by_label(re.compile("^Titre")).fill("Bilan initial")


def review_and_send(martin) -> None:
    martin.get_by_role("button", name="Vérifier les destinataires").click()
    martin.get_by_role("heading", name="Pourront lire ce document").wait_for()
    readers = martin.locator("ul.readers").inner_text()
    assert "Paul Durand" in readers and NEW_PATIENT[0] not in readers
    martin.locator(".alert.pending", has_text=WAITING).wait_for()
    martin.get_by_role("button", name="Chiffrer et envoyer").click()


def test_a_report_waits_for_a_new_patient_and_reaches_her_once_she_joins(
    browser, demo_server, screens, tmp_path
):
    martin = new_page(browser, demo_server)
    sign_in(martin, demo_server, DR_MARTIN)
    open_screen(martin, "Envoyer")
    martin.get_by_role("heading", name="Envoyer un document").wait_for()

    # The patient has no account: Dr Martin invites her from this screen.
    martin.get_by_text("Inviter un·e nouveau·elle patient·e").click()
    martin.get_by_label("Adresse électronique du patient").fill(NEW_PATIENT[0])
    martin.get_by_role("button", name="Inviter", exact=True).click()
    patients = martin.get_by_label("Choisissez la patiente ou le patient")
    invited = patients.locator("option", has_text=f"{NEW_PATIENT[0]} (invitation en attente)")
    invited.wait_for(state="attached")
    patients.select_option(invited.get_attribute("value"))
    martin.get_by_text("Cette personne n'a pas encore de compte").wait_for()
    martin.get_by_label(re.compile("Paul Durand")).check()
    report = tmp_path / "bilan.txt"
    report.write_text("Bilan initial : tension 13/8, à revoir dans un mois.\n")
    fill_in_report(martin, report)
    check_accessibility(martin, "send to an invited patient")
    photograph(martin, screens, "80-pending-send")

    # R11: her care team shares her file only once she is informed. Never informed yet,
    # the share with Paul Durand is refused, saying what to do.
    review_and_send(martin)
    refusal = martin.locator(".alert", has_text="n'a pas encore été informé")
    refusal.wait_for()
    assert "enregistrez que vous l'avez informé en personne" in refusal.inner_text()
    check_accessibility(martin, "send refused: the patient is not informed")
    photograph(martin, screens, "120-pending-not-informed")
    # Her file is open: Dr Martin records that she informed her at the consultation.
    open_screen(martin, "Patients")
    martin.get_by_role("link", name=NEW_PATIENT[0]).click()
    martin.locator(".alert.warning", has_text="pas encore été informé").wait_for()
    martin.get_by_role("button", name="Enregistrer : informé·e en personne").click()
    martin.locator(".alert.success", has_text="Information enregistrée").wait_for()
    assert "Informé·e le" in martin.locator("ul.information").inner_text()
    check_accessibility(martin, "patient file, information recorded")
    photograph(martin, screens, "121-patients-file-informed")

    open_screen(martin, "Envoyer")
    martin.get_by_role("heading", name="Envoyer un document").wait_for()
    patients = martin.get_by_label("Choisissez la patiente ou le patient")
    invited = patients.locator("option", has_text=f"{NEW_PATIENT[0]} (invitation en attente)")
    invited.wait_for(state="attached")
    patients.select_option(invited.get_attribute("value"))
    martin.get_by_label(re.compile("Paul Durand")).check()
    fill_in_report(martin, report)
    review_and_send(martin)
    martin.locator(".alert.success", has_text="Envoyé : Bilan initial.").wait_for()
    martin.locator(".alert.pending", has_text="Le partage se fera automatiquement").wait_for()
    check_accessibility(martin, "sent, waiting for the patient")
    photograph(martin, screens, "81-pending-sent")

    martin.get_by_role("link", name="Voir le document").click()
    martin.locator("[data-pending='waiting']", has_text=WAITING).wait_for()
    martin.locator(".alert.success", has_text="Signature vérifiée").wait_for()
    assert NEW_PATIENT[0] not in martin.locator(READERS).inner_text()
    check_accessibility(martin, "document waiting for its patient")
    photograph(martin, screens, "82-pending-document")
    # Her file, opened when the report was sent, says so too.
    open_screen(martin, "Patients")
    martin.get_by_role("link", name=NEW_PATIENT[0]).click()
    martin.locator(".file-documents [data-pending='waiting']", has_text=WAITING).wait_for()
    check_accessibility(martin, "patient file waiting for its patient")
    assert martin.errors == []  # type: ignore[attr-defined]

    # The patient follows her mail's link, registers and joins: nothing to read yet.
    patient = follow_link(browser, demo_server, invitation_link(demo_server, NEW_PATIENT[0]))
    register_invited(patient, demo_server, *NEW_PATIENT)
    patient.get_by_text("Aucun document pour l'instant.").wait_for()

    # Dr Martin's application, at its next sign-in, shares the report from her device.
    again = new_page(browser, demo_server)
    sign_in(again, demo_server, DR_MARTIN)
    again.get_by_role("link", name="Bilan initial").click()
    again.locator(READERS, has_text=NEW_PATIENT[0]).wait_for()
    assert again.locator(".alert.pending").count() == 0

    # The patient reads it, its signature verified in her browser.
    patient.set_viewport_size(PHONE)
    open_screen(patient, "Sécurité")
    patient.get_by_role("heading", name="Sécurité", level=1).wait_for()
    open_screen(patient, "Documents")
    patient.get_by_role("link", name="Bilan initial").click()
    verified = patient.locator(".alert.success", has_text="Signature vérifiée")
    verified.wait_for()
    assert DR_MARTIN in verified.inner_text()
    assert "tension 13/8" in patient.locator("pre.preview").inner_text()
    check_accessibility(patient, "the patient reads the report")
    photograph(patient, screens, "83-pending-patient-reads-phone")
    assert patient.errors == []  # type: ignore[attr-defined]
