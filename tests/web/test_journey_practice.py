"""Journey 2 of issue 20, "set up a practice", in Debian's headless Chromium against a
real ``uhs-server serve --demo``: Dr Martin creates a practice and invites a secretary,
a new patient and a colleague who already has an account; each follows the link of
their mail, the first two register with it (no mailed code to confirm: the invitation
proved the address), the third signs in and joins; Dr Martin then sees them as members
with their roles. The code travels in the link's fragment, which the browser never
sends, and leaves the address bar as soon as the page reads it. Refusals: a code for
another address, a used code, a wrong code. Each screen is checked with axe-core and
photographed (docs/screens/3x-practice-*.png).
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx2

from tests.server_fixtures import Outbox
from tests.serving import HTTP_TIMEOUT
from tests.web.journeys import (
    DR_MARTIN,
    PAUL_DURAND,
    PHONE,
    DemoServer,
    add_authenticator_app,
    check_accessibility,
    new_page,
    photograph,
    photograph_on_a_phone,
    sign_in,
    tab_to,
)
from uhealthsec.client.api import AuthClient

PRACTICE = "Maison de santé des Lilas"
SECRETARY = ("secretariat.lilas@cabinet.test", "Sophie Lambert")
NEW_PATIENT = ("jeanne.moreau@exemple.test", "Jeanne Moreau")
PASSWORD = "tilleul agrafe horloge sereine rivage"


def invitation_link(server: DemoServer, to: str) -> str:
    """The link of the last invitation mailed to ``to``, once the server delivered it."""
    outbox = Outbox(server.home / "var" / "outbox")
    deadline = time.monotonic() + 10
    while not outbox.messages(to):
        assert time.monotonic() < deadline, f"no mail to {to}"
        time.sleep(0.1)
    body = outbox.messages(to)[-1].get_payload(decode=True).decode()
    link = re.search(r"^(http\S+)$", body, re.MULTILINE)
    assert link, body
    # The code is in the fragment only, which no request carries to a server's log,
    # and it is the one the mail gives for the command line.
    parts = urlsplit(link.group(1))
    assert f"{parts.scheme}://{parts.netloc}" == server.url and parts.path == "/app/"
    assert parts.query == "" and parts.fragment.startswith("/join?")
    fragment = parse_qs(parts.fragment.removeprefix("/join?"))
    assert fragment["code"] == [outbox.last_code(to, "Invitation code")]
    assert fragment["email"] == [to]
    return link.group(1)


def open_practice_screen(page) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Cabinet").click()
    page.get_by_role("heading", name="Votre cabinet", level=1).wait_for()


def show_members(page, practice: str) -> list[tuple[str, ...]]:
    """The members of ``practice`` as the practice screen lists them, fetched again."""
    page.get_by_role("navigation").get_by_role("link", name="Documents").click()
    page.get_by_role("heading", name="Documents", level=1).wait_for()
    open_practice_screen(page)
    choice = page.get_by_label("Cabinet", exact=True)
    if choice.count():  # the account runs several practices
        choice.select_option(label=practice)
    page.get_by_role("heading", name=practice, level=2).wait_for()
    return members_of(page)


def invite(page, email: str, role: str) -> None:
    page.get_by_label("Adresse e-mail de la personne invitée").fill(email)
    page.get_by_label("Son rôle dans le cabinet").select_option(label=role)
    page.get_by_role("button", name="Envoyer l'invitation").click()
    page.locator(".alert.success").filter(has_text=email).wait_for()


def follow_link(browser, server: DemoServer, link: str, viewport=None):
    """The invited person opens the mail's link: the page no longer shows the code."""
    page = new_page(browser, server, url=link, **({"viewport": viewport} if viewport else {}))
    page.get_by_role("heading", name="Rejoindre un cabinet", level=1).wait_for()
    code = parse_qs(urlsplit(link).fragment.removeprefix("/join?"))["code"][0]
    assert page.url == f"{server.url}/app/#/join"
    assert code not in page.content()
    return page


def register_invited(
    page, server: DemoServer, email: str, name: str, screens=None, on_the_form: bool = False
) -> None:
    """Registration from the join screen: address and kind are the invitation's."""
    if not on_the_form:
        page.get_by_role("button", name="Créer mon compte").click()
    page.get_by_role("heading", name="Créer un compte", level=1).wait_for()
    address = page.get_by_label("Adresse e-mail")
    assert address.input_value() == email and not address.is_editable()
    page.get_by_label("Votre nom").fill(name)
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_label("Mot de passe, à nouveau").fill(PASSWORD)
    if screens:
        check_accessibility(page, "registration by invitation")
        photograph(page, screens, "36-practice-register-invited")
    page.get_by_role("button", name="Créer mon compte").click()
    page.get_by_role("heading", name="Vos 24 mots de récupération").wait_for(timeout=60_000)
    words = page.locator("ol.recovery-words li").all_inner_texts()
    page.get_by_role("button", name="Je les ai notés").click()
    asked = page.get_by_label(re.compile(r"^Mot n° \d+$"))
    for i in range(asked.count()):
        asked.nth(i).fill(words[int(asked.nth(i).get_attribute("name").split("-")[1]) - 1])
    page.get_by_role("button", name="Vérifier").click()
    # No code to confirm the address: the invitation reached it.
    add_authenticator_app(page, server, email)
    page.get_by_role("button", name="Continuer vers mes documents").click()
    page.get_by_role("heading", name="Documents", level=1).wait_for()


def members_of(page) -> list[tuple[str, ...]]:
    """(name, address, role) of each member the practice screen lists (not their identity)."""
    rows = page.locator("table.members tbody tr")
    rows.first.wait_for()
    return [tuple(rows.nth(i).locator("td").all_inner_texts()[:3]) for i in range(rows.count())]


def test_dr_martin_sets_up_a_practice_and_the_invited_join_it(browser, demo_server, screens):
    martin = new_page(browser, demo_server)
    sign_in(martin, demo_server, DR_MARTIN)
    open_practice_screen(martin)
    # The demo practice, which Dr Martin runs, with its members.
    assert ("Paul Durand", PAUL_DURAND, "praticien·ne") in members_of(martin)

    martin.get_by_label("Nom du nouveau cabinet").fill(PRACTICE)
    martin.get_by_role("button", name="Créer le cabinet").click()
    martin.get_by_role("heading", name=PRACTICE, level=2).wait_for()
    assert martin.get_by_label("Cabinet", exact=True).input_value() in martin.url
    assert members_of(martin) == [("Dr Claire Martin", DR_MARTIN, "administrateur·rice")]

    invite(martin, SECRETARY[0], "secrétaire")
    invite(martin, NEW_PATIENT[0], "patient·e")
    invite(martin, PAUL_DURAND, "praticien·ne")
    assert (
        martin.locator(".alert.success")
        .inner_text()
        .startswith(f"Invitation envoyée à {PAUL_DURAND} (praticien·ne), valable jusqu'au")
    )
    check_accessibility(martin, "practice screen")
    photograph(martin, screens, "34-practice-invite")

    # The secretary, who has no account, follows her mail's link and registers.
    secretary = follow_link(browser, demo_server, invitation_link(demo_server, SECRETARY[0]))
    assert "Invitation pour secretariat.lilas@cabinet.test, en tant que secrétaire." in (
        secretary.locator("main").inner_text()
    )
    check_accessibility(secretary, "join, signed out")
    photograph(secretary, screens, "35-practice-join-link")
    register_invited(secretary, demo_server, *SECRETARY, screens=screens)
    # Her account is a staff one: the practice screen is in her navigation.
    open_practice_screen(secretary)
    assert secretary.get_by_text("Votre rôle : secrétaire.").is_visible()

    # The new patient registers the same way, on a phone, as a patient account.
    patient = follow_link(
        browser, demo_server, invitation_link(demo_server, NEW_PATIENT[0]), viewport=PHONE
    )
    assert "en tant que patient·e" in patient.locator("main").inner_text()
    # R11: the practice's notice is read before the account is made.
    patient.get_by_role("button", name="Créer mon compte").click()
    patient.get_by_role(
        "heading", name="Avant de rejoindre : le partage de votre dossier"
    ).wait_for()
    assert "Votre droit de refuser" in patient.locator("section.notice").inner_text()
    patient.get_by_role(
        "button", name="J'ai lu, créer mon compte et rejoindre le cabinet"
    ).wait_for()
    check_accessibility(patient, "registration by a patient's invitation, its notice")
    photograph(patient, screens, "122-practice-register-notice-phone")
    register_invited(patient, demo_server, *NEW_PATIENT, on_the_form=True)
    assert patient.get_by_role("navigation").get_by_role("link", name="Cabinet").count() == 0

    # Paul Durand has an account: he signs in from the link and joins.
    durand = follow_link(browser, demo_server, invitation_link(demo_server, PAUL_DURAND))
    durand.get_by_role("button", name="J'ai déjà un compte : me connecter").click()
    sign_in(durand, demo_server, PAUL_DURAND, lands_on="Rejoindre un cabinet")
    check_accessibility(durand, "join, signed in")
    durand.get_by_role("button", name="Rejoindre le cabinet").click()
    durand.get_by_role("heading", name="Bienvenue au cabinet", level=1).wait_for()
    assert f"Vous avez rejoint {PRACTICE} en tant que praticien·ne." in (
        durand.locator("main").inner_text()
    )
    check_accessibility(durand, "joined")
    photograph(durand, screens, "37-practice-joined")
    durand.get_by_role("link", name="Voir le cabinet et ses membres").click()
    durand.get_by_role("heading", name=PRACTICE, level=2).wait_for()

    # Dr Martin sees all three as members, each with the role of their invitation.
    assert sorted(show_members(martin, PRACTICE)) == sorted(
        [
            ("Dr Claire Martin", DR_MARTIN, "administrateur·rice"),
            ("Paul Durand", PAUL_DURAND, "praticien·ne"),
            (SECRETARY[1], SECRETARY[0], "secrétaire"),
            (NEW_PATIENT[1], NEW_PATIENT[0], "patient·e"),
        ]
    )
    # A long address wraps: nothing is wider than the phone's screen.
    photograph_on_a_phone(martin, screens, "38-practice-members-phone")
    check_accessibility(martin, "practice members on a phone")
    for page in (martin, secretary, patient, durand):
        assert page.errors == []  # type: ignore[attr-defined]


def test_refused_invitations_a_keyboard_invites_and_codes_stay_hidden(
    browser, demo_server, screens
):
    email, name = "lucas.fabre@exemple.test", "Lucas Fabre"
    martin = new_page(browser, demo_server)
    sign_in(martin, demo_server, DR_MARTIN)
    # Keyboard only: to the practice screen, then the invitation form.
    tab_to(martin, "nav a[href='#/practice']")
    martin.keyboard.press("Enter")
    martin.get_by_role("heading", name="Votre cabinet", level=1).wait_for()
    tab_to(martin, "input[name='invite-email']")
    martin.keyboard.type(email)
    martin.keyboard.press("Tab")
    assert martin.evaluate("document.activeElement.name") == "invite-role"
    martin.keyboard.press("ArrowDown")
    martin.keyboard.press("ArrowDown")  # practitioner, secretary, patient
    assert martin.get_by_label("Son rôle dans le cabinet").input_value() == "patient"
    martin.keyboard.press("Tab")
    martin.keyboard.press("Enter")
    martin.locator(".alert.success").filter(has_text=email).wait_for()
    link = invitation_link(demo_server, email)

    # Signed in as someone else, the link is refused: it is for another address.
    durand = follow_link(browser, demo_server, link)
    durand.get_by_role("button", name="J'ai déjà un compte : me connecter").click()
    sign_in(durand, demo_server, PAUL_DURAND, lands_on="Rejoindre un cabinet")
    assert "Vous êtes connecté·e en tant que kine.durand@demo.test" in (
        durand.locator(".alert.warning").inner_text()
    )
    # A patient's invitation shows the practice's notice first (R11), to be read before joining.
    durand.get_by_role(
        "heading", name="Avant de rejoindre : le partage de votre dossier"
    ).wait_for()
    durand.get_by_role("button", name="J'ai lu, rejoindre le cabinet").click()
    # The server's refusal (403), in French, its code for support beside it.
    refusal = durand.get_by_role("alert").filter(has_text="Vous n'avez pas le droit de faire cela")
    refusal.wait_for()
    assert "Code pour l'assistance : forbidden" in refusal.inner_text()
    assert "Une invitation ne sert qu'une fois" in refusal.inner_text()
    # The code is not kept for another try: only the mail's link brings it back.
    assert durand.get_by_role("button", name="Rejoindre le cabinet").count() == 0
    check_accessibility(durand, "join refused")
    photograph(durand, screens, "39-practice-join-refused")

    # Lucas registers with it (as `uhs register --invitation` does); then it is spent.
    code = parse_qs(urlsplit(link).fragment.removeprefix("/join?"))["code"][0]
    with httpx2.Client(base_url=demo_server.url, timeout=HTTP_TIMEOUT) as http:
        AuthClient(http).register(email, PASSWORD, name, "patient", invitation=code)
    # Spent, its notice is refused at once: there is nothing to accept.
    durand.goto(link)
    durand.get_by_role("alert").filter(has_text="Code pour l'assistance : bad_request").wait_for()
    assert durand.get_by_role("button", name="Rejoindre le cabinet").count() == 0

    # Without a link, the code is typed, hidden, and a wrong one is refused and cleared.
    durand.reload()
    durand.wait_for_selector("body[data-ready='true']")
    durand.get_by_text("Aucune invitation ici").wait_for()
    durand.get_by_role("main").get_by_role("link", name="Se connecter").click()
    sign_in(durand, demo_server, PAUL_DURAND)
    durand.goto(f"{demo_server.url}/app/#/join")
    typed = durand.get_by_label("Code de l'invitation")
    assert typed.get_attribute("type") == "password"
    typed.fill("not-the-code-of-any-invitation")
    typed.press("Enter")
    durand.get_by_role("alert").filter(has_text="Code pour l'assistance : bad_request").wait_for()
    assert typed.input_value() == ""
    assert "not-the-code" not in durand.content()

    # Martin sees Lucas among the demo practice's members, as a patient.
    assert (name, email, "patient·e") in show_members(martin, "Cabinet de démonstration")
    for page in (martin, durand):
        assert page.errors == []  # type: ignore[attr-defined]
