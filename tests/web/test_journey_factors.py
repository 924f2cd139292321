"""Journey 1 of issue 20, its factors taken away, in Debian's headless Chromium against a
real ``uhs-server serve --demo`` reached as http://localhost:PORT (a passkey is bound
to a name) whose professional identity provider is the test suite's OpenID Connect
provider: Dr Martin removes a passkey from the security screen (asked once more, the
removal signed by her account key in the worker, her other devices signed out), then
unlinks her e-CPS. Afterwards the sign-in offers no passkey, and her e-CPS opens no
account. Chromium's virtual authenticator (over CDP) stands in for the security key.
A forgotten password's second factor is proven with a passkey, too.
Screens: docs/screens/95-passkey-remove.png, 96-ecps-unlink.png, 97-recovery-passkey.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx2
import pytest

from tests.server.federation.provider import TestProvider
from tests.web.conftest import serve_demo
from tests.web.journeys import (
    DR_MARTIN,
    DemoServer,
    add_authenticator_app,
    check_accessibility,
    new_page,
    photograph,
    sign_in,
)
from tests.web.test_journey_ecps import (
    CLIENT_ID,
    CLIENT_SECRET,
    MARTIN_E_CPS,
    sign_in_with_e_cps,
    through_provider_window,
)
from tests.web.test_journey_passkey import add_passkey, credentials, sign_out, with_authenticator
from tests.web.test_journey_recovery import (
    EMAIL,
    NEW_PASSWORD,
    OLD_PASSWORD,
    mails_to,
    next_mail_code,
    password_then_app,
    registered_patient,
)
from uhealthsec.client.api import AuthClient
from uhealthsec.server.demo import DEMO_PASSWORD


@pytest.fixture(scope="module")
def provider() -> Iterator[TestProvider]:
    provider = TestProvider(CLIENT_ID, CLIENT_SECRET, "")
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def factors_server(tmp_path_factory: pytest.TempPathFactory, provider) -> Iterator[DemoServer]:
    def settings(url: str) -> dict[str, str]:
        provider.client.redirect_uri = f"{url}/auth/federated/callback"
        return {
            "UHS_OIDC_ISSUER": provider.issuer,
            "UHS_OIDC_CLIENT_ID": CLIENT_ID,
            "UHS_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        }

    with serve_demo(
        tmp_path_factory.mktemp("factors"), host_name="localhost", settings=settings
    ) as server:
        yield server


def signed_in_elsewhere(server: DemoServer, email: str) -> str:
    """An access token of another device of hers (the CLI on her laptop)."""
    with httpx2.Client(base_url=server.url) as http:
        auth = AuthClient(http)
        login = auth.start_login(email, DEMO_PASSWORD, {"totp_code": server.totp(email)})
        return auth.authorize(login, "ordinateur portable").access_token


def still_signed_in(server: DemoServer, token: str) -> bool:
    answer = httpx2.get(f"{server.url}/accounts/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code in (200, 401), answer.text
    return answer.status_code == 200


def test_a_practitioner_removes_a_passkey_and_unlinks_her_e_cps(
    browser, factors_server, provider, screens
):
    server = factors_server
    page = new_page(browser, server)
    authenticator = with_authenticator(page)
    sign_in(page, server, DR_MARTIN)
    add_passkey(page, "Clé USB du cabinet")
    assert len(credentials(authenticator)) == 1
    laptop = signed_in_elsewhere(server, DR_MARTIN)

    # The passkey listed with its name and date; removing it is asked once more.
    item = page.locator("li[data-passkey]").filter(has_text="Clé USB du cabinet")
    item.filter(has_text=re.compile(r"ajoutée le \d")).wait_for()
    page.get_by_role(
        "button", name=re.compile("^Retirer la clé d'accès Clé USB du cabinet")
    ).click()
    item.get_by_text("Retirer « Clé USB du cabinet » ?").wait_for()
    check_accessibility(page, "passkey removal asked")
    photograph(page, screens, "95-passkey-remove")
    # Kept, then removed for good.
    item.get_by_role("button", name="Garder").click()
    page.get_by_role(
        "button", name=re.compile("^Retirer la clé d'accès Clé USB du cabinet")
    ).click()
    item.get_by_role("button", name="Confirmer le retrait").click()
    page.locator(
        "p.alert.success", has_text="Clé d'accès « Clé USB du cabinet » retirée"
    ).wait_for()
    page.get_by_text("Aucune clé d'accès pour l'instant.").wait_for()
    # The removal signed her other devices out: her laptop's session ended.
    assert not still_signed_in(server, laptop)

    # Her e-CPS linked, then unlinked.
    page.get_by_text("Aucune e-CPS liée pour l'instant.").wait_for()
    provider.present(MARTIN_E_CPS)
    through_provider_window(page, "Lier ma e-CPS")
    page.locator("li[data-identity]", has_text="RPPS 10000000009").wait_for()
    check_accessibility(page, "e-CPS linked, to unlink")
    photograph(page, screens, "96-ecps-unlink")
    page.get_by_role("button", name=re.compile("^Délier l'e-CPS du RPPS 10000000009")).click()
    page.locator(
        "p.alert.success", has_text="Votre e-CPS n'est plus liée à votre compte"
    ).wait_for()
    page.get_by_text("Aucune e-CPS liée pour l'instant.").wait_for()
    check_accessibility(page, "e-CPS unlinked")
    sign_out(page)

    # The sign-in no longer offers the passkey…
    page.get_by_label("Adresse e-mail").fill(DR_MARTIN)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_label("Code à 6 chiffres de votre application d'authentification").wait_for()
    assert page.get_by_role("button", name="Utiliser une clé d'accès").count() == 0
    page.get_by_role("button", name="Recommencer").click()
    # …and her e-CPS opens no account.
    provider.present(MARTIN_E_CPS)
    sign_in_with_e_cps(page)
    page.get_by_role("alert").filter(
        has_text="Cette identité professionnelle (e-CPS) n'est liée à aucun compte U-HealthSec."
    ).wait_for()
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_forgotten_password_is_recovered_with_a_passkey(browser, factors_server, screens):
    server = factors_server
    words = registered_patient(server)
    page = new_page(browser, server)
    authenticator = with_authenticator(page)
    password_then_app(page, server, OLD_PASSWORD)
    add_authenticator_app(page, server, EMAIL)
    page.get_by_role("button", name="Continuer vers mes documents").click()
    page.get_by_role("heading", name="Documents", level=1).wait_for()
    add_passkey(page, "Téléphone d'Inès")
    sign_out(page)

    page.get_by_role("link", name="Mot de passe oublié ?").click()
    mailed = mails_to(server, EMAIL)
    page.get_by_label("Adresse e-mail").fill(EMAIL)
    page.get_by_role("button", name="Recevoir un code par e-mail").click()
    page.get_by_role("heading", name="Code reçu et second facteur", level=1).wait_for()
    # The passkey is asked for once the mailed code is typed.
    page.get_by_role("button", name="Utiliser une clé d'accès").click()
    page.get_by_role("alert").filter(
        has_text="Saisissez d'abord le code reçu par e-mail."
    ).wait_for()
    page.get_by_label("Code reçu par e-mail").fill(
        next_mail_code(server, EMAIL, mailed, "recovery code")
    )
    check_accessibility(page, "recovery with a passkey")
    photograph(page, screens, "97-recovery-passkey")
    used = credentials(authenticator)[0]["signCount"]
    page.get_by_role("button", name="Utiliser une clé d'accès").click()
    page.get_by_role("heading", name="Vos 24 mots et le nouveau mot de passe", level=1).wait_for()
    assert credentials(authenticator)[0]["signCount"] > used

    page.get_by_label("Les 24 mots de récupération").fill(" ".join(words))
    page.get_by_label("Nouveau mot de passe").fill(NEW_PASSWORD)
    page.get_by_label("Mot de passe, à nouveau").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Remplacer le mot de passe").click()
    page.get_by_role("heading", name="Mot de passe remplacé", level=1).wait_for()

    # The new password and the same passkey sign her in.
    page.get_by_role("link", name="Se connecter").click()
    password_then_app(page, server, NEW_PASSWORD)
    page.get_by_role("button", name="Utiliser une clé d'accès").click()
    page.get_by_role("heading", name="Documents", level=1).wait_for()
    assert page.errors == []  # type: ignore[attr-defined]
