"""Journey 1 of issue 20, its e-CPS, in Debian's headless Chromium against a real
``uhs-server serve --demo`` whose professional identity provider is the OpenID
Connect provider of the test suite (tests/server/federation/provider.py), standing in
for Pro Santé Connect: Dr Martin, whose e-CPS is linked to her account, signs in
through the provider's window, then opens her keys with her password (the e-CPS
proves who she is; only her password opens her keystore). An identity linked to no
account, and a sign-in the provider cancelled, are refused in plain French.
Screens: docs/screens/1x-ecps-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from tests.server.federation.provider import Professional, TestProvider
from tests.web.conftest import serve_demo
from tests.web.journeys import DR_MARTIN, DemoServer, check_accessibility, new_page, photograph
from uhealthsec.client.api import AuthClient
from uhealthsec.protocol.oauth import CLI_REDIRECT_URI
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
        link_e_cps(server, provider)
        yield server


def link_e_cps(server: DemoServer, provider: TestProvider) -> None:
    """Dr Martin links her e-CPS from the command line's SDK (password, TOTP, then the
    provider's round trip, followed here as her browser would)."""
    with httpx2.Client(base_url=server.url, timeout=30) as http:
        auth = AuthClient(http)
        login = auth.start_login(DR_MARTIN, DEMO_PASSWORD)
        auth.second_factor(login, totp_code=server.totp(DR_MARTIN))
        tokens = auth.authorize(login, device_name="link")
        provider.present(MARTIN_E_CPS)
        step = auth.start_link(tokens)
        url = step.url
        while not url.startswith(CLI_REDIRECT_URI):
            answer = httpx2.get(url, follow_redirects=False, timeout=30)
            assert answer.status_code == 302, answer.text
            url = answer.headers["location"]
        linked = auth.finish_link(tokens, step, url)
        assert linked["rpps"] == "10000000009"


def sign_in_with_e_cps(page) -> None:
    with page.expect_popup() as opened:
        page.get_by_role("button", name="Connexion par e-CPS (Pro Santé Connect)").click()
    # The provider's window comes back to the application, hands the page its address
    # and closes.
    opened.value.wait_for_event("close")


def test_a_practitioner_signs_in_with_her_e_cps(browser, ecps_server, provider, screens):
    page = new_page(browser, ecps_server)
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
    page.get_by_role("link", name="Sécurité").click()
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
