"""Credential stuffing against the sign-in, with the shield off and on.

    .venv/bin/python benchmarks/stuffing.py [--duration 60] [--accounts 40]
                                            [--leaked 4000] [--bots 2] [--browsers 2]
                                            [--people 2]

For each mode a server (uvicorn, SQLite) starts on loopback with ``--accounts`` real
accounts (TOTP enrolled). A synthetic leaked list of ``--leaked`` address/password
pairs holds 1% valid pairs (one per real account and more of them for some), wrong
passwords for real addresses, and addresses that were never registered.

- Raw HTTP bots (one process, ``--bots`` threads) replay half of the list for
  ``--duration`` seconds, each attempt from another loopback address (127.1.0.0/16,
  a different /24 each time: a botnet), sending the headers a desktop Chromium sends, deriving the
  password secret as our clients do (Argon2id) and solving every proof of work the
  server asks for. A validated pair is followed by one guess of its TOTP code (the
  account-takeover stage).
- Browser bots (another process, ``--browsers`` pages of Debian's headless Chromium
  driven by Playwright) replay the other half the same way, every request being the
  browser's own fetch() with its real headers; half of them spoof a person's desktop
  (user agent, navigator.webdriver, CPU count, WebGL renderer), half run Chromium as
  launched. Needs ``apt-get install chromium`` and the ``bench`` extra.
- People (another process, ``--people`` threads) sign in at a human pace behind one
  shared address (a practice's NAT): half type their password from a password
  manager, half make a typo 5% of the time and retype it; their client solves what
  it is asked.

``--scenario breaker-dos`` measures the other side: bots (``--bots`` threads, each
attempt from another /24) fail sign-ins on random addresses for ``--duration``
seconds to hold the failure-ratio breaker open, while people (``--people``
threads behind one NAT, a third each) sign in with their authenticator app, with a
passkey (a software authenticator, as the tests use), or for the first time right
after registering and confirming their address. Reported: the bots' attempts, the
share of samples with the breaker open, and each kind of person's sign-ins and
refusals (a sign-in not through after 3 requests).

``--scenario scraping`` measures the record routes (R27), with the read budgets at
their defaults and, as the baseline, so high that none applies: a stolen session
(``--bots`` threads, one account) and a run of ``--accounts`` accounts from one /24
read the listing routes (``GET /patient-files/mine``, ``/documents``, ``/threads``) as fast
as the server answers for ``--duration`` seconds, while people (``--people`` threads,
each an account on its own network) read one every 2 seconds; before the attack, the
people read alone (one every half second, for half ``--duration``). Reported: reads
shown and refused to each, the people's refusals and median read latency, and the
median at rest against the baseline's (what the budgets add at rest).

Reported per mode: attempts, attempts whose answer told whether the password was
right, pairs validated at the password stage (and the share
of the list's valid pairs), account takeovers, the bots' CPU per validated pair, the
people's refusals (a sign-in not through after 3 requests), step-ups (a proof of
work asked) and median sign-in latency, and the server's CPU per sign-in request.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pyotp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchange import FAST, PASSWORD, Accounts, start
from shield import server_cpu

from uhealthsec.client.api import AuthClient
from uhealthsec.client.proof_of_work import HEADER, solve
from uhealthsec.crypto.keystore import Argon2Params, derive_password_secrets
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode

#: What a desktop Chromium sends with a fetch() from a page of the same site.
BROWSER_HEADERS = {
    "user-agent": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/142.0.0.0 Safari/537.36"
    ),
    "sec-ch-ua": '"Chromium";v="142", "Not_A Brand";v="99"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"Linux"',
    "sec-fetch-site": "same-origin",
    "sec-fetch-mode": "cors",
    "sec-fetch-dest": "empty",
    "accept": "application/json",
    "accept-language": "fr-FR,fr;q=0.9",
}


def sign_in(
    http: httpx2.Client, email: str, password: str, code: Callable[[], str] | None = None
) -> tuple[int, int, dict[str, Any]]:
    """One password-stage attempt as our clients make it; returns the final status,
    the proofs of work solved and the answer. When the server asks for the second
    factor with the password, ``code`` gives one (a person's app, a bot's guess)."""
    status, solved, answer = _attempt(http, email, password, None)
    if status == 401 and answer.get("second_factor_required") and code is not None:
        status, more, answer = _attempt(http, email, password, {"totp_code": code()})
        solved += more
        answer = {**answer, "factor_asked": True}
    return status, solved, answer


def _attempt(
    http: httpx2.Client, email: str, password: str, factor: dict[str, str] | None
) -> tuple[int, int, dict[str, Any]]:
    body = http.post("/auth/prelogin", json={"email": email}).json()
    params = Argon2Params.decode(b64u_decode(body["argon2_params"]))
    secret = derive_password_secrets(password, params).auth_secret
    login: dict[str, Any] = {"email": email, "auth_secret": b64u_encode(secret)}
    if factor:
        login["second_factor"] = factor
    headers: dict[str, str] = {}
    solved = 0
    for _ in range(3):
        response = http.post("/auth/login", json=login, headers=headers)
        if response.status_code != 429:
            return response.status_code, solved, response.json()
        headers = {HEADER: solve(response.json()["challenge"])}
        solved += 1
    return 429, solved, {}


# -- bots -----------------------------------------------------------------------------


def run_bots(url: str, leaked_file: str, duration: float, threads: int) -> None:
    leaked = json.loads(Path(leaked_file).read_text())
    began = time.monotonic()
    deadline = began + duration
    results: dict[str, Any] = new_tally()
    lock = threading.Lock()
    queue = iter(leaked)

    def bot(number: int) -> None:
        while time.monotonic() < deadline:
            with lock:
                pair = next(queue, None)
            if pair is None:
                return
            # Another /24 for every attempt.
            source = f"127.1.{random.randrange(256)}.{random.randrange(1, 255)}"
            transport = httpx2.HTTPTransport(local_address=source)
            with httpx2.Client(
                base_url=url, transport=transport, headers=BROWSER_HEADERS, timeout=120
            ) as http:
                status, solved, answer = sign_in(
                    http, pair["email"], pair["password"], lambda: f"{secrets.randbelow(10**6):06d}"
                )
                # A validated pair: one guess of the second factor (account takeover),
                # unless the factor was already asked (and then guessed) with the password.
                takeover = status == 200 and (
                    answer["complete"] or guess_totp(http, answer["ticket"])
                )
            if not results.get("first_silence") and status != 200 and asked_factor(answer):
                results["first_silence"] = time.monotonic() - began
            told = told_about_password(status, answer)
            with lock:
                results["attempts"] += 1
                results["answered"] += told
                results["solved"] += solved
                results["validated"] += status == 200
                results["takeovers"] += takeover

    workers = [threading.Thread(target=bot, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    times = os.times()
    results["seconds"] = time.monotonic() - began
    results["cpu"] = times.user + times.system
    print(json.dumps(results))


INCORRECT = "the e-mail address or the password is incorrect"


def asked_factor(answer: dict[str, Any]) -> bool:
    return bool(answer.get("factor_asked"))


def new_tally() -> dict[str, Any]:
    """A kind of bot's counts. "answered": attempts whose answer told whether the
    password was right; the others learned nothing."""
    return {"attempts": 0, "answered": 0, "validated": 0, "takeovers": 0, "solved": 0}


def told_about_password(status: int, answer: dict[str, Any]) -> bool:
    """A 200, or "incorrect" without the second factor asked for with the password."""
    return status == 200 or (
        status == 401 and answer.get("detail") == INCORRECT and not asked_factor(answer)
    )


def guess_totp(http: httpx2.Client, ticket: str) -> bool:
    code = f"{secrets.randbelow(10**6):06d}"
    response = http.post("/auth/login/second-factor", json={"ticket": ticket, "totp_code": code})
    return response.status_code == 200


# -- browser bots -------------------------------------------------------------------

#: Chromium as the project's machines install it (Debian's package), headless.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: What a careful bot changes in a headless Chromium so that the page's own view of
#: the browser looks like a person's desktop (none of it is read by our server).
SPOOFED_AGENT = BROWSER_HEADERS["user-agent"].replace("Chrome/142", "Chrome/156")
SPOOFED_FINGERPRINT = """
Object.defineProperty(Navigator.prototype, 'webdriver', {get: () => false});
Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', {get: () => 8});
Object.defineProperty(Navigator.prototype, 'languages', {get: () => ['fr-FR', 'fr']});
const getParameter = WebGLRenderingContext.prototype.getParameter;
WebGLRenderingContext.prototype.getParameter = function (p) {
  if (p === 37445) return 'Intel Inc.';
  if (p === 37446) return 'Intel Iris OpenGL Engine';
  return getParameter.call(this, p);
};
"""

#: One password-stage attempt made by the page with fetch(), as a sign-in page does:
#: the bot's native helpers derive the password secret and solve proofs of work.
BROWSER_ATTEMPT = (
    """
async ({email, password, guess}) => {
  const post = async (path, body, headers) => {
    const r = await fetch(path, {method: 'POST', body: JSON.stringify(body),
      headers: {'content-type': 'application/json', ...headers}});
    let answer = {};
    try { answer = await r.json(); } catch (e) {}
    return [r.status, answer];
  };
  const [, pre] = await post('/auth/prelogin', {email});
  const login = {email, auth_secret: await window.botDerive(password, pre.argon2_params)};
  let solved = 0;
  const attempt = async () => {
    let headers = {};
    for (let i = 0; i < 3; i++) {
      const [status, answer] = await post('/auth/login', login, headers);
      if (status !== 429) return [status, answer];
      headers = {'%(header)s': await window.botSolve(answer.challenge)};
      solved++;
    }
    return [429, {}];
  };
  let [status, answer] = await attempt();
  if (status === 401 && answer.second_factor_required) {
    login.second_factor = {totp_code: guess()};
    [status, answer] = await attempt();
    answer.factor_asked = true;
  }
  let takeover = false;
  if (status === 200) {
    takeover = answer.complete || (await post('/auth/login/second-factor',
      {ticket: answer.ticket, totp_code: guess()}))[0] === 200;
  }
  return {status, solved, answer, takeover};
}
""".replace("guess()", "String(Math.floor(Math.random() * 1e6)).padStart(6, '0')").replace(
        "({email, password, guess})", "({email, password})"
    )
    % {"header": HEADER}
)


def run_browsers(url: str, leaked_file: str, duration: float, pages: int) -> None:
    """Bots driving headless Chromium (Playwright): every request is the browser's
    own fetch() from a page of the server's origin, with the browser's real headers.
    Odd pages run Chromium as launched (it says HeadlessChrome and
    navigator.webdriver), even pages spoof a person's desktop. Each attempt comes
    from another /24 of 127.2.0.0/16: the pages reach the server through a stand-in
    for a reverse proxy (X-Forwarded-For from 127.0.0.1, which uvicorn trusts by
    default)."""
    import asyncio

    from playwright.async_api import async_playwright

    leaked = iter(json.loads(Path(leaked_file).read_text()))
    began = time.monotonic()
    deadline = began + duration
    flavours = ("spoofed", "headless")
    results: dict[str, Any] = {f: new_tally() for f in flavours}

    async def derive(password: str, params: str) -> str:
        decoded = Argon2Params.decode(b64u_decode(params))
        secrets_ = await asyncio.to_thread(derive_password_secrets, password, decoded)
        return b64u_encode(secrets_.auth_secret)

    async def solve_in_thread(challenge: dict[str, Any]) -> str:
        return await asyncio.to_thread(solve, challenge)

    async def page_bot(browser: Any, number: int) -> None:
        flavour = flavours[number % 2]
        # The page of the server's origin it starts from (/health) forbids scripts to
        # fetch anything (its CSP): a bot's own browser ignores that, as this one does.
        options: dict[str, Any] = {"bypass_csp": True}
        if flavour == "spoofed":
            options |= {"user_agent": SPOOFED_AGENT, "locale": "fr-FR"}
        context = await browser.new_context(**options)
        if flavour == "spoofed":
            await context.add_init_script(SPOOFED_FINGERPRINT)
        await context.expose_function("botDerive", derive)
        await context.expose_function("botSolve", solve_in_thread)
        page = await context.new_page()
        await page.goto(url + "/health")
        tally = results[flavour]
        while time.monotonic() < deadline:
            pair = next(leaked, None)
            if pair is None:
                break
            source = f"127.2.{random.randrange(256)}.{random.randrange(1, 255)}"
            await page.set_extra_http_headers({"x-forwarded-for": source})
            outcome = await page.evaluate(BROWSER_ATTEMPT, pair)
            status, answer = outcome["status"], outcome["answer"]
            tally["attempts"] += 1
            tally["solved"] += outcome["solved"]
            tally["validated"] += status == 200
            tally["takeovers"] += bool(outcome["takeover"])
            tally["answered"] += told_about_password(status, answer)
        await context.close()

    async def main() -> None:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_FLAGS
            )
            await asyncio.gather(*(page_bot(browser, i) for i in range(pages)))
            await browser.close()

    asyncio.run(main())
    times = os.times()
    results["seconds"] = time.monotonic() - began
    results["cpu"] = times.user + times.system + times.children_user + times.children_system
    print(json.dumps(results))


# -- people ---------------------------------------------------------------------------


def run_people(url: str, accounts_file: str, duration: float, threads: int) -> None:
    accounts = json.loads(Path(accounts_file).read_text())
    deadline = time.monotonic() + duration
    outcomes: list[dict[str, Any]] = []
    lock = threading.Lock()

    # A TOTP code is accepted once per 30 s step: each person signs in to accounts of
    # their own, never twice in one step (two people could not share a phone).
    last_step: dict[str, int] = {}

    def pick(number: int) -> dict[str, str]:
        own = accounts[number::threads]
        step = int(time.time() // 30)
        free = [a for a in own if last_step.get(a["email"], -1) < step]
        return random.choice(free or own)

    def app_of(account: dict[str, str]) -> Callable[[], str]:
        def code() -> str:
            last_step[account["email"]] = int(time.time() // 30)
            return pyotp.TOTP(account["totp"]).now()

        return code

    def person(number: int) -> None:
        uses_manager = number % 2 == 0
        transport = httpx2.HTTPTransport(local_address="127.200.0.1")  # the practice's NAT
        with httpx2.Client(
            base_url=url, transport=transport, headers=BROWSER_HEADERS, timeout=120
        ) as http:
            while time.monotonic() < deadline:
                account = pick(number)
                app = app_of(account)
                began = time.perf_counter()
                requests, solved, status = 0, 0, 0
                if not uses_manager and random.random() < 0.05:
                    status, n, _ = sign_in(http, account["email"], account["password"] + "x")
                    requests, solved = requests + 1, solved + n
                while requests < 3:
                    status, n, answer = sign_in(http, account["email"], account["password"], app)
                    requests, solved = requests + 1, solved + n
                    if status == 200:
                        break
                with lock:
                    outcomes.append(
                        {
                            "ok": status == 200,
                            "status": status,
                            "detail": "" if status == 200 else str(answer.get("detail")),
                            "stepped_up": solved > 0,
                            "factor_first": status == 200 and answer["complete"],
                            "seconds": time.perf_counter() - began,
                        }
                    )
                time.sleep(random.uniform(0.5, 1.5))  # a person's pace

    workers = [threading.Thread(target=person, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(json.dumps(outcomes))


# -- breaker-DoS ----------------------------------------------------------------------


def run_dos_bots(url: str, duration: float, threads: int) -> None:
    """Failed sign-ins on random addresses, to hold the breaker open: no password
    derivation (the bots want failures), every proof of work solved."""
    deadline = time.monotonic() + duration
    tally = {"attempts": 0, "solved": 0}
    lock = threading.Lock()

    def bot() -> None:
        while time.monotonic() < deadline:
            source = f"127.1.{random.randrange(256)}.{random.randrange(1, 255)}"
            transport = httpx2.HTTPTransport(local_address=source)
            body = {
                "email": f"random{secrets.token_hex(6)}@elsewhere.example",
                "auth_secret": b64u_encode(secrets.token_bytes(32)),
            }
            with httpx2.Client(
                base_url=url, transport=transport, headers=BROWSER_HEADERS, timeout=120
            ) as http:
                headers: dict[str, str] = {}
                solved = 0
                for _ in range(3):
                    response = http.post("/auth/login", json=body, headers=headers)
                    if response.status_code != 429:
                        break
                    headers = {HEADER: solve(response.json()["challenge"])}
                    solved += 1
            with lock:
                tally["attempts"] += 1
                tally["solved"] += solved

    workers = [threading.Thread(target=bot) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(json.dumps(tally))


DOS_KINDS = ("totp", "passkey", "newcomer")


def run_dos_people(url: str, work: str, duration: float, threads: int) -> None:
    """People behind one NAT: authenticator app, passkey, or a first sign-in."""
    from tests.server.auth.softauthn import SoftAuthenticator

    accounts = json.loads((Path(work) / "accounts.json").read_text())
    outbox = Path(work) / "outbox"
    outcomes: list[dict[str, Any]] = []
    lock = threading.Lock()

    def nat() -> httpx2.Client:
        transport = httpx2.HTTPTransport(local_address="127.200.0.1")  # the practice's NAT
        return httpx2.Client(
            base_url=url, transport=transport, headers=BROWSER_HEADERS, timeout=120
        )

    def confirm(auth: AuthClient, email: str) -> None:
        code = None
        for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
            text = path.read_text()
            if f"To: {email}" in text and "confirmation code" in text:
                code = text.split("confirmation code: ", 1)[1].split()[0]
        assert code is not None
        auth.verify_email(code, email, PASSWORD)

    def newcomer(auth: AuthClient, number: int) -> bool:
        email = f"newcomer{number}-{secrets.token_hex(4)}@stuffing.example"
        auth.register(email, PASSWORD, "Dr New", "practitioner", params=FAST.with_new_salt())
        confirm(auth, email)
        login = auth.start_login(email, PASSWORD)
        secret = auth.enrol_totp(login)["secret"]
        auth.confirm_totp(login, pyotp.TOTP(secret).now())
        auth.authorize(login)
        return True

    def passkey_account(auth: AuthClient, number: int) -> tuple[str, Any]:
        email = f"passkey{number}@stuffing.example"
        key = SoftAuthenticator("http://localhost:8000")
        auth.register(email, PASSWORD, "Dr Key", "practitioner", params=FAST.with_new_salt())
        confirm(auth, email)
        login = auth.start_login(email, PASSWORD)
        options = auth.http.post(
            "/auth/login/enrol/webauthn-options", json={"ticket": login.ticket}
        )
        auth.http.post(
            "/auth/login/enrol/webauthn",
            json={"ticket": login.ticket, "credential": key.create(options.json()), "name": "k"},
        )
        return email, key

    def with_passkey(auth: AuthClient, email: str, key: Any) -> bool:
        assertion = key.get(auth.passkey_options(email), "localhost")
        login = auth.start_login(email, PASSWORD, {"webauthn": assertion})
        if not login.complete:  # no breaker: the assertion was checked with the password
            return False
        auth.authorize(login)
        return True

    last_step: dict[str, int] = {}

    def with_app(http: httpx2.Client, number: int) -> bool:
        own = accounts[number::threads] or accounts
        step = int(time.time() // 30)
        free = [a for a in own if last_step.get(a["email"], -1) < step]
        account = random.choice(free or own)

        def code() -> str:
            last_step[account["email"]] = int(time.time() // 30)
            return pyotp.TOTP(account["totp"]).now()

        status, _, _ = sign_in(http, account["email"], account["password"], code)
        return status == 200

    def person(number: int, ready: threading.Barrier, deadline: list[float]) -> None:
        kind = DOS_KINDS[number % len(DOS_KINDS)]
        with nat() as http:
            auth = AuthClient(http)
            key = passkey_account(auth, number) if kind == "passkey" else None
            ready.wait()
            while time.monotonic() < deadline[0]:
                began = time.perf_counter()
                ok, tries, detail = False, 0, ""
                while not ok and tries < 3:
                    tries += 1
                    try:
                        if kind == "totp":
                            ok = with_app(http, number)
                        elif kind == "passkey":
                            assert key is not None
                            ok = with_passkey(auth, *key)
                        else:
                            ok = newcomer(auth, number)
                    except Exception as error:  # a refusal, counted below
                        detail = str(error)[:200]
                with lock:
                    outcomes.append(
                        {
                            "kind": kind,
                            "ok": ok,
                            "detail": detail,
                            "seconds": time.perf_counter() - began,
                        }
                    )
                time.sleep(random.uniform(0.5, 1.5))  # a person's pace

    # The measured time starts once every passkey is enrolled.
    deadline = [0.0]
    ready = threading.Barrier(
        threads, action=lambda: deadline.__setitem__(0, time.monotonic() + duration)
    )
    workers = [threading.Thread(target=person, args=(i, ready, deadline)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(json.dumps(outcomes))


def run_breaker_dos(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="uhs-bench-breaker-dos-"))
    os.environ["UHS_SHIELD_ENABLED"] = "true"
    server, url = start("api", work)
    try:
        accounts = prepare(url, args.accounts, work)
        (work / "accounts.json").write_text(json.dumps(accounts))
        me = [sys.executable, __file__, "--url", url, "--duration", str(args.duration)]
        bots = subprocess.Popen([*me, "--run-dos-bots", str(args.bots)], stdout=subprocess.PIPE)
        people = subprocess.Popen(
            [*me, "--run-dos-people", str(work), str(args.people)], stdout=subprocess.PIPE
        )
        samples = breaker_samples(url, bots, people)
        attack = json.loads(bots.communicate()[0])
        outcomes = json.loads(people.communicate()[0])
    finally:
        server.terminate()
    by_kind = {
        kind: {
            "sign_ins": sum(o["kind"] == kind for o in outcomes),
            "refused": sum(o["kind"] == kind and not o["ok"] for o in outcomes),
            "median": statistics.median(
                [o["seconds"] for o in outcomes if o["kind"] == kind] or [0.0]
            ),
        }
        for kind in DOS_KINDS
    }
    return {
        **attack,
        "breaker_open_share": sum(samples) / max(1, len(samples)),
        "people": len(outcomes),
        "refused": sum(not o["ok"] for o in outcomes),
        "refusals": [o["detail"] for o in outcomes if not o["ok"]][:10],
        "kinds": by_kind,
    }


# -- the run --------------------------------------------------------------------------


def prepare(url: str, count: int, work: Path) -> list[dict[str, str]]:
    accounts = []
    for i in range(count):
        email = f"carer{i:03d}@stuffing.example"
        # Each registration from its own address: setting up is not what is measured.
        transport = httpx2.HTTPTransport(local_address=f"127.50.{i}.1")
        with httpx2.Client(base_url=url, transport=transport, timeout=120) as http:
            Accounts(http, work).register(email)
            auth = AuthClient(http)
            state = auth.start_login(email, PASSWORD)
            secret = auth.enrol_totp(state)["secret"]
            auth.confirm_totp(state, pyotp.TOTP(secret).now())
        accounts.append({"email": email, "password": PASSWORD, "totp": secret})
    return accounts


def leaked_list(accounts: list[dict[str, str]], size: int) -> list[dict[str, str]]:
    pairs = [{"email": a["email"], "password": a["password"]} for a in accounts]
    valid = max(len(pairs), size // 100)
    pairs = [pairs[i % len(pairs)] for i in range(valid)]
    for i in range(size - valid):
        if i % 4 == 0:  # a real address with another site's password
            pairs.append({"email": accounts[i % len(accounts)]["email"], "password": f"old{i}"})
        else:
            pairs.append({"email": f"leaked{i}@elsewhere.example", "password": f"hunter{i}"})
    random.Random(7).shuffle(pairs)
    return pairs


def breaker_samples(url: str, *running: subprocess.Popen[bytes]) -> list[int]:
    """Whether the shield's breaker is open, once a second while any of ``running`` runs."""
    samples: list[int] = []
    while any(process.poll() is None for process in running):
        metrics = {m["name"]: m["value"] for m in httpx2.get(url + "/shield/metrics").json()}
        samples.append(metrics["breaker_open"])
        time.sleep(1)
    return samples


def openings(samples: list[int]) -> int:
    """How many times the breaker opened (a run that starts open counts one)."""
    return sum(1 for before, now in zip([0, *samples], samples, strict=False) if now and not before)


def run_mode(shield_on: bool, args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="uhs-bench-stuffing-"))
    os.environ["UHS_SHIELD_ENABLED"] = "true" if shield_on else "false"
    server, url = start("api", work)
    try:
        accounts = prepare(url, args.accounts, work)
        (work / "accounts.json").write_text(json.dumps(accounts))
        leaked = leaked_list(accounts, args.leaked)
        # Raw HTTP bots and browser bots each replay their half of the list.
        (work / "leaked-http.json").write_text(json.dumps(leaked[0::2]))
        (work / "leaked-browser.json").write_text(json.dumps(leaked[1::2]))
        # The setup's sign-ins must not weigh in the breaker's window: the attack
        # starts on a quiet server.
        from uhealthsec.server.shield.service import BREAKER_WINDOW_MINUTES

        time.sleep(60 * (BREAKER_WINDOW_MINUTES + 1))
        cpu_before = server_cpu(server.pid)
        me = [sys.executable, __file__, "--url", url, "--duration", str(args.duration)]
        bots = subprocess.Popen(
            [*me, "--run-bots", str(work / "leaked-http.json"), str(args.bots)],
            stdout=subprocess.PIPE,
        )
        browsers = subprocess.Popen(
            [*me, "--run-browsers", str(work / "leaked-browser.json"), str(args.browsers)],
            stdout=subprocess.PIPE,
        )
        people = subprocess.Popen(
            [*me, "--run-people", str(work / "accounts.json"), str(args.people)],
            stdout=subprocess.PIPE,
        )
        samples = breaker_samples(url, bots, browsers, people)
        attack = json.loads(bots.communicate()[0])
        in_browsers = json.loads(browsers.communicate()[0])
        outcomes = json.loads(people.communicate()[0])
        server_seconds = server_cpu(server.pid) - cpu_before
        metrics = {m["name"]: m["value"] for m in httpx2.get(url + "/shield/metrics").json()}
    finally:
        server.terminate()
    valid_in_list = sum(1 for p in leaked if p["password"] == PASSWORD)
    kinds = {"http": attack, **{f: in_browsers[f] for f in ("headless", "spoofed")}}
    total = {k: sum(kind[k] for kind in kinds.values()) for k in attack if k in kinds["headless"]}
    requests = total["attempts"] + total["solved"] + len(outcomes)
    return {
        "shield": shield_on,
        **total,
        "kinds": kinds,
        "seconds": max(attack["seconds"], in_browsers["seconds"]),
        "cpu": attack["cpu"] + in_browsers["cpu"],
        "valid_in_list": valid_in_list,
        "people": len(outcomes),
        "refused": sum(not o["ok"] for o in outcomes),
        "refusals": [o["detail"] for o in outcomes if not o["ok"]],
        "stepped_up": sum(o["stepped_up"] for o in outcomes),
        "factor_first": sum(o["factor_first"] for o in outcomes),
        "latency": statistics.median(o["seconds"] for o in outcomes) if outcomes else 0.0,
        "server_cpu_per_request": server_seconds / max(1, requests),
        "metrics": metrics,
        "breaker_openings": openings(samples),
        "breaker_open_share": sum(samples) / max(1, len(samples)),
    }


#: The record routes a scraper lists, in turn (each a journaled read).
LISTINGS = ("/patient-files/mine", "/documents", "/threads")
#: Budgets so high that none applies: the scraping scenario's baseline.
NO_BUDGETS = {
    "UHS_READS_PER_ACCOUNT_HOUR": "1000000000",
    "UHS_READS_PER_NETWORK_MINUTE": "1000000000",
    "UHS_READS_PER_NETWORK_HOUR": "1000000000",
}


def signed_in(url: str, email: str, work: Path, address: str) -> str:
    """An access token of a new account (registered and enrolled from ``address``)."""
    transport = httpx2.HTTPTransport(local_address=address)
    with httpx2.Client(base_url=url, transport=transport, timeout=120) as http:
        Accounts(http, work).register(email, "patient")
        auth = AuthClient(http)
        state = auth.start_login(email, PASSWORD)
        secret = auth.enrol_totp(state)["secret"]
        auth.confirm_totp(state, pyotp.TOTP(secret).now())
        return auth.authorize(state).access_token


def read_loop(
    url: str, token: str, address: str, until: float, pause: float, tally: dict[str, Any]
) -> None:
    """Read the listings in turn until ``until``, ``pause`` seconds apart."""
    transport = httpx2.HTTPTransport(local_address=address)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx2.Client(base_url=url, transport=transport, timeout=60, headers=headers) as http:
        n = 0
        while time.monotonic() < until:
            started = time.perf_counter()
            status = http.get(LISTINGS[n % len(LISTINGS)]).status_code
            took = time.perf_counter() - started
            n += 1
            with tally["lock"]:
                if status == 200:
                    tally["shown"] += 1
                    tally["latencies"].append(took)
                elif status == 429:
                    tally["refused"] += 1
                else:
                    tally["other"] += 1
                    tally["statuses"].add(status)
            if pause:
                time.sleep(pause)


def run_scraping_mode(budgets_on: bool, args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="uhs-bench-scraping-"))
    for name, value in NO_BUDGETS.items():
        if budgets_on:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    server, url = start("api", work)
    try:
        # Each account is set up from its own network, so that setting up reads nothing
        # of any network's budget; the scrapers then read from theirs.
        stolen = signed_in(url, "stolen@scraping.example", work, "127.60.0.1")
        run = [
            signed_in(url, f"bot{i}@scraping.example", work, f"127.61.{i}.1")
            for i in range(args.accounts)
        ]
        people = [
            signed_in(url, f"person{i}@scraping.example", work, f"127.62.{i}.1")
            for i in range(args.people)
        ]
        tallies: dict[str, dict[str, Any]] = {
            kind: {"lock": threading.Lock(), "shown": 0, "refused": 0, "other": 0}
            | {"statuses": set(), "latencies": []}
            for kind in ("rest", "stolen", "run", "people")
        }
        # At rest first: the people alone, a read every half second each, for what
        # the budgets cost a legitimate reader (their count and check on every read).
        rest_until = time.monotonic() + args.duration / 2
        resting = [
            threading.Thread(
                target=read_loop,
                args=(url, token, f"127.64.{i}.1", rest_until, 0.5, tallies["rest"]),
            )
            for i, token in enumerate(people)
        ]
        for thread in resting:
            thread.start()
        for thread in resting:
            thread.join()
        until = time.monotonic() + args.duration
        threads = [
            threading.Thread(
                target=read_loop, args=(url, stolen, "127.60.0.1", until, 0, tallies["stolen"])
            )
            for _ in range(args.bots)
        ]
        threads += [
            # The run's accounts from one /24, each its own address in it.
            threading.Thread(
                target=read_loop, args=(url, token, f"127.63.0.{i + 1}", until, 0, tallies["run"])
            )
            for i, token in enumerate(run)
        ]
        threads += [
            threading.Thread(
                target=read_loop,
                args=(url, token, f"127.64.{i}.1", until, 2.0, tallies["people"]),
            )
            for i, token in enumerate(people)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        scrape = httpx2.get(url + "/metrics").text
    finally:
        server.terminate()
    throttled = {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in scrape.splitlines()
        if line.startswith("uhs_reads_throttled_total{")
    }
    out: dict[str, Any] = {"budgets": budgets_on, "seconds": args.duration, "throttled": throttled}
    for kind, tally in tallies.items():
        latencies = tally.pop("latencies")
        tally.pop("lock")
        tally["statuses"] = sorted(tally["statuses"])
        out[kind] = {**tally, "median": statistics.median(latencies) if latencies else 0.0}
    return out


def run_scraping(args: argparse.Namespace) -> None:
    results = {on: run_scraping_mode(on, args) for on in (False, True)}
    print(json.dumps(list(results.values())), file=sys.stderr)
    for on, r in results.items():
        print(
            f"budgets {'on ' if on else 'off'}: at rest, people read {r['rest']['shown']} "
            f"({r['rest']['refused']} refused), median {r['rest']['median'] * 1000:.1f} ms; "
            f"then in {r['seconds']:.0f} s the stolen session was shown "
            f"{r['stolen']['shown']} reads ({r['stolen']['refused']} refused), the run of "
            f"{args.accounts} accounts from one /24 {r['run']['shown']} "
            f"({r['run']['refused']} refused), people {r['people']['shown']} "
            f"({r['people']['refused']} refused, median {r['people']['median'] * 1000:.1f} ms); "
            f"throttled by budget: {r['throttled']}"
        )
    off, on = results[False]["rest"]["median"], results[True]["rest"]["median"]
    print(f"people's median read at rest, budgets on / off: {on / max(off, 1e-9):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--accounts", type=int, default=40)
    parser.add_argument("--leaked", type=int, default=4000)
    parser.add_argument("--bots", type=int, default=2)
    parser.add_argument("--browsers", type=int, default=2)
    parser.add_argument("--people", type=int, default=2)
    parser.add_argument("--modes", nargs="*", default=["off", "on"], choices=["off", "on"])
    parser.add_argument("--url")
    parser.add_argument("--run-bots", nargs=2)
    parser.add_argument("--run-browsers", nargs=2)
    parser.add_argument("--run-people", nargs=2)
    parser.add_argument(
        "--scenario", default="stuffing", choices=["stuffing", "breaker-dos", "scraping"]
    )
    parser.add_argument("--run-dos-bots")
    parser.add_argument("--run-dos-people", nargs=2)
    args = parser.parse_args()
    if args.run_dos_bots:
        return run_dos_bots(args.url, args.duration, int(args.run_dos_bots))
    if args.run_dos_people:
        work, threads = args.run_dos_people
        return run_dos_people(args.url, work, args.duration, int(threads))
    if args.run_bots:
        return run_bots(args.url, args.run_bots[0], args.duration, int(args.run_bots[1]))
    if args.run_browsers:
        pages = int(args.run_browsers[1])
        return run_browsers(args.url, args.run_browsers[0], args.duration, pages)
    if args.run_people:
        return run_people(args.url, args.run_people[0], args.duration, int(args.run_people[1]))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )
    if args.scenario == "scraping":
        return run_scraping(args)
    if args.scenario == "breaker-dos":
        r = run_breaker_dos(args)
        print(json.dumps(r), file=sys.stderr)
        print(
            f"breaker-DoS: {r['attempts']} failed sign-ins on random addresses "
            f"({r['solved']} proofs solved), breaker open in "
            f"{r['breaker_open_share']:.0%} of samples; people: {r['people']} sign-ins, "
            f"{r['refused']} refused ({r['refused'] / max(1, r['people']):.2%})"
        )
        for kind, k in r["kinds"].items():
            print(
                f"  {kind}: {k['sign_ins']} sign-ins, {k['refused']} refused, "
                f"median {k['median']:.2f} s"
            )
        return None
    for shield_on in [mode == "on" for mode in args.modes]:
        r = run_mode(shield_on, args)
        print(json.dumps(r), file=sys.stderr)
        print(
            f"shield {'on ' if shield_on else 'off'}: {r['attempts']} attempts in "
            f"{r['seconds']:.0f} s, {r['answered']} answered about the password, "
            f"{r['validated']} pairs validated "
            f"({r['validated'] / r['valid_in_list']:.1%} of the list's {r['valid_in_list']}), "
            f"{r['takeovers']} takeovers, bot CPU per validated pair "
            f"{r['cpu'] / max(1, r['validated']):.1f} s; people: {r['people']} sign-ins, "
            f"{r['refused']} refused, {r['stepped_up']} paid a proof of work, "
            f"{r['factor_first']} sent their code with the password, median "
            f"{r['latency'] * 1000:.0f} ms; server CPU per request "
            f"{r['server_cpu_per_request'] * 1000:.1f} ms"
        )
        # Counts, not a share of the run's attempts, which would shrink with its length.
        print(
            f"  answers about a password: {r['answered']} "
            f"({r['answered'] * 3600 / r['seconds']:.0f} per hour at this pace); the breaker "
            f"opened {r['breaker_openings']} time(s), open in {r['breaker_open_share']:.0%} "
            f"of the samples: {r['answered'] / max(1, r['breaker_openings']):.1f} answers "
            "per opening"
        )
        for name, kind in r["kinds"].items():
            print(
                f"  {name} bots: {kind['attempts']} attempts, {kind['answered']} answered, "
                f"{kind['validated']} validated, {kind['takeovers']} takeovers, "
                f"{kind['solved']} proofs solved"
            )


if __name__ == "__main__":
    main()
