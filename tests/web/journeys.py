"""What the browser journeys share (tests/web/test_journey*.py): a real
``uhs-server serve --demo`` (its fixture is in conftest.py, one per test module), pages
in Debian's headless Chromium, TOTP codes from oathtool, axe-core checks and
photographs of each screen, and small files made on the spot (PNG, PDF).
"""

from __future__ import annotations

import re
import struct
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx2

from tests.server_fixtures import oathtool
from tests.serving import HTTP_TIMEOUT
from uhealthsec.client.api import AuthClient
from uhealthsec.client.exchange import ExchangeClient
from uhealthsec.crypto.keys import UserKeys
from uhealthsec.crypto.keystore import unlock_with_password
from uhealthsec.server.compliance.report import pdf_file
from uhealthsec.server.demo import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
SCREENS = ROOT / "docs" / "screens"
DR_MARTIN = "dr.martin@demo.test"
PAUL_DURAND = "kine.durand@demo.test"
PATIENT = "camille.petit@demo.test"
PHONE = {"width": 390, "height": 844}
PNG_SIZE = (64, 48)
DESKTOP = {"width": 1280, "height": 860}


def png(width: int, height: int) -> bytes:
    """A small PNG of a colour gradient, made here so the test needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 128)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def pdf(text: str) -> bytes:
    """A one-page PDF saying ``text`` (ASCII) in Helvetica above a blue band."""
    stream = f"0.1 0.3 0.6 rg 72 600 468 40 re f BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return pdf_file(objects)


class DemoServer:
    def __init__(self, url: str, home: Path, secrets: dict[str, str]) -> None:
        self.url = url
        self.home = home
        self.secrets = secrets
        self._last_step: dict[str, int] = {}

    def totp(self, email: str) -> str:
        """A code of a later time step than this account's last: the server accepts a
        step one either side of its own, only ever later than the last one used
        (server/auth/totp.py), and these tests sign the same person in more than once."""
        last = self._last_step.get(email, -1)
        while True:
            now = int(datetime.now(UTC).timestamp()) // 30
            # Not the step before: a slow sign-in could reach the server after it expired.
            later = [step for step in (now, now + 1) if step > last]
            if later:
                break
            time.sleep(1)  # two sign-ins in one step already: wait for the next
        self._last_step[email] = later[0]
        return oathtool(self.secrets[email], datetime.fromtimestamp(later[0] * 30 + 1, UTC))


def new_page(browser, server: DemoServer, viewport=DESKTOP, url: str | None = None):
    """A page of its own browser context (a device of its own) opened at the web
    application, or at ``url`` (a link followed from a mail)."""
    context = browser.new_context(viewport=viewport, locale="fr-FR")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    page.goto(url or f"{server.url}/app/")
    # The screens take input once the page has checked its files against the web
    # release log (or found itself offline).
    page.wait_for_selector("body[data-ready='true'][data-release]")
    page.errors = errors  # type: ignore[attr-defined]
    return page


def check_accessibility(page, screen: str) -> None:
    """axe-core's WCAG 2.0-2.2 A and AA rules on the page as it stands: no violation."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async (WCAG) => {
          const found = await axe.run(document, {
            runOnly: { type: "tag", values: WCAG },
          });
          return found.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(" ")}`);
        }""",
        ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"],
    )
    assert result == [], f"{screen}: {result}"


def photograph(page, screens: Path, name: str) -> None:
    page.screenshot(path=str(screens / f"{name}.png"), full_page=True)


def photograph_on_a_phone(page, screens: Path, name: str) -> None:
    """The page at a phone's size: nothing wider than its screen, and photographed."""
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    photograph(page, screens, name)


def add_authenticator_app(page, server: DemoServer, email: str) -> None:
    """On the screen asking for an authenticator application: its key kept for
    ``server.totp``, as the phone would keep it, and a code of it entered, up to the
    backup codes."""
    page.get_by_role("heading", name="Ajoutez votre application d'authentification").wait_for()
    server.secrets[email] = page.locator(".totp-key").inner_text().replace(" ", "")
    page.get_by_label("Code à 6 chiffres affiché par l'application").fill(server.totp(email))
    page.get_by_role("button", name="Valider").click()
    page.get_by_role("heading", name="Vos codes de secours").wait_for()


def sign_in(
    page, server: DemoServer, email: str, screens: Path | None = None, lands_on: str = "Documents"
) -> None:
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    if screens:
        check_accessibility(page, "sign-in")
        photograph(page, screens, "01-sign-in")
    page.get_by_role("button", name="Se connecter").click()
    code = page.get_by_label("Code à 6 chiffres de votre application d'authentification")
    code.wait_for()
    if screens:
        check_accessibility(page, "second factor")
        photograph(page, screens, "02-second-factor")
    code.fill(server.totp(email))
    page.get_by_role("button", name="Valider").click()
    page.get_by_role("heading", name=lands_on, level=1).wait_for()


def search(page, query: str) -> None:
    """Searches the Documents screen's box for ``query`` and waits for its answer."""
    box = page.get_by_label("Rechercher dans vos documents")
    box.fill(query)
    box.press("Enter")
    said = page.locator(".search-results").locator("h2, p.empty")
    said.filter(has_text=f"« {query} »").wait_for()


def open_screen(page, name: str) -> None:
    """Follows the navigation's link ``name``, through the menu button on a phone."""
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible() and menu.get_attribute("aria-expanded") != "true":
        menu.click()
    page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()


def tab_to(page, selector: str, limit: int = 60) -> None:
    """Press Tab until the focus is on the element ``selector`` names, as a person
    using only the keyboard moves through the page."""
    target = page.locator(selector).first
    target.wait_for()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("(element) => element === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {selector}")


def for_camille_to_paul(page, to_patient: bool = False) -> None:
    """On the send screen: the patient Camille Petit, the colleague Paul Durand ticked;
    Camille a reader too only with ``to_patient`` (ticked by default, R28: the journeys
    that share with her later untick her)."""
    patients = page.get_by_label("Choisissez la patiente ou le patient")
    patients.select_option(
        patients.locator("option", has_text="Camille Petit").get_attribute("value")
    )
    page.get_by_label(re.compile("Paul Durand")).check()
    patient = page.get_by_label("La patiente ou le patient pourra le lire")
    assert patient.is_checked()
    if not to_patient:
        patient.uncheck()


@contextmanager
def laptop_of(server: DemoServer, email: str) -> Iterator[tuple[ExchangeClient, str, UserKeys]]:
    """``email``'s laptop beside the browser: the SDK signed in with the demo password and
    a TOTP code; its client, access token and unlocked keys."""
    with httpx2.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as http:
        auth = AuthClient(http)
        login = auth.start_login(email, DEMO_PASSWORD, {"totp_code": server.totp(email)})
        tokens = auth.authorize(login, "ordinateur portable")
        keys = unlock_with_password(auth.keystore(tokens), DEMO_PASSWORD)
        yield ExchangeClient(http, lambda: tokens.access_token, keys), tokens.access_token, keys


def send_to_patient(sender: ExchangeClient, to: str, text: str) -> tuple[str, str]:
    """A text file ``sender`` sends to ``to`` in Camille Petit's file of the demo practice;
    the document's id and the practice's."""
    [practice] = sender.call("GET", "/practices").json()
    patient_file = sender.patient_file(practice["id"], PATIENT)["id"]
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "bilan.txt"
        report.write_text(text)
        return str(sender.send(report, patient_file_id=patient_file, to=[to])), practice["id"]
