"""The idle lock, in Debian's headless Chromium against a real ``uhs-server serve
--demo`` (issue 21, item 9): after 15 minutes without activity the application hides
every screen and the worker wipes the keys, keeping the session; the password alone
unlocks them, only if they are the session's own keys; five wrong passwords sign the
device out. The page's clock is Playwright's, moved forward."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from tests.web.journeys import (
    DR_MARTIN,
    PHONE,
    check_accessibility,
    photograph,
    sign_in,
)
from uhealthsec.crypto.keys import UserKeys
from uhealthsec.crypto.keystore import create_keystore
from uhealthsec.server.demo import DEMO_PASSWORD

IDLE = "16:00"


def _page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="fr-FR")
    page = context.new_page()
    page.clock.install()
    page.goto(f"{server.url}/app/")
    page.wait_for_selector("body[data-ready='true'][data-release]")
    return page


def _unlock(page, password: str) -> None:
    """Types ``password`` on the unlock screen and waits for the worker's answer."""
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Déverrouiller").click()
    page.locator("button[aria-busy='true']").wait_for(state="detached")


def test_an_idle_session_is_locked_and_unlocked_with_the_password_alone(
    browser, demo_server, screens
):
    page = _page(browser, demo_server)
    sign_in(page, demo_server, DR_MARTIN)
    # Activity keeps it open: a key pressed at 14 minutes counts again from there.
    page.clock.fast_forward("14:00")
    page.keyboard.press("Shift")
    page.clock.fast_forward("14:00")
    page.get_by_role("heading", name="Documents", level=1).wait_for()

    page.clock.fast_forward(IDLE)
    heading = page.get_by_role("heading", name="Session verrouillée", level=1)
    heading.wait_for()
    # Nothing of the practice stays on the screen: no navigation, no document.
    assert page.get_by_role("navigation").count() == 0
    assert page.locator("main h1").all_inner_texts() == ["Session verrouillée"]
    assert page.locator("main table, main ul, main ol").count() == 0
    check_accessibility(page, "unlock")
    photograph(page, screens, "78-unlock")
    # Another screen's address shows the unlock screen too.
    page.evaluate("location.hash = '#/patients'")
    heading.wait_for()
    assert page.get_by_role("navigation").count() == 0

    _unlock(page, "not the password at all")
    page.get_by_role("alert").filter(has_text="Mot de passe incorrect.").wait_for()
    _unlock(page, DEMO_PASSWORD)
    page.get_by_role("heading", name="Patients", level=1).wait_for()
    page.get_by_role("navigation").wait_for()

    page.set_viewport_size(PHONE)
    page.clock.fast_forward(IDLE)
    heading.wait_for()
    photograph(page, screens, "79-unlock-phone")
    _unlock(page, DEMO_PASSWORD)
    page.get_by_role("heading", name="Patients", level=1).wait_for()


def test_a_keystore_of_other_keys_is_refused_and_guesses_sign_the_device_out(browser, demo_server):
    page = _page(browser, demo_server)
    sign_in(page, demo_server, DR_MARTIN)
    page.clock.fast_forward(IDLE)
    page.get_by_role("heading", name="Session verrouillée", level=1).wait_for()

    # A server that serves, after the lock, a keystore of other keys under the same
    # password: the keys open, but they are not the session's, so nothing is unlocked.
    other = create_keystore(DEMO_PASSWORD, keys=UserKeys.generate()).keystore.encode()
    served = json.dumps({"keystore": base64.urlsafe_b64encode(other).rstrip(b"=").decode()})
    page.context.route(
        "**/accounts/me/keystore",
        lambda route: route.fulfill(status=200, content_type="application/json", body=served),
    )
    _unlock(page, DEMO_PASSWORD)
    page.get_by_role("alert").filter(has_text="exchange_refused").wait_for()
    page.context.unroute("**/accounts/me/keystore")
    assert page.get_by_role("navigation").count() == 0

    # Five wrong passwords: the device is signed out, and the sign-in says why.
    for attempt in range(4):
        _unlock(page, f"guess number {attempt}")
        page.get_by_role("alert").filter(has_text="Mot de passe incorrect.").wait_for()
    page.get_by_label("Mot de passe").fill("the fifth guess")
    page.get_by_role("button", name="Déverrouiller").click()
    page.get_by_role("heading", name="Connexion", level=1).wait_for()
    page.get_by_role("alert").filter(has_text="Cinq mots de passe erronés").wait_for()
    # The right password no longer unlocks anything: a full sign-in is needed.
    sign_in(page, demo_server, DR_MARTIN)


#: Replaces the page's Worker so that a script can reach the application's worker, as a
#: script that found its way into the page would by hooking the constructor.
_HOOK_WORKER = """
const PageWorker = window.Worker;
window.Worker = class extends PageWorker {
  constructor(...args) { super(...args); window.__appWorker = this; }
};
"""

#: Sends the worker one ``op`` per arguments at once: "done" or the refusal of each.
_SEND_AT_ONCE = """async ([op, many]) => {
  const worker = window.__appWorker;
  const first = 900000 + Math.floor(Math.random() * 1000) * 1000;
  const answers = new Map();
  const all = new Promise((resolve) => worker.addEventListener("message", ({ data }) => {
    if (data.id < first || data.id >= first + many.length) return;
    answers.set(data.id, data.ok ? "done" : data.identifier);
    if (answers.size === many.length) resolve();
  }));
  many.forEach((args, i) => worker.postMessage({ id: first + i, op, args }));
  await all;
  return many.map((_, i) => answers.get(first + i));
}"""


def _guess_at_once(page, passwords: list[str]) -> list[str]:
    return page.evaluate(_SEND_AT_ONCE, ["unlockKeys", [{"password": p} for p in passwords]])


def _hooked_page(browser, server):
    """A signed-in page whose worker a script in it can reach."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="fr-FR")
    context.add_init_script(_HOOK_WORKER)
    page = context.new_page()
    page.clock.install()
    page.goto(f"{server.url}/app/")
    page.wait_for_selector("body[data-ready='true'][data-release]")
    sign_in(page, server, DR_MARTIN)
    return context, page


def test_guesses_sent_at_once_are_five_at_most(browser, demo_server):
    """A script in the page sends many unlockKeys at once: each waits for the keystore
    and its password hash before the wrong ones are counted, so counting only answers
    let every one of them be tried. The sixth and later are not tried at all."""
    context, page = _hooked_page(browser, demo_server)
    page.clock.fast_forward(IDLE)
    page.get_by_role("heading", name="Session verrouillée", level=1).wait_for()

    guesses = [f"guess number {n}" for n in range(5)] + [DEMO_PASSWORD, "one more guess"]
    answers = _guess_at_once(page, guesses)
    assert answers[5:] == ["signed_out", "signed_out"], answers
    assert answers.count("wrong_password") == 4, answers
    # The right password, sent sixth, was never tried: the device is signed out.
    assert _guess_at_once(page, [DEMO_PASSWORD]) == ["signed_out"]
    context.close()


def test_a_password_change_is_no_way_around_the_five_guesses(browser, demo_server):
    """The password change opens the keystore with the current password in the worker,
    and a wrong one never reaches the server: on an unlocked screen left unattended, or
    from a script in the page, it would test passwords without end. Its wrong current
    passwords count as the unlock's do: the fifth signs the device out, and guesses
    sent at once are five at most."""
    context, page = _hooked_page(browser, demo_server)
    new_password = "lanterne orageuse sur le quai"
    change = [{"current": f"guess number {n}", "password": new_password} for n in range(7)]
    answers = page.evaluate(_SEND_AT_ONCE, ["changePassword", change])
    assert answers.count("wrong_password") == 4, answers
    assert answers[5:] == ["signed_out", "signed_out"], answers
    # The device is signed out: nothing else is answered, not even the right password.
    right = [{"current": DEMO_PASSWORD, "password": new_password}]
    assert page.evaluate(_SEND_AT_ONCE, ["changePassword", right]) == ["signed_out"]
    context.close()


def test_the_time_a_machine_slept_counts(browser, demo_server):
    """A laptop closed with the application open and opened the next morning: its
    timers did not run while it slept, but the wall clock went on. The first key
    pressed then locks, rather than counting fifteen minutes again."""
    page = _page(browser, demo_server)
    sign_in(page, demo_server, DR_MARTIN)
    page.get_by_role("heading", name="Documents", level=1).wait_for()
    now = page.evaluate("Date.now()") / 1000
    page.clock.set_system_time(datetime.fromtimestamp(now + 12 * 3600, UTC))
    page.keyboard.press("Shift")
    page.get_by_role("heading", name="Session verrouillée", level=1).wait_for()
    assert page.get_by_role("navigation").count() == 0
