"""Issue 24, item 5, the search box, in Debian's headless Chromium against a real
``uhs-server serve --demo``: Dr Martin sends Camille Petit a text document (Python
SDK); Camille opens it in her browser, whose worker adds it to her encrypted index;
a word of its text and the first letters of her name find it, with the keyboard, a
word it does not hold finds nothing and says so. The Python SDK, unlocking the same
keys, finds it in the same index: both clients write and read it alike.
"""

from __future__ import annotations

import uuid

from tests.web.journeys import (
    DR_MARTIN,
    PATIENT,
    check_accessibility,
    new_page,
    open_screen,
    photograph,
    photograph_on_a_phone,
    search,
    sign_in,
)
from tests.web.test_journey_consents import camilles_file, sdk
from uhealthsec.client.search import personal_index

TEXT = "Lombalgie chronique sans hernie discale. Kinésithérapie deux fois par semaine.\n"


def test_a_patient_finds_a_document_by_a_word_of_its_text_and_her_name(
    browser, demo_server, screens, tmp_path
):
    martin = sdk(demo_server, DR_MARTIN)
    _, file_id = camilles_file(martin)
    note = tmp_path / "bilan-kine.txt"
    note.write_text(TEXT, encoding="utf-8")
    sent = martin.send(note, patient_file_id=file_id, to=[PATIENT], title="Bilan de kinésithérapie")

    page = new_page(browser, demo_server)
    sign_in(page, demo_server, PATIENT)
    page.get_by_role("link", name="Bilan de kinésithérapie").click()
    page.locator("#main .alert.success", has_text="Signature vérifiée").wait_for()
    # Added quietly: nothing says it could not be.
    assert page.locator("#main", has_text="n'a pas pu être ajouté").count() == 0

    open_screen(page, "Documents")
    page.get_by_role("heading", name="Documents", level=1).wait_for()
    results = page.locator(".search-results")
    # A word of the text, in another form than the text's ("lombalgies"): stemmed alike.
    search(page, "lombalgies")
    found = results.get_by_role("link")
    assert found.all_inner_texts() == ["Bilan de kinésithérapie"]
    assert "1 document(s) pour « lombalgies »" in results.inner_text()
    # The first letters of the patient's name, typed in capitals.
    search(page, "PET")
    assert found.all_inner_texts() == ["Bilan de kinésithérapie"]
    check_accessibility(page, "search results")
    photograph(page, screens, "102-search")

    search(page, "fracture")
    results.get_by_text("Aucun document ne correspond à « fracture ».").wait_for()
    assert found.count() == 0

    # One click opens a result.
    search(page, "kinésithérapie")
    found.first.click()
    page.locator("#main .alert.success", has_text="Signature vérifiée").wait_for()
    open_screen(page, "Documents")
    search(page, "discale")
    photograph_on_a_phone(page, screens, "103-search-phone")
    assert page.errors == []

    # The SDK, with Camille's keys, reads the index her browser wrote.
    camille = sdk(demo_server, PATIENT)
    index = personal_index(camille)
    assert index.search("lombalgie") == {uuid.UUID(str(sent))}
    assert index.search("cam") == {uuid.UUID(str(sent))}
    assert index.search("fracture") == set()
