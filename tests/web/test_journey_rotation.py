"""Dr Martin replaces her keys from the security screen (docs/PROTOCOL.md 10.6), in
Debian's headless Chromium against a real ``uhs-server serve --demo``: a wrong password
is refused on her device before anything is sent; her last second factor being old,
one is asked again in place; then the right password makes new keys in the
worker, publishes them with the statement her current and new keys sign, and shows her
24 new recovery words once; she fears her laptop was compromised, so the server's
copies of her documents' keys are wrapped again to the new keys. Her colleague's
device then takes her new keys only through that signed chain, and her 24 words open
the new keystore.
A document she signed before then opens on Paul's page, saying it was signed with her
former keys. Screens: docs/screens/98-keys-replaced.png, 99-document-former-keys.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx2
import pytest

from tests.serving import HTTP_TIMEOUT
from tests.web.conftest import serve_demo
from tests.web.journeys import (
    DR_MARTIN,
    PAUL_DURAND,
    DemoServer,
    check_accessibility,
    laptop_of,
    new_page,
    open_screen,
    photograph,
    send_to_patient,
    sign_in,
)
from tests.web.test_journey_factors import age_second_factor_proofs, step_up_asked
from uhealthsec.client.api import AuthClient
from uhealthsec.client.exchange import ExchangeClient
from uhealthsec.client.recovery import from_words
from uhealthsec.crypto.errors import DecryptionFailed
from uhealthsec.crypto.keys import UserKeys
from uhealthsec.crypto.keystore import unlock_with_password, unlock_with_recovery_key
from uhealthsec.crypto.wrap import unwrap_document_key
from uhealthsec.server.demo import DEMO_PASSWORD


@pytest.fixture(scope="module")
def rotation_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with serve_demo(tmp_path_factory.mktemp("rotation"), host_name="localhost") as server:
        yield server


def test_a_practitioner_replaces_her_keys_from_the_security_screen(
    browser, rotation_server, screens
):
    server = rotation_server
    sent, laptop, former = sent_by_martin_to_paul(server)
    page = new_page(browser, server)
    sign_in(page, server, DR_MARTIN)
    open_screen(page, "Sécurité")
    page.get_by_role("heading", name="Mes clés", level=2).wait_for()
    password = page.get_by_label("Mot de passe (il scelle vos nouvelles clés)")
    password.fill("pas le bon mot de passe")
    page.get_by_role("button", name="Remplacer mes clés").click()
    page.get_by_role("alert").filter(has_text="Mot de passe incorrect.").wait_for()

    # Her last second factor is old: asked again, in place, then the keys are replaced.
    # She fears her laptop was compromised: the server's copies are wrapped again too.
    age_second_factor_proofs(server, DR_MARTIN)
    password.fill(DEMO_PASSWORD)
    page.get_by_label("Je pense que quelqu'un a pu obtenir mes clés", exact=False).check()
    page.get_by_role("button", name="Remplacer mes clés").click()
    step_up_asked(page)
    page.get_by_label("Code à 6 chiffres de votre application d'authentification").fill(
        server.totp(DR_MARTIN)
    )
    page.get_by_role("button", name="Confirmer", exact=True).click()
    page.locator("p.alert.success", has_text="Clés remplacées (version 2).").wait_for()
    rewrapped = page.locator("p.alert.success", has_text="Vos anciennes clés n'ouvrent plus rien")
    rewrapped.wait_for()
    assert re.search(r"[1-9]\d* version\(s\) de documents", rewrapped.inner_text())
    words = [w.strip() for w in page.locator("ol.recovery-words li").all_inner_texts()]
    # Her laptop is no longer among the devices signed in.
    page.locator("ul.devices li", has_text="ordinateur portable").wait_for(state="detached")
    assert "cet appareil" in page.locator("ul.devices").inner_text()
    assert len(words) == 24
    check_accessibility(page, "keys replaced")
    photograph(page, screens, "98-keys-replaced")
    assert page.errors == []  # type: ignore[attr-defined]

    with httpx2.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as http:
        # Her laptop, which holds the former keys, was signed out.
        laptop_answer = http.get("/accounts/me", headers={"Authorization": f"Bearer {laptop}"})
        assert laptop_answer.status_code == 401
        auth = AuthClient(http)
        login = auth.start_login(
            PAUL_DURAND, DEMO_PASSWORD, {"totp_code": server.totp(PAUL_DURAND)}
        )
        tokens = auth.authorize(login, "ordinateur portable")
        keys = unlock_with_password(auth.keystore(tokens), DEMO_PASSWORD)
        paul = ExchangeClient(http, lambda: tokens.access_token, keys)
        hers = paul.directory.lookup(DR_MARTIN)
        assert hers.entry.key_version == 2 and hers.current
        # Her new words open the keystore the browser sealed, to the keys published.
        mine = auth.start_login(DR_MARTIN, DEMO_PASSWORD, {"totp_code": server.totp(DR_MARTIN)})
        stored = auth.keystore(auth.authorize(mine, "ordinateur portable"))
        opened = unlock_with_recovery_key(stored, from_words(" ".join(words)))
        assert opened.public().encode() == hers.entry.bundle
        # The server's copy of her document's key opens with her new keys only.
        again = auth.authorize(
            auth.start_login(DR_MARTIN, DEMO_PASSWORD, {"totp_code": server.totp(DR_MARTIN)}),
            "ordinateur portable",
        )
        view = ExchangeClient(http, lambda: again.access_token, opened).document_view(sent)
        [version] = view.versions
        with pytest.raises(DecryptionFailed):
            unwrap_document_key(version.wrapped_key, former, version.envelope_header)
        unwrap_document_key(version.wrapped_key, opened, version.envelope_header)

    # What she signed before is still hers, and Paul's page says it was her former keys.
    paul_page = new_page(browser, server)
    sign_in(paul_page, server, PAUL_DURAND)
    paul_page.evaluate("(id) => { location.hash = '#/documents/' + id; }", sent)
    paul_page.locator(".alert.success", has_text="Signature vérifiée").wait_for()
    paul_page.locator(
        ".alert.success", has_text="signé avec d'anciennes clés de dr.martin@demo.test (version 1)"
    ).wait_for()
    check_accessibility(paul_page, "a document signed with former keys")
    photograph(paul_page, screens, "99-document-former-keys")
    assert paul_page.errors == []  # type: ignore[attr-defined]


def sent_by_martin_to_paul(server: DemoServer) -> tuple[str, str, UserKeys]:
    """A document Dr Martin sends Paul Durand from her laptop (the SDK), before the
    rotation: signed with her first keys; the laptop's access token, and those keys."""
    with laptop_of(server, DR_MARTIN) as (martin, token, keys):
        text = "Bilan de reeducation, avant le changement de cles.\n"
        sent, _ = send_to_patient(martin, PAUL_DURAND, text)
        return sent, token, keys
