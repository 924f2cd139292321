"""R7 in the browser: a password blocked after 100 wrong ones in a row, said plainly at
sign-in, and the link mailed at the block followed in the web application, in
Debian's headless Chromium against a real ``uhs-server serve --demo``. The 98 wrong
passwords before are counted by the server's own service (each real one costs an
Argon2id and, past 5, a proof of work); the 99th and 100th are typed in the browser.
Screens: docs/screens/17-19-unblock-*.png.
"""

from __future__ import annotations

import re
import time

from tests.server_fixtures import Outbox
from tests.web.conftest import demo_server_fixture
from tests.web.journeys import (
    DESKTOP,
    PATIENT,
    check_accessibility,
    new_page,
    photograph,
    photograph_on_a_phone,
    sign_in,
)
from uhealthsec.server.app import build_context
from uhealthsec.server.demo import DEMO_PASSWORD
from uhealthsec.server.settings import Settings
from uhealthsec.server.shield.service import PASSWORD_BLOCKED_AFTER, Attempt, Shield

unblock_server = demo_server_fixture("unblock")
WRONG = "pas le bon mot de passe du tout"


def wrong_passwords(server, count: int) -> None:
    # The server's own settings: its address names its clients' redirections.
    settings = Settings(data_dir=server.home / "var", issuer=server.url)
    ctx = build_context(settings, migrate_schema=False)
    try:
        with ctx.sessions.begin() as db:
            shield = Shield(db, ctx)
            admission = shield.admit(Attempt("login", PATIENT, None, {"user-agent": "uhs"}))
            for _ in range(count):
                shield.charge_password(admission)
    finally:
        ctx.close()


def mailed_link(server) -> str:
    outbox = Outbox(server.home / "var" / "outbox")
    deadline = time.monotonic() + 10
    while True:
        for message in outbox.messages(PATIENT):
            found = re.search(r"\S+#/unblock\?token=\S+", message.get_payload(decode=True).decode())
            if found:
                return found.group(0)
        assert time.monotonic() < deadline, "no unblocking mail"
        time.sleep(0.1)


def password(page, typed: str) -> None:
    page.get_by_label("Adresse e-mail").fill(PATIENT)
    page.get_by_label("Mot de passe").fill(typed)
    page.get_by_role("button", name="Se connecter").click()


def test_a_blocked_password_is_said_and_the_mailed_link_unblocks_it(
    browser, unblock_server, screens
):
    server = unblock_server
    wrong_passwords(server, PASSWORD_BLOCKED_AFTER - 2)
    page = new_page(browser, server)
    for _ in range(2):  # the 99th and the 100th: checked, refused as wrong
        password(page, WRONG)
        page.get_by_role("alert").wait_for()
        assert "bloqué" not in page.get_by_role("alert").inner_text()
    # The 101st, with the right password: blocked, said with what to do.
    password(page, DEMO_PASSWORD)
    page.get_by_role("alert").filter(has_text="ce mot de passe est bloqué").wait_for()
    check_accessibility(page, "password blocked")
    photograph(page, screens, "17-unblock-password-blocked")

    link = mailed_link(server)
    assert link.startswith(f"{server.url}/app/#/unblock?token=")
    token = link.partition("token=")[2]
    mailed = new_page(browser, server, url=link)
    mailed.get_by_role("heading", name="Débloquer votre accès", level=1).wait_for()
    assert token not in mailed.url  # taken out of the address bar and the history
    check_accessibility(mailed, "unblocking link")
    photograph(mailed, screens, "18-unblock-link")
    # Camille reads her mail on her phone: the page fits it.
    photograph_on_a_phone(mailed, screens, "18-unblock-link-phone")
    mailed.set_viewport_size(DESKTOP)
    mailed.get_by_role("button", name="Débloquer").click()
    mailed.get_by_role("status").filter(has_text="Votre mot de passe est débloqué").wait_for()
    check_accessibility(mailed, "unblocked")
    photograph(mailed, screens, "19-unblock-done")
    mailed.get_by_role("link", name="Aller à la connexion").click()
    sign_in(mailed, server, PATIENT)

    # The link works once.
    again = new_page(browser, server, url=link)
    again.get_by_role("button", name="Débloquer").click()
    again.get_by_role("alert").filter(has_text="a déjà servi ou a expiré").wait_for()
    check_accessibility(again, "unblocking link used")
    for opened in (page, mailed, again):
        assert opened.errors == []
