"""Journey 7, trust, in Debian's headless Chromium against a real ``uhs-server serve
--demo``: Dr Martin and Paul Durand, each on their own device, see the same safety
number for their pair, and a QR code that a phone reads back as that number; a
person lists the devices signed in to their account and signs one out, then this one;
the key directory's and the journal's checks pass at sign-in, and a journal the
server serves altered stops the application with an alert that stays.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess

from tests.web.journeys import (
    DR_MARTIN,
    PATIENT,
    PAUL_DURAND,
    PHONE,
    ROOT,
    check_accessibility,
    new_page,
    open_screen,
    photograph,
    sign_in,
)

#: Reads a QR code as a phone's camera would: the SVG's modules drawn into pixels,
#: then the qr library's decoder (a reader independent of how the code was drawn).
DECODE_QR = """
import decodeQR from "qr/decode.js";
const { d, side } = JSON.parse(process.argv[1]);
const scale = 8;
const width = side * scale;
const data = new Uint8Array(width * width * 4).fill(255);
for (const [, x, y] of d.matchAll(/M(\\d+) (\\d+)h1v1h-1z/g)) {
  for (let dy = 0; dy < scale; dy++) {
    for (let dx = 0; dx < scale; dx++) {
      const at = ((Number(y) * scale + dy) * width + Number(x) * scale + dx) * 4;
      data[at] = data[at + 1] = data[at + 2] = 0;
    }
  }
}
process.stdout.write(decodeQR({ width, height: width, data }));
"""


def read_qr(page) -> str:
    """The text of the QR code on the page."""
    svg = page.locator("figure.safety-qr svg")
    side = int(svg.get_attribute("viewBox").split()[2])
    d = svg.locator("path").get_attribute("d")
    done = subprocess.run(
        ["node", "--input-type=module", "-e", DECODE_QR, json.dumps({"d": d, "side": side})],
        cwd=ROOT / "web",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def show_safety_number(page, email: str) -> str:
    open_screen(page, "Vérifier un correspondant")
    page.get_by_role("heading", name="Vérifier un correspondant", level=1).wait_for()
    page.get_by_label("Correspondant", exact=True).fill(email)
    page.get_by_role("button", name="Afficher notre numéro de sécurité").click()
    number = page.locator("p.safety-number")
    number.wait_for()
    return number.inner_text()


def test_two_colleagues_see_the_same_safety_number_and_its_qr_code(browser, demo_server, screens):
    martin = new_page(browser, demo_server)
    durand = new_page(browser, demo_server, PHONE)
    sign_in(martin, demo_server, DR_MARTIN)
    sign_in(durand, demo_server, PAUL_DURAND)
    # The background checks ran at sign-in and passed against an honest server.
    for page in (martin, durand):
        page.wait_for_selector("body[data-trust='verified']")

    seen_by_martin = show_safety_number(martin, PAUL_DURAND)
    seen_by_durand = show_safety_number(durand, DR_MARTIN)
    digits = re.sub(r"\s+", "", seen_by_martin)
    assert re.fullmatch(r"\d{60}", digits), seen_by_martin
    assert re.sub(r"\s+", "", seen_by_durand) == digits
    assert read_qr(martin) == digits
    assert read_qr(durand) == digits
    check_accessibility(martin, "safety number")
    check_accessibility(durand, "safety number on a phone")
    photograph(martin, screens, "40-trust-safety-number")
    photograph(durand, screens, "41-trust-safety-number-phone")

    # Someone else's number is another one.
    assert re.sub(r"\s+", "", show_safety_number(martin, PATIENT)) != digits
    assert not martin.errors and not durand.errors  # type: ignore[attr-defined]


def test_a_person_signs_out_another_device_then_this_one(browser, demo_server, screens):
    laptop = new_page(browser, demo_server)
    phone = new_page(browser, demo_server, PHONE)
    sign_in(laptop, demo_server, PATIENT)
    sign_in(phone, demo_server, PATIENT)

    laptop.get_by_role("link", name="Sécurité").click()
    laptop.get_by_role("heading", name="Sécurité", level=1).wait_for()
    devices = laptop.locator("ul.devices > li")
    assert devices.count() >= 2
    assert devices.filter(has_text="(cet appareil)").count() == 1
    laptop.wait_for_selector("#trust-state:not(:text('Pas encore vérifié.'))")
    check_accessibility(laptop, "security")
    photograph(laptop, screens, "42-security")

    # Sign the phone out from the laptop (the newest device other than this one).
    others = devices.filter(has_not_text="(cet appareil)")
    before = devices.count()
    others.last.get_by_role("button", name=re.compile("^Déconnecter l'appareil")).click()
    laptop.locator("#main .alert.success", has_text="est déconnecté").wait_for()
    assert devices.count() == before - 1

    # The phone's tokens no longer work: what it asks next is refused.
    open_screen(phone, "Sécurité")
    phone.get_by_role("heading", name="Sécurité", level=1).wait_for()
    # (each part of the screen says so: passkeys, e-CPS, devices)
    phone.locator("#main [role=alert]").first.wait_for()
    assert phone.locator("ul.devices").count() == 0

    # Signing out this device ends the session here.
    laptop.get_by_role("button", name="Déconnecter cet appareil").click()
    laptop.get_by_role("button", name="Se connecter").wait_for()
    assert not laptop.errors  # type: ignore[attr-defined]


def altered_leaves(route):
    """The server's answer with the leaf hash of the journal's first entry changed."""
    answer = route.fetch()
    body = answer.json()
    packed = body["hashes"]
    hashes = bytearray(base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)))
    hashes[0] ^= 1
    body["hashes"] = base64.urlsafe_b64encode(bytes(hashes)).rstrip(b"=").decode()
    route.fulfill(response=answer, body=json.dumps(body))


def altered_directory_head(route):
    """The server's answer with the key directory's checkpoint counting one more entry
    than the log signed."""
    answer = route.fetch()
    body = answer.json()
    origin, size, rest = body["checkpoint"].split("\n", 2)
    body["checkpoint"] = "\n".join([origin, str(int(size) + 1), rest])
    route.fulfill(response=answer, body=json.dumps(body))


def check_now_is_refused(page) -> str:
    """Runs the checks from the security screen: the application must stop, with the
    alert's text returned."""
    page.get_by_role("link", name="Sécurité").click()
    page.get_by_role("button", name="Vérifier maintenant").click()
    return blocked(page)


def blocked(page) -> str:
    alert = page.locator("#trust-alert")
    alert.wait_for()
    page.wait_for_selector("body[data-trust='refused']")
    # The application takes no more input.
    assert page.evaluate("document.getElementById('app').inert")
    return alert.inner_text()


def test_a_journal_served_altered_stops_the_application(browser, demo_server, screens):
    page = new_page(browser, demo_server)
    sign_in(page, demo_server, DR_MARTIN)
    page.wait_for_selector("body[data-trust='verified']")

    # Between two checks, the server changes an entry this device already verified.
    page.context.route(re.compile(r".*/journal/leaves\?.*"), altered_leaves)
    said = check_now_is_refused(page)
    assert "Le journal du serveur contredit ce que cet appareil a déjà vérifié." in said
    assert "Code pour l'assistance : log_refused" in said
    check_accessibility(page, "journal refused")
    photograph(page, screens, "43-trust-refused")

    # A device that never saw the journal: the entries do not make the signed roots,
    # and the check made at sign-in stops the application.
    fresh = new_page(browser, demo_server, PHONE)
    fresh.context.route(re.compile(r".*/journal/leaves\?.*"), altered_leaves)
    sign_in(fresh, demo_server, PATIENT)
    assert "Code pour l'assistance : log_refused" in blocked(fresh)


def test_a_key_directory_head_served_altered_stops_the_application(browser, demo_server):
    page = new_page(browser, demo_server)
    sign_in(page, demo_server, PAUL_DURAND)
    page.wait_for_selector("body[data-trust='verified']")
    page.context.route(re.compile(r".*/keys/head(\?.*)?$"), altered_directory_head)
    said = check_now_is_refused(page)
    # The head no longer carries the log's signature.
    assert "Une signature ne correspond pas" in said
    assert "Code pour l'assistance : invalid_signature" in said
