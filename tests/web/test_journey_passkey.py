"""Journey 1 of issue 20, its passkeys, in Debian's headless Chromium against a real
``uhs-server serve --demo`` reached as http://localhost:PORT (a passkey is bound to a
name, not an address): Dr Martin adds a passkey from the security screen (the worker
signs the addition with her account key), signs out, and signs in with her password
and the passkey. Chromium's virtual authenticator (over CDP) stands in for the phone
or security key. A passkey of another account, and the application opened at an
address the passkeys are not for, are refused in plain French.
Screens: docs/screens/1x-passkey-*.png.
"""

from __future__ import annotations

import httpx2

from tests.serving import HTTP_TIMEOUT
from tests.web.conftest import demo_server_fixture
from tests.web.journeys import (
    DR_MARTIN,
    PATIENT,
    PAUL_DURAND,
    PHONE,
    DemoServer,
    check_accessibility,
    new_page,
    open_screen,
    photograph,
    sign_in,
)
from uhealthsec.server.demo import DEMO_PASSWORD

localhost_server = demo_server_fixture("passkeys", host_name="localhost")


def with_authenticator(page) -> dict:
    """A platform authenticator with user verification, as a phone's or a laptop's:
    Chromium's virtual one, on this page only. Answers the CDP session (to read its
    credentials back)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    found = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return {"cdp": cdp, "id": found["authenticatorId"]}


def credentials(authenticator: dict) -> list[dict]:
    return authenticator["cdp"].send(
        "WebAuthn.getCredentials", {"authenticatorId": authenticator["id"]}
    )["credentials"]


def add_passkey(page, name: str, screens=None) -> None:
    open_screen(page, "Sécurité")
    page.get_by_role("heading", name="Clés d'accès", level=2).wait_for()
    page.get_by_text("Aucune clé d'accès pour l'instant.").wait_for()
    page.get_by_label("Nom de la nouvelle clé d'accès").fill(name)
    page.get_by_role("button", name="Ajouter une clé d'accès").click()
    page.locator("p.alert.success", has_text="Clé d'accès ajoutée").wait_for()
    page.locator("li[data-passkey]").filter(has_text=name).wait_for()
    if screens:
        check_accessibility(page, "passkeys")
        photograph(page, screens, "10-passkey-added")


def sign_out(page) -> None:
    page.get_by_role("button", name="Se déconnecter").click()
    page.get_by_role("heading", name="Connexion", level=1).wait_for()


def password_then_passkey_offered(page, email: str) -> None:
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_role("button", name="Utiliser une clé d'accès").wait_for()


def test_a_practitioner_adds_a_passkey_and_signs_in_with_it(browser, localhost_server, screens):
    page = new_page(browser, localhost_server)
    authenticator = with_authenticator(page)
    sign_in(page, localhost_server, DR_MARTIN)
    add_passkey(page, "Ordinateur du cabinet", screens)
    [made] = credentials(authenticator)
    assert made["rpId"] == "localhost"
    sign_out(page)

    password_then_passkey_offered(page, DR_MARTIN)
    check_accessibility(page, "second factor with a passkey")
    photograph(page, screens, "11-passkey-sign-in")
    page.get_by_role("button", name="Utiliser une clé d'accès").click()
    page.get_by_role("heading", name="Documents", level=1).wait_for()
    # The authenticator signed once more: the server checked its assertion.
    [used] = credentials(authenticator)
    assert used["signCount"] > made["signCount"]
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_passkey_of_another_account_or_site_is_refused(browser, localhost_server, screens):
    # Paul Durand adds a passkey on his own phone.
    phone = new_page(browser, localhost_server, PHONE)
    with_authenticator(phone)
    sign_in(phone, localhost_server, PAUL_DURAND)
    add_passkey(phone, "Téléphone de Paul")

    # On Camille Petit's computer, whose authenticator holds her own passkey only: the
    # server asks for one of Paul's, and none answers.
    computer = new_page(browser, localhost_server)
    hers = with_authenticator(computer)
    sign_in(computer, localhost_server, PATIENT)
    add_passkey(computer, "Ordinateur de Camille")
    sign_out(computer)
    password_then_passkey_offered(computer, PAUL_DURAND)
    computer.get_by_role("button", name="Utiliser une clé d'accès").click()
    refusal = computer.get_by_role("alert").filter(has_text="Aucune clé d'accès de ce compte")
    refusal.wait_for()
    check_accessibility(computer, "passkey of another account")
    photograph(computer, screens, "12-passkey-refused")
    # Nothing was signed in, and the sign-in can go on with the app's code.
    assert computer.get_by_role("heading", name="Vérification en deux étapes", level=1).count()
    assert len(credentials(hers)) == 1

    # The same server opened at its address rather than its name: the passkeys are
    # for http://localhost:PORT, and the browser refuses to use them here.
    by_address = localhost_server.url.replace("localhost", "127.0.0.1")
    assert httpx2.get(f"{by_address}/health", timeout=HTTP_TIMEOUT).status_code == 200
    elsewhere = new_page(browser, DemoServer(by_address, localhost_server.home, {}))
    with_authenticator(elsewhere)
    password_then_passkey_offered(elsewhere, PAUL_DURAND)
    elsewhere.get_by_role("button", name="Utiliser une clé d'accès").click()
    elsewhere.get_by_role("alert").filter(
        has_text="Les clés d'accès ne fonctionnent pas à cette adresse"
    ).wait_for()
