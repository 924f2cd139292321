"""Journey 1 of issue 20, its e-CPS, in Debian's headless Chromium against a real
``uhs-server serve --demo`` whose professional identity provider is the OpenID
Connect provider of the test suite (tests/server/federation/provider.py), standing in
for Pro Santé Connect: Dr Martin, signed in with her password and app, links her
e-CPS from the security screen through the provider's window; then she signs in with
it, and opens her keys with her password (the e-CPS proves who she is; only her
password opens her keystore). An identity linked to no
account, and a sign-in the provider cancelled, are refused in plain French.
Screens: docs/screens/1x-ecps-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.federation.provider import Professional, TestProvider
from tests.web.conftest import serve_demo
from tests.web.journeys import (
    DR_MARTIN,
    DemoServer,
    check_accessibility,
    new_page,
    open_screen,
    photograph,
    sign_in,
)
from uhealthsec.server.demo import DEMO_PASSWORD

CLIENT_ID = "uhealthsec-rp"
CLIENT_SECRET = "provider-issued-secret-for-the-journeys"
#: Dr Martin as Pro Santé Connect knows her: "8" and the RPPS the demo declares for her.
MARTIN_E_CPS = Professional(subject="psc-claire-martin", national_id="810000000009")
#: A practitioner whose e-CPS is linked to no account here.
STRANGER_E_CPS = Professional(subject="psc-someone-else", national_id="810000000017")


@pytest.fixture(scope="module")
def provider() -> Iterator[TestProvider]:
    # Its client's redirect URI names the server, known once it is started.
    provider = TestProvider(CLIENT_ID, CLIENT_SECRET, "")
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def ecps_server(tmp_path_factory: pytest.TempPathFactory, provider) -> Iterator[DemoServer]:
    def settings(url: str) -> dict[str, str]:
        provider.client.redirect_uri = f"{url}/auth/federated/callback"
        return {
            "UHS_OIDC_ISSUER": provider.issuer,
            "UHS_OIDC_CLIENT_ID": CLIENT_ID,
            "UHS_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        }

    with serve_demo(tmp_path_factory.mktemp("e-cps"), settings=settings) as server:
        yield server


def through_provider_window(page, button: str) -> None:
    with page.expect_popup() as opened:
        page.get_by_role("button", name=button).click()
    # The provider's window comes back to the application, hands the page its address
    # and closes.
    opened.value.wait_for_event("close")


def sign_in_with_e_cps(page) -> None:
    through_provider_window(page, "Connexion par e-CPS (Pro Santé Connect)")


def test_a_practitioner_links_her_e_cps_then_signs_in_with_it(
    browser, ecps_server, provider, screens
):
    page = new_page(browser, ecps_server)
    # Signed in with her password and app, she links her e-CPS from the security screen.
    sign_in(page, ecps_server, DR_MARTIN)
    open_screen(page, "Sécurité")
    page.get_by_text("Aucune e-CPS liée pour l'instant.").wait_for()
    provider.present(MARTIN_E_CPS)
    through_provider_window(page, "Lier ma e-CPS")
    page.locator("p.alert.success", has_text="Votre e-CPS est liée à votre compte.").wait_for()
    page.locator("li[data-identity]", has_text="RPPS 10000000009").wait_for()
    check_accessibility(page, "e-CPS linked")
    photograph(page, screens, "16-ecps-linked")
    page.get_by_role("button", name="Se déconnecter").click()

    page.get_by_role("button", name="Connexion par e-CPS (Pro Santé Connect)").wait_for()
    check_accessibility(page, "sign-in with e-CPS offered")
    photograph(page, screens, "13-ecps-sign-in")
    provider.present(MARTIN_E_CPS)
    sign_in_with_e_cps(page)
    page.get_by_role("heading", name="e-CPS vérifiée : Dr Claire Martin", level=1).wait_for()
    check_accessibility(page, "keys opened with the password")
    photograph(page, screens, "14-ecps-password")
    # A wrong password opens nothing, and may be typed again.
    page.get_by_label("Mot de passe").fill("pas le bon mot de passe")
    page.get_by_role("button", name="Ouvrir mes clés").click()
    page.get_by_role("alert").wait_for()
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Ouvrir mes clés").click()
    page.get_by_role("heading", name="Documents", level=1).wait_for()
    page.get_by_text("Connecté·e : Dr Claire Martin").wait_for()
    # The session the provider opened is listed among her devices.
    open_screen(page, "Sécurité")
    page.get_by_role("heading", name="Appareils connectés", level=2).wait_for()
    assert page.errors == []  # type: ignore[attr-defined]


def test_an_unlinked_or_cancelled_e_cps_is_refused_in_french(
    browser, ecps_server, provider, screens
):
    page = new_page(browser, ecps_server)
    provider.present(STRANGER_E_CPS)
    sign_in_with_e_cps(page)
    page.get_by_role("alert").filter(
        has_text="Cette identité professionnelle (e-CPS) n'est liée à aucun compte U-HealthSec."
    ).wait_for()
    page.get_by_role("heading", name="Connexion", level=1).wait_for()
    check_accessibility(page, "e-CPS refused")
    photograph(page, screens, "15-ecps-refused")

    provider.present(None)  # the holder cancelled at the provider
    sign_in_with_e_cps(page)
    page.get_by_role("alert").filter(
        has_text="La connexion e-CPS a été annulée, ou refusée par Pro Santé Connect."
    ).wait_for()
