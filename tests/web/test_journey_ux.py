"""The application's frame in Debian's headless Chromium against a real ``uhs-server
serve --demo``: on a phone (390 px) the navigation folds behind a menu button that the
keyboard opens and Escape closes; on a desktop every link shows on one line, with no
menu button. A document's screen asks the server for that document alone, a patient
file's for that file's documents alone.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from tests.web.journeys import (
    DESKTOP,
    DR_MARTIN,
    PHONE,
    check_accessibility,
    new_page,
    photograph,
    sign_in,
)
from tests.web.test_journey_patients import send_note

LINKS = ["Documents", "Patients", "Envoyer", "Vérifier un correspondant", "Sécurité"]


def nav_links(page):
    navigation = page.get_by_role("navigation")
    return [navigation.get_by_role("link", name=name, exact=True) for name in LINKS]


def test_on_a_phone_the_navigation_folds_behind_a_menu_the_keyboard_works(
    browser, demo_server, screens
):
    page = new_page(browser, demo_server, PHONE)
    sign_in(page, demo_server, DR_MARTIN)
    menu = page.get_by_role("button", name="Menu")
    # Folded: the brand and the button only, on one line of the header.
    assert menu.is_visible() and menu.get_attribute("aria-expanded") == "false"
    assert not any(link.is_visible() for link in nav_links(page))
    assert not page.get_by_role("button", name="Se déconnecter").is_visible()
    header = page.locator("header.top").bounding_box()
    assert header is not None and header["height"] < 80
    check_accessibility(page, "menu folded")

    # Opened from the keyboard: every link shows, each on its own line, within the screen.
    menu.focus()
    page.keyboard.press("Enter")
    assert menu.get_attribute("aria-expanded") == "true"
    boxes = [link.bounding_box() for link in nav_links(page)]
    assert all(
        box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        for box in boxes
    )
    tops = [box["y"] for box in boxes if box is not None]
    assert tops == sorted(tops) and len(set(tops)) == len(LINKS)
    assert page.get_by_role("button", name="Se déconnecter").is_visible()
    check_accessibility(page, "menu open")
    photograph(page, screens, "59-menu-phone")

    # Escape folds it and gives the button the focus back.
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    assert menu.get_attribute("aria-expanded") == "false"
    assert menu.evaluate("(button) => button === document.activeElement")
    assert not any(link.is_visible() for link in nav_links(page))

    # A link followed with the keyboard opens its screen, the menu folded again.
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # Documents
    page.keyboard.press("Tab")  # Patients
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Patients", level=1).wait_for()
    menu = page.get_by_role("button", name="Menu")
    assert menu.get_attribute("aria-expanded") == "false"
    assert not any(link.is_visible() for link in nav_links(page))
    assert not page.errors  # type: ignore[attr-defined]


def test_on_a_desktop_the_navigation_shows_on_one_line_without_a_menu(browser, demo_server):
    page = new_page(browser, demo_server, DESKTOP)
    sign_in(page, demo_server, DR_MARTIN)
    assert not page.get_by_role("button", name="Menu").is_visible()
    boxes = [link.bounding_box() for link in nav_links(page)]
    assert all(box is not None for box in boxes)
    assert len({round(box["y"]) for box in boxes if box is not None}) == 1
    assert page.get_by_role("button", name="Se déconnecter").is_visible()


def test_a_document_and_a_patient_file_ask_the_server_for_themselves_only(
    browser, demo_server, tmp_path
):
    page = new_page(browser, demo_server)
    sign_in(page, demo_server, DR_MARTIN)
    send_note(page, tmp_path, "Bilan de la semaine")
    asked: list[str] = []
    # The worker's requests too: it is the one talking to the server.
    page.context.on("request", lambda request: asked.append(request.url))

    page.locator(".alert.success", has_text="Bilan de la semaine").get_by_role("link").click()
    page.get_by_role("heading", name="Bilan de la semaine", level=1).wait_for()
    page.locator(".alert.success", has_text="Signature vérifiée").wait_for()
    paths = [urlsplit(url) for url in asked]
    assert any(re.fullmatch(r"/documents/[0-9a-f-]{36}", p.path) for p in paths), asked
    assert not [p for p in paths if p.path in ("/documents", "/patient-files")], asked

    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="Camille Petit").click()
    page.get_by_role("heading", name="Camille Petit", level=1).wait_for()
    page.get_by_role("heading", name="Bilan de la semaine").wait_for()
    listings = [parse_qs(p.query) for p in map(urlsplit, asked) if p.path == "/documents"]
    assert listings, asked
    assert all("patient_file_id" in query for query in listings), listings
    assert not page.errors  # type: ignore[attr-defined]
