"""What the browser shows only once the worker verified it, in Debian's headless
Chromium against a real ``uhs-server serve --demo``.

A patient's own history: after Dr Martin opens Camille Petit's file, Camille's "Mon
historique" lists what Dr Martin did, each entry proven in the journal and the history
proven complete by the worker; a history the server serves with an entry left out is
refused whole, with the reason in French. The inbox: a document's sender is the signer
the worker verified, and a listing whose signature does not verify is marked "Non
vérifié" rather than named as the server names it. A new version: each reader it will
be encrypted to is shown with the fingerprint of the keys the worker proved, the one
the trust screen shows for them; a reader revoked from this browser stays out of it on
a later visit, even when the server withholds the revocation and lists them again.
"""

from __future__ import annotations

import base64
import json
import re

from tests.web.journeys import (
    DR_MARTIN,
    PATIENT,
    PAUL_DURAND,
    PHONE,
    check_accessibility,
    new_page,
    open_screen,
    photograph,
    sign_in,
)
from tests.web.test_journey_patients import new_version, send_note
from tests.web.test_journey_trust import show_safety_number

HISTORY_PAGES = re.compile(r".*/journal/history\?.*before=.*")


def open_history(page) -> None:
    open_screen(page, "Mon historique")
    page.get_by_role("heading", name="Mon historique", level=1).wait_for()


def without_newest_entry(route):
    """The server's page of the history with its newest entry left out."""
    answer = route.fetch()
    items = answer.json()
    route.fulfill(response=answer, body=json.dumps(items[1:]))


def test_a_patient_sees_who_opened_their_file_proven_complete(browser, demo_server, screens):
    """R13: the patient's access history in the web application."""
    doctor = new_page(browser, demo_server)
    sign_in(doctor, demo_server, DR_MARTIN)
    open_screen(doctor, "Patients")
    doctor.get_by_role("link", name="Camille Petit").click()
    doctor.get_by_role("heading", name="Camille Petit", level=1).wait_for()

    patient = new_page(browser, demo_server)
    sign_in(patient, demo_server, PATIENT)
    open_history(patient)
    assert patient.get_by_role("link", name="Mon historique").get_attribute("aria-current") == (
        "page"
    )
    summary = patient.locator("#main .alert.success")
    summary.wait_for()
    assert re.match(r"Complet : \d+ entrées, chaînées jusqu'à la première", summary.inner_text())
    rows = patient.locator("table.history tbody tr")
    assert rows.count() >= 1
    by_martin = rows.filter(has_text="Claire Martin")
    assert by_martin.count() >= 1
    assert by_martin.filter(has_text="a consulté vos consentements").count() == 1
    check_accessibility(patient, "history")
    photograph(patient, screens, "50-history")

    # Looked at again: this device's own earlier reading is now in the history.
    open_screen(patient, "Documents")
    patient.get_by_role("heading", name="Documents", level=1).wait_for()
    open_history(patient)
    patient.locator("#main .alert.success").wait_for()
    assert rows.filter(has_text="a lu votre historique d'accès").count() >= 1
    assert not patient.errors and not doctor.errors  # type: ignore[attr-defined]


def test_a_practice_history_names_documents_by_title_and_filters_by_person_and_period(
    browser, demo_server, screens, tmp_path
):
    """Dr Martin, the demo practice's admin: her practice's activity names the
    documents she can open by their title (decrypted in her browser), and narrows to
    one person, one practice or one period; an empty period shows nothing."""
    page = new_page(browser, demo_server)
    sign_in(page, demo_server, DR_MARTIN)
    send_note(page, tmp_path, "Bilan pour l'historique")
    open_history(page)
    page.locator("#main .alert.success").first.wait_for()
    rows = page.locator("table.history tbody tr")
    rows.filter(has_text="a ajouté « Bilan pour l'historique » à votre dossier").first.wait_for()
    total = rows.count()
    shown = page.locator("#main p[role=status]").first
    assert shown.inner_text() == f"{total} entrées affichées sur {total}."

    who = page.get_by_label("Qui")
    assert "Dr Claire Martin" in who.inner_text()
    who.select_option(label="Dr Claire Martin")
    assert rows.count() == rows.filter(has_text="Claire Martin").count() >= 1
    check_accessibility(page, "history filtered")
    photograph(page, screens, "54-history-filtered")

    page.get_by_label("Au").fill("2020-01-01")
    page.get_by_label("Au").dispatch_event("change")
    assert rows.count() == 0
    assert shown.inner_text() == f"0 entrées affichées sur {total}."
    page.get_by_label("Au").fill("")
    page.get_by_label("Au").dispatch_event("change")
    page.get_by_label("Du").fill("2020-01-01")
    page.get_by_label("Du").dispatch_event("change")
    who.select_option(value="")
    assert rows.count() == total
    assert not page.errors  # type: ignore[attr-defined]


def test_a_history_with_an_entry_left_out_is_refused_whole(browser, demo_server, screens):
    phone = new_page(browser, demo_server, PHONE)
    sign_in(phone, demo_server, PATIENT)
    phone.context.route(HISTORY_PAGES, without_newest_entry)
    open_history(phone)
    alert = phone.locator("#main [role=alert]")
    alert.wait_for()
    said = alert.inner_text()
    assert "Le serveur a omis des entrées de votre historique" in said
    assert "Code pour l'assistance : history_incomplete" in said
    assert phone.locator("table.history").count() == 0
    check_accessibility(phone, "history refused")
    photograph(phone, screens, "51-history-refused-phone")


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def another_author_unsigned(route):
    """The server's listing naming Dr House as every document's author, with the
    latest version's signature altered to match its claim."""
    answer = route.fetch()
    documents = answer.json()
    for document in documents:
        document["author_name"] = "Dr House"
        document["author_email"] = "dr.house@example.com"
        latest = document["versions"][-1]
        signature = bytearray(unb64u(latest["signature"]))
        signature[0] ^= 1
        latest["signature"] = b64u(bytes(signature))
    route.fulfill(response=answer, body=json.dumps(documents))


def test_the_inbox_names_only_the_author_whose_signature_verified(
    browser, demo_server, screens, tmp_path
):
    doctor = new_page(browser, demo_server)
    sign_in(doctor, demo_server, DR_MARTIN)
    send_note(doctor, tmp_path, "Note signée")

    colleague = new_page(browser, demo_server, PHONE)
    sign_in(colleague, demo_server, PAUL_DURAND)
    row = colleague.locator("table.documents tbody tr", has_text="Note signée")
    row.wait_for()
    assert "Claire Martin" in row.inner_text()
    assert row.locator(".unverified").count() == 0

    colleague.context.route(re.compile(r".*/documents\?.*"), another_author_unsigned)
    open_screen(colleague, "Patients")
    colleague.get_by_role("heading", name="Dossiers patients", level=1).wait_for()
    open_screen(colleague, "Documents")
    row.locator(".unverified").wait_for()
    assert "Non vérifié" in row.inner_text()
    assert "House" not in row.inner_text() and "Claire Martin" not in row.inner_text()
    check_accessibility(colleague, "inbox, a document not verified")
    photograph(colleague, screens, "52-inbox-unverified-phone")
    assert not doctor.errors and not colleague.errors  # type: ignore[attr-defined]


def test_a_new_version_shows_each_readers_key_fingerprint(browser, demo_server, screens, tmp_path):
    page = new_page(browser, demo_server)
    sign_in(page, demo_server, DR_MARTIN)
    show_safety_number(page, PAUL_DURAND)
    pauls = page.locator("span.fingerprint").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", pauls)
    title = "Note à compléter"
    send_note(page, tmp_path, title)

    open_screen(page, "Patients")
    page.get_by_role("link", name="Camille Petit").click()
    page.get_by_role("heading", name="Camille Petit", level=1).wait_for()
    page.get_by_role("button", name=f"Versions et lecteurs de « {title} »").click()
    page.get_by_role("heading", name="Lecteurs").wait_for()
    shown = new_version(page, tmp_path, "Note complétée, version 2\n")
    assert DR_MARTIN in shown and PAUL_DURAND in shown
    readers = page.locator("form.new-version ul.readers li")
    assert readers.locator("span.fingerprint").count() == readers.count() == 2
    paul = readers.filter(has_text=PAUL_DURAND)
    assert paul.locator("span.fingerprint").inner_text() == pauls
    assert "Empreinte de sa clé" in paul.inner_text()
    check_accessibility(page, "new version with fingerprints")
    photograph(page, screens, "53-new-version-fingerprints")
    page.get_by_role("button", name="Envoyer la version 2").click()
    sent = f"La version 2 de « {title} » est envoyée."
    page.locator(".document-panel .alert.success", has_text=sent).wait_for()
    assert not page.errors  # type: ignore[attr-defined]


DOCUMENT = re.compile(r".*/documents/[0-9a-f-]{36}$")


def revocation_withheld(route):
    """The server's document without its revocations, every reader its latest version
    signed for listed again."""
    answer = route.fetch()
    document = answer.json()
    document["revocations"] = []
    listed = {r["account_id"] for r in document["recipients"]}
    for reader in document["versions"][-1]["readers"] or []:
        if reader["account_id"] not in listed:
            document["recipients"].append(
                {
                    "account_id": reader["account_id"],
                    "email": reader["email"],
                    "display_name": reader["email"],
                    "kind": "practitioner",
                    "granted_by": None,
                    "expires_at": None,
                }
            )
    route.fulfill(response=answer, body=json.dumps(document))


def open_versions(page, title: str) -> None:
    open_screen(page, "Patients")
    page.get_by_role("link", name="Camille Petit").click()
    page.get_by_role("heading", name="Camille Petit", level=1).wait_for()
    page.get_by_role("button", name=f"Versions et lecteurs de « {title} »").click()
    page.get_by_role("heading", name="Lecteurs").wait_for()


def test_a_reader_revoked_here_stays_out_on_a_later_visit(browser, demo_server, tmp_path):
    page = new_page(browser, demo_server)
    sign_in(page, demo_server, DR_MARTIN)
    title = "Note sans Paul"
    send_note(page, tmp_path, title)
    open_versions(page, title)
    page.get_by_role("button", name="Retirer l'accès de Paul Durand").click()
    page.locator(".document-panel .alert.success", has_text="est retiré").wait_for()

    # A later visit in this browser; the server now withholds the revocation.
    page.get_by_role("button", name="Se déconnecter").click()
    page.get_by_role("button", name="Se connecter").wait_for()
    sign_in(page, demo_server, DR_MARTIN)
    page.context.route(DOCUMENT, revocation_withheld)
    open_versions(page, title)
    assert PAUL_DURAND in page.locator(".document-panel ul.readers").first.inner_text()
    upload = tmp_path / "note-2.txt"
    upload.write_text("Note, version 2\n", encoding="utf-8")
    page.get_by_label("Fichier de la nouvelle version").set_input_files(str(upload))
    page.get_by_role("button", name="Vérifier avant d'envoyer").click()
    refused = page.locator(".document-panel [role=alert]")
    refused.wait_for()
    # Refused in French, with its code (the worker's English reason is for support).
    assert "Code pour l'assistance : exchange_refused" in refused.inner_text()
    assert page.get_by_role("heading", name="Avant de modifier ce document").count() == 0


DOCUMENT_LISTING = re.compile(r".*/documents\?.*")


def older_served_as_newer(route):
    """The server's listing with its second newest document served under the id of the
    newest, the newest left out: its title, decrypted, would name another document."""
    answer = route.fetch()
    documents = answer.json()
    if len(documents) >= 2:
        newest, older = documents[0], documents[1]
        older["id"] = newest["id"]
        documents = [older, *documents[2:]]
    route.fulfill(response=answer, body=json.dumps(documents))


def test_a_title_is_shown_only_for_the_document_its_signature_names(browser, demo_server, tmp_path):
    """The history names a document by the title of the listing entry under its id: a
    listing entry whose signed manifest does not name that id (one the server filed
    under another document's id) gives it no title."""
    page = new_page(browser, demo_server)
    sign_in(page, demo_server, DR_MARTIN)
    send_note(page, tmp_path, "Bilan du genou")
    open_screen(page, "Documents")
    send_note(page, tmp_path, "Compte rendu psychiatrique")
    page.context.route(DOCUMENT_LISTING, older_served_as_newer)
    open_history(page)
    page.locator("#main .alert.success").first.wait_for()
    rows = page.locator("table.history tbody tr")
    rows.filter(has_text="a ajouté").first.wait_for()
    # The entry of the newest document is not said to be about the knee report.
    assert rows.filter(has_text="« Bilan du genou »").count() == 0
    assert not page.errors  # type: ignore[attr-defined]
