"""The web application as its people use it, in Debian's headless Chromium against a
real ``uhs-server serve --demo``: Dr Martin signs in with her password and a TOTP code,
sends Paul Durand a document about their patient, and Paul opens it, its signature
checked on his device; a document altered on the server is refused, with nothing
shown. Each screen is checked with axe-core (WCAG 2.2 AA) and photographed; with
``UHS_UPDATE_SCREENS=1`` the photographs replace those of docs/screens/.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest

from tests.server_fixtures import oathtool
from tests.serving import UHS_SERVER
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
    """A one-page PDF saying ``text`` (ASCII) in Helvetica above a blue band, its
    cross-reference table computed here, so the test needs no PDF library."""
    stream = f"0.1 0.3 0.6 rg 72 600 468 40 re f BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    table = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        table,
    )
    return bytes(out)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DemoServer:
    def __init__(self, url: str, home: Path, secrets: dict[str, str]) -> None:
        self.url = url
        self.home = home
        self.secrets = secrets
        self._steps_used: dict[str, set[int]] = {}

    def totp(self, email: str) -> str:
        """A code of a time step this account has not used yet: the server refuses a
        code used twice, and these tests sign the same person in more than once."""
        used = self._steps_used.setdefault(email, set())
        now = datetime.now(UTC)
        for offset in (0, 1, -1):
            at = now + timedelta(seconds=30 * offset)
            step = int(at.timestamp()) // 30
            if step not in used:
                used.add(step)
                return oathtool(self.secrets[email], at)
        raise AssertionError(f"no unused TOTP step left for {email}")


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """``npm run build``, then ``uhs-server serve --init --demo`` on a fresh directory."""
    npm = shutil.which("npm")
    assert npm, "Node.js 20 and npm are needed to build the web application"
    subprocess.run(
        [npm, "run", "--silent", "build", "--prefix", "web"], cwd=ROOT, check=True, timeout=300
    )
    home = tmp_path_factory.mktemp("journeys")
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("UHS_")}
    environment.update(PYTHONPATH=str(ROOT / "src"), COLUMNS="200")
    output = home / "serve.log"
    with output.open("w") as log:
        process = subprocess.Popen(
            [*UHS_SERVER, "serve", "--init", "--demo", "--port", str(port)],
            cwd=home,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx2.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, "uhs-server serve did not answer"
            time.sleep(0.2)
        printed = output.read_text()
        secrets = dict(re.findall(r"(\S+@demo\.test)\b.*?\b([A-Z2-7]{32})\b", printed))
        assert set(secrets) == {DR_MARTIN, PAUL_DURAND, PATIENT}, printed
        yield DemoServer(url, home, secrets)
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def screens(tmp_path: Path) -> Path:
    """Where this test's photographs go: docs/screens/ when asked to update them."""
    if os.environ.get("UHS_UPDATE_SCREENS") == "1":
        SCREENS.mkdir(parents=True, exist_ok=True)
        return SCREENS
    return tmp_path


def new_page(browser, server: DemoServer, viewport=DESKTOP):
    context = browser.new_context(viewport=viewport, locale="fr-FR")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    page.goto(f"{server.url}/app/")
    page.wait_for_selector("body[data-ready='true']")
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


def sign_in(page, server: DemoServer, email: str, screens: Path | None = None) -> None:
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
    page.get_by_role("heading", name="Documents", level=1).wait_for()


def test_a_practitioner_sends_a_document_and_a_colleague_opens_it_verified(
    browser, demo_server, screens, tmp_path
):
    page = new_page(browser, demo_server)
    sign_in(page, demo_server, DR_MARTIN, screens)
    page.get_by_text("Aucun document pour l'instant.").wait_for()
    check_accessibility(page, "empty inbox")

    page.get_by_role("link", name="Envoyer", exact=True).click()
    page.get_by_role("heading", name="Envoyer un document").wait_for()
    patients = page.get_by_label("Choisissez la patiente ou le patient")
    patients.select_option(
        patients.locator("option", has_text="Camille Petit").get_attribute("value")
    )
    page.get_by_label(re.compile("Paul Durand")).check()
    image = tmp_path / "radio-genou.png"
    image.write_bytes(png(*PNG_SIZE))
    page.locator("input[type=file]").set_input_files(str(image))
    page.get_by_label(re.compile("^Titre")).fill("Radiographie du genou")
    check_accessibility(page, "send form")
    photograph(page, screens, "03-send")
    page.get_by_role("button", name="Vérifier les destinataires").click()

    readers = page.get_by_role("heading", name="Pourront lire ce document")
    readers.wait_for()
    listed = page.locator("ul.readers").inner_text()
    assert "Paul Durand" in listed and DR_MARTIN in listed
    assert PATIENT not in listed
    check_accessibility(page, "who can read")
    photograph(page, screens, "04-send-review")
    page.get_by_role("button", name="Chiffrer et envoyer").click()
    page.locator(".alert.success", has_text="Envoyé : Radiographie du genou.").wait_for()
    assert page.locator("progress").get_attribute("value") == "100"
    photograph(page, screens, "05-sent")
    assert page.errors == []  # type: ignore[attr-defined]

    colleague = new_page(browser, demo_server, viewport=PHONE)
    sign_in(colleague, demo_server, PAUL_DURAND)
    row = colleague.get_by_role("row", name=re.compile("Radiographie du genou"))
    assert "Camille Petit" in row.inner_text() and "Dr Claire Martin" in row.inner_text()
    check_accessibility(colleague, "inbox")
    photograph(colleague, screens, "06-inbox-phone")
    colleague.get_by_role("link", name="Radiographie du genou").click()
    verified = "Signature vérifiée : ce document a été signé par"
    colleague.locator(".alert.success", has_text=verified).wait_for()
    assert DR_MARTIN in colleague.locator(".alert.success").inner_text()
    shown = colleague.locator("img.preview")
    assert shown.evaluate("(img) => img.naturalWidth") == PNG_SIZE[0]
    check_accessibility(colleague, "document")
    photograph(colleague, screens, "07-document-phone")
    with colleague.expect_download() as saving:
        colleague.get_by_role("link", name="Enregistrer le fichier").click()
    saved = tmp_path / "saved.png"
    saving.value.save_as(saved)
    assert saved.read_bytes() == png(*PNG_SIZE)
    assert colleague.errors == []  # type: ignore[attr-defined]

    # The server (or whoever holds its disk) alters the stored document: Paul's device
    # refuses it and shows nothing of it.
    (blob,) = (path for path in (demo_server.home / "var" / "blobs").rglob("*") if path.is_file())
    altered = bytearray(blob.read_bytes())
    altered[len(altered) // 2] ^= 0x01
    blob.write_bytes(bytes(altered))
    colleague.get_by_role("link", name="Retour aux documents").click()
    colleague.get_by_role("link", name="Radiographie du genou").click()
    refusal = colleague.get_by_role("alert")
    refusal.wait_for()
    assert "Ce document a été refusé" in refusal.inner_text()
    assert "Ne l'utilisez pas" in refusal.inner_text()
    assert colleague.locator("img.preview, pre.preview").count() == 0
    assert colleague.get_by_role("link", name="Enregistrer le fichier").count() == 0
    check_accessibility(colleague, "refused document")
    photograph(colleague, screens, "08-document-refused-phone")


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


def test_sending_and_opening_work_with_the_keyboard_alone(browser, demo_server, tmp_path):
    page = new_page(browser, demo_server)
    # The address field has the focus when the page opens.
    page.keyboard.type(PAUL_DURAND)
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Vérification en deux étapes").wait_for()
    page.keyboard.type(demo_server.totp(PAUL_DURAND))
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Documents", level=1).wait_for()

    tab_to(page, "nav >> text=Envoyer")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Envoyer un document").wait_for()
    tab_to(page, "select[name=patient]")
    page.keyboard.type("Camille")
    tab_to(page, "input[name=to][value='dr.martin@demo.test']")
    page.keyboard.press("Space")
    tab_to(page, "input[type=file]")
    note = tmp_path / "compte-rendu.txt"
    note.write_text("Séance 3 : amplitude du genou 110°.\n", encoding="utf-8")
    with page.expect_file_chooser() as choosing:
        page.keyboard.press("Space")
    choosing.value.set_files(str(note))
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Pourront lire ce document").wait_for()
    tab_to(page, "text=Chiffrer et envoyer")
    page.keyboard.press("Enter")
    page.locator(".alert.success", has_text="Envoyé : compte-rendu.txt.").wait_for()
    tab_to(page, "text=Voir le document")
    page.keyboard.press("Enter")
    page.locator(".alert.success", has_text="Signature vérifiée").wait_for()
    assert "amplitude du genou 110°" in page.locator("pre.preview").inner_text()
    assert page.errors == []  # type: ignore[attr-defined]


def test_several_files_go_at_once_and_a_pdf_is_drawn_without_a_plugin(
    browser, demo_server, screens, tmp_path
):
    page = new_page(browser, demo_server)
    sign_in(page, demo_server, DR_MARTIN)
    page.get_by_role("link", name="Envoyer", exact=True).click()
    patients = page.get_by_label("Choisissez la patiente ou le patient")
    patients.select_option(
        patients.locator("option", has_text="Camille Petit").get_attribute("value")
    )
    page.get_by_label(re.compile("Paul Durand")).check()
    prescription = tmp_path / "ordonnance.pdf"
    prescription.write_bytes(pdf("Ordonnance: 10 seances de reeducation"))
    letter = tmp_path / "courrier.txt"
    letter.write_text("Cher confrère, voici l'ordonnance de Mme Petit.\n", encoding="utf-8")
    page.locator("input[type=file]").set_input_files([str(prescription), str(letter)])
    page.get_by_role("button", name="Vérifier les destinataires").click()
    page.get_by_role("button", name="Chiffrer et envoyer").click()
    page.locator(".alert.success", has_text="Envoyé : courrier.txt.").wait_for()
    assert page.locator(".alert.success", has_text="Envoyé : ordonnance.pdf.").count() == 1
    assert page.locator("progress").evaluate_all("(bars) => bars.map((b) => b.value)") == [100, 100]

    page.locator(".alert.success", has_text="ordonnance.pdf").get_by_role("link").click()
    drawn = page.get_by_role("img", name="Page 1 sur 1")
    drawn.wait_for()
    # The blue band of the PDF is on the canvas: pdf.js drew the page itself.
    blue = drawn.evaluate(
        """(canvas) => {
          const { width, height } = canvas;
          const pixels = canvas.getContext("2d").getImageData(0, 0, width, height).data;
          let blue = 0;
          for (let i = 0; i < pixels.length; i += 4) {
            if (pixels[i + 2] > 120 && pixels[i] < 60 && pixels[i + 1] < 110) blue += 1;
          }
          return blue / (width * height);
        }"""
    )
    assert 0.02 < blue < 0.2
    check_accessibility(page, "pdf document")
    photograph(page, screens, "09-document-pdf")
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_application_speaks_english_when_asked(browser, demo_server):
    page = new_page(browser, demo_server)
    page.get_by_role("button", name="Switch to English").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert page.evaluate("document.documentElement.lang") == "en"
    page.reload()
    page.get_by_role("heading", name="Sign in").wait_for()
    page.get_by_role("button", name="Passer en français").click()
    page.get_by_role("heading", name="Connexion").wait_for()
    assert page.evaluate("document.documentElement.lang") == "fr"
