"""Journey 1 of issue 20, its factors taken away, in Debian's headless Chromium against a
real ``uhs-server serve --demo`` reached as http://localhost:PORT (a passkey is bound
to a name) whose professional identity provider is the test suite's OpenID Connect
provider: Dr Martin removes a passkey from the security screen (asked once more, the
removal signed by her account key in the worker, her other devices signed out), then
unlinks her e-CPS. Afterwards the sign-in offers no passkey, and her e-CPS opens no
account. Chromium's virtual authenticator (over CDP) stands in for the security key.
A forgotten password's second factor is proven with a passkey, too. Changes made with
a second factor proven long ago ask for one again, in place.
Screens: docs/screens/95-passkey-remove.png, 96-ecps-unlink.png, 97-recovery-passkey.png,
44-step-up.png, 45-recovery-codes-renewed.png, 46-password-changed.png.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import httpx2
import pytest

from tests.server.federation.provider import TestProvider
from tests.serving import HTTP_TIMEOUT
from tests.web.conftest import serve_demo
from tests.web.journeys import (
    DR_MARTIN,
    DemoServer,
    add_authenticator_app,
    check_accessibility,
    new_page,
    open_screen,
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
from uhealthsec.client.errors import ApiError
from uhealthsec.crypto.keystore import unlock_with_password
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
    with httpx2.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as http:
        auth = AuthClient(http)
        login = auth.start_login(email, DEMO_PASSWORD, {"totp_code": server.totp(email)})
        return auth.authorize(login, "ordinateur portable").access_token


def still_signed_in(server: DemoServer, token: str) -> bool:
    answer = httpx2.get(
        f"{server.url}/accounts/me",
        headers={"Authorization": f"Bearer {token}"},
        timeout=HTTP_TIMEOUT,
    )
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


def age_second_factor_proofs(server: DemoServer, email: str) -> None:
    """Her sessions' last second factor proven long ago, as after a coffee break: the
    server's own record of it (sessions.auth_time), which the next sensitive change reads."""
    (database,) = server.home.rglob("uhealthsec.db")
    with sqlite3.connect(database) as db:
        aged = db.execute(
            "UPDATE sessions SET auth_time = '2000-01-01 00:00:00.000000' "
            "WHERE account_id = (SELECT id FROM accounts WHERE email = ?)",
            (email,),
        ).rowcount
    assert aged >= 1


def step_up_asked(page) -> None:
    page.get_by_role("heading", name="Confirmez que c'est vous", level=3).wait_for()


def test_changes_with_an_old_proof_ask_for_a_second_factor_again(browser, factors_server, screens):
    """Renewing the recovery codes, changing the password, adding and removing a passkey,
    each with a second factor proven more than five minutes ago: the screen asks for one
    in place (an app's code, a recovery code or a passkey) and makes the change."""
    server = factors_server
    page = new_page(browser, server)
    authenticator = with_authenticator(page)
    sign_in(page, server, DR_MARTIN)
    open_screen(page, "Sécurité")
    page.get_by_role("heading", name="Codes de secours", level=2).wait_for()

    # New recovery codes: a wrong code is refused, the app's code is taken.
    age_second_factor_proofs(server, DR_MARTIN)
    page.get_by_role("button", name="Obtenir de nouveaux codes de secours").click()
    page.get_by_text("Vos anciens codes de secours ne marcheront plus.").wait_for()
    page.get_by_role("button", name="Remplacer mes codes").click()
    step_up_asked(page)
    check_accessibility(page, "step-up asked")
    photograph(page, screens, "44-step-up")
    code = page.get_by_label("Code à 6 chiffres de votre application d'authentification")
    code.fill("000000")
    page.get_by_role("button", name="Confirmer", exact=True).click()
    page.get_by_role("alert").filter(has_text="code incorrect").wait_for()
    code.fill(server.totp(DR_MARTIN))
    page.get_by_role("button", name="Confirmer", exact=True).click()
    page.locator("p.alert.success", has_text="Voici vos nouveaux codes de secours").wait_for()
    codes = [c.strip() for c in page.locator("ul.recovery-codes code").all_inner_texts()]
    assert len(codes) == 10 and len(set(codes)) == 10
    check_accessibility(page, "recovery codes renewed")
    photograph(page, screens, "45-recovery-codes-renewed")
    # Printed, the sheet alone: not the password form beside it.
    page.emulate_media(media="print")
    assert page.locator("ul.recovery-codes").is_visible()
    assert not page.get_by_label("Mot de passe actuel", exact=True).is_visible()
    assert not page.get_by_role("navigation").is_visible()
    page.emulate_media(media="screen")

    # The password: a wrong current one is refused on this device, before any factor;
    # a step-up cancelled changes nothing; one proven with a new recovery code does.
    new_password = "Vieux-chêne bleu sous la pluie 1987"
    age_second_factor_proofs(server, DR_MARTIN)
    page.get_by_label("Mot de passe actuel", exact=True).fill("pas le bon mot de passe")
    page.get_by_label("Nouveau mot de passe", exact=True).fill(new_password)
    page.get_by_label("Mot de passe, à nouveau", exact=True).fill(new_password)
    page.get_by_role("button", name="Changer le mot de passe").click()
    page.get_by_role("alert").filter(has_text="Mot de passe incorrect.").wait_for()
    assert page.get_by_role("heading", name="Confirmez que c'est vous").count() == 0
    page.get_by_label("Mot de passe actuel", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Changer le mot de passe").click()
    step_up_asked(page)
    page.get_by_role("button", name="Annuler", exact=True).click()
    assert page.get_by_role("heading", name="Confirmez que c'est vous").count() == 0
    with httpx2.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as http:
        # Still her password: it gets as far as the second factor.
        assert AuthClient(http).start_login(DR_MARTIN, DEMO_PASSWORD).ticket
    page.get_by_role("button", name="Changer le mot de passe").click()
    step_up_asked(page)
    page.get_by_role("button", name=re.compile("utiliser un code de secours$")).click()
    page.get_by_label("Code de secours", exact=True).fill(codes[0])
    check_accessibility(page, "step-up with a recovery code")
    page.get_by_role("button", name="Confirmer", exact=True).click()
    page.locator("p.alert.success", has_text="Mot de passe changé.").wait_for()
    check_accessibility(page, "password changed")
    photograph(page, screens, "46-password-changed")
    with httpx2.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as http:
        auth = AuthClient(http)
        # The new password signs her in and opens the keys re-sealed in the browser…
        login = auth.start_login(DR_MARTIN, new_password, {"recovery_code": codes[1]})
        keystore = auth.keystore(auth.authorize(login, "ordinateur portable"))
        assert unlock_with_password(keystore, new_password).signing
        # …and the old one is refused.
        with pytest.raises(ApiError) as refused:
            auth.start_login(DR_MARTIN, DEMO_PASSWORD)
        assert refused.value.status == 401

    # A passkey added after the app's code is asked again, then removed after the
    # passkey itself proves it is her.
    age_second_factor_proofs(server, DR_MARTIN)
    page.get_by_label("Nom de la nouvelle clé d'accès").fill("Téléphone")
    page.get_by_role("button", name="Ajouter une clé d'accès").click()
    step_up_asked(page)
    page.get_by_label("Code à 6 chiffres de votre application d'authentification").fill(
        server.totp(DR_MARTIN)
    )
    page.get_by_role("button", name="Confirmer", exact=True).click()
    page.locator("p.alert.success", has_text="Clé d'accès ajoutée").wait_for()
    assert len(credentials(authenticator)) == 1
    age_second_factor_proofs(server, DR_MARTIN)
    page.get_by_role("button", name=re.compile("^Retirer la clé d'accès Téléphone")).click()
    page.get_by_role("button", name="Confirmer le retrait").click()
    step_up_asked(page)
    used = credentials(authenticator)[0]["signCount"]
    page.locator(".step-up").get_by_role("button", name="Utiliser une clé d'accès").click()
    page.locator("p.alert.success", has_text="Clé d'accès « Téléphone » retirée").wait_for()
    assert credentials(authenticator)[0]["signCount"] > used
    assert page.errors == []  # type: ignore[attr-defined]
