"""Issue 21, item 7, in the browser: a forgotten password replaced with the 24 recovery
words (docs/PROTOCOL.md, 16.5), in Debian's headless Chromium against a real
``uhs-server serve --demo``. A patient registered with the Python client (as `uhs
register` does, so that the test holds her words) enrols her authenticator app in the
browser, forgets her password, and from the sign-in screen's link gives her address,
the mailed code with her app's code, then her words and a new password: the worker
opens the keys with the words, re-seals and signs them. A wrong mailed code and wrong
words are refused in plain French; her other device is signed out; the old password
no longer signs in and the new one does. Screens: docs/screens/9x-recovery-*.png.
"""

from __future__ import annotations

import secrets
import time

import httpx2

from tests.server_fixtures import Outbox
from tests.serving import HTTP_TIMEOUT
from tests.web.conftest import demo_server_fixture
from tests.web.journeys import (
    PHONE,
    DemoServer,
    add_authenticator_app,
    check_accessibility,
    new_page,
    photograph,
    photograph_on_a_phone,
)
from uhealthsec.client.api import AuthClient
from uhealthsec.client.recovery import to_words

EMAIL = "ines.moreau@exemple.test"
NAME = "Inès Moreau"
OLD_PASSWORD = "cheval agrafe batterie correcte lampe"
NEW_PASSWORD = "lanterne orageuse sur le quai du port"

recovery_server = demo_server_fixture("recovery")


def next_mail_code(server: DemoServer, to: str, already: int, label: str) -> str:
    """The code of the mail to ``to`` after the ``already`` it had, once delivered."""
    outbox = Outbox(server.home / "var" / "outbox")
    deadline = time.monotonic() + 10
    while len(outbox.messages(to)) <= already:
        assert time.monotonic() < deadline, f"no new mail to {to}"
        time.sleep(0.1)
    return outbox.last_code(to, label)


def mails_to(server: DemoServer, to: str) -> int:
    return len(Outbox(server.home / "var" / "outbox").messages(to))


def registered_patient(server: DemoServer) -> list[str]:
    """Inès Moreau's account, its address confirmed; her 24 words."""
    with httpx2.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as http:
        auth = AuthClient(http)
        made = auth.register(EMAIL, OLD_PASSWORD, NAME, "patient")
        auth.verify_email(next_mail_code(server, EMAIL, 0, "code"), EMAIL, OLD_PASSWORD)
    return to_words(made.recovery_key)


def signed_in_elsewhere(server: DemoServer) -> str:
    """An access token of another device of hers (the CLI on her laptop)."""
    with httpx2.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as http:
        auth = AuthClient(http)
        login = auth.start_login(EMAIL, OLD_PASSWORD, {"totp_code": server.totp(EMAIL)})
        return auth.authorize(login, "ordinateur portable").access_token


def password_then_app(page, server: DemoServer, password: str) -> None:
    page.get_by_label("Adresse e-mail").fill(EMAIL)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()


def test_a_forgotten_password_is_replaced_with_the_recovery_words(
    browser, recovery_server, screens
):
    server = recovery_server
    words = registered_patient(server)
    page = new_page(browser, server)
    password_then_app(page, server, OLD_PASSWORD)
    add_authenticator_app(page, server, EMAIL)
    page.get_by_role("button", name="Continuer vers mes documents").click()
    page.get_by_role("heading", name="Documents", level=1).wait_for()
    laptop = signed_in_elsewhere(server)
    page.get_by_role("button", name="Se déconnecter").click()

    # Her password forgotten: the sign-in screen's link, then her address.
    page.get_by_role("link", name="Mot de passe oublié ?").click()
    page.get_by_role("heading", name="Mot de passe oublié", level=1).wait_for()
    check_accessibility(page, "forgotten password")
    photograph(page, screens, "90-recovery-address")
    mailed = mails_to(server, EMAIL)
    page.get_by_label("Adresse e-mail").fill(EMAIL)
    page.get_by_role("button", name="Recevoir un code par e-mail").click()
    page.get_by_role("heading", name="Code reçu et second facteur", level=1).wait_for()
    code = next_mail_code(server, EMAIL, mailed, "recovery code")

    # A wrong mailed code is refused as such…
    app_code = page.get_by_label("Code à 6 chiffres de votre application d'authentification")
    page.get_by_label("Code reçu par e-mail").fill("wxyz-wxyz-wxyz-wxyz")
    app_code.fill(server.totp(EMAIL))
    page.get_by_role("button", name="Vérifier").click()
    page.get_by_role("alert").filter(
        has_text="Ce code reçu par e-mail est incorrect, expiré ou a déjà servi"
    ).wait_for()
    check_accessibility(page, "mailed code refused")
    photograph(page, screens, "91-recovery-code-refused")
    # …the right one, with her app's code, hands her keystore to the worker.
    page.get_by_label("Code reçu par e-mail").fill(code)
    app_code.fill(server.totp(EMAIL))
    page.get_by_role("button", name="Vérifier").click()
    page.get_by_role("heading", name="Vos 24 mots et le nouveau mot de passe", level=1).wait_for()

    # Words of another sheet open nothing, and nothing is sent.
    page.get_by_label("Les 24 mots de récupération").fill(
        " ".join(to_words(secrets.token_bytes(32)))
    )
    page.get_by_label("Nouveau mot de passe").fill(NEW_PASSWORD)
    page.get_by_label("Mot de passe, à nouveau").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Remplacer le mot de passe").click()
    page.get_by_role("alert").filter(
        has_text="Ces mots de récupération n'ouvrent pas les clés de ce compte"
    ).wait_for()
    check_accessibility(page, "recovery words refused")
    photograph(page, screens, "92-recovery-words-refused")
    assert (
        httpx2.get(
            f"{server.url}/accounts/me", headers=bearer(laptop), timeout=HTTP_TIMEOUT
        ).status_code
        == 200
    )

    # Her own words, as written on her sheet, one line each.
    page.get_by_label("Les 24 mots de récupération").fill("\n".join(words))
    page.get_by_role("button", name="Remplacer le mot de passe").click()
    page.get_by_role("heading", name="Mot de passe remplacé", level=1).wait_for()
    check_accessibility(page, "password replaced")
    photograph(page, screens, "93-recovery-done")
    # The page keeps neither the words nor the password.
    assert page.locator("textarea, input[type=password]").count() == 0
    # Every other session of hers ended, and she was told by mail.
    assert (
        httpx2.get(
            f"{server.url}/accounts/me", headers=bearer(laptop), timeout=HTTP_TIMEOUT
        ).status_code
        == 401
    )

    # The old password no longer opens the account; the new one does.
    page.get_by_role("link", name="Se connecter").click()
    password_then_app(page, server, OLD_PASSWORD)
    page.get_by_role("alert").filter(has_text="mot de passe ou code incorrect").wait_for()
    password_then_app(page, server, NEW_PASSWORD)
    page.get_by_label("Code à 6 chiffres de votre application d'authentification").fill(
        server.totp(EMAIL)
    )
    page.get_by_role("button", name="Valider").click()
    page.get_by_role("heading", name="Documents", level=1).wait_for()
    assert NAME in page.locator("header").inner_text()
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_forgotten_password_screen_on_a_phone(browser, recovery_server, screens):
    page = new_page(browser, recovery_server, PHONE)
    page.get_by_role("link", name="Mot de passe oublié ?").click()
    page.get_by_role("heading", name="Mot de passe oublié", level=1).wait_for()
    check_accessibility(page, "forgotten password on a phone")
    photograph_on_a_phone(page, screens, "94-recovery-phone")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
