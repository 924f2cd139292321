"""The shield in front of sign-in and registration: each layer acting, before any
password is hashed, without locking the owner out and without revealing accounts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.server.auth.softauthn import SoftAuthenticator
from tests.server_fixtures import BASE_URL, FAST_ARGON2, ORIGIN, PASSWORD, User
from uhealthsec.client.api import ApiError, AuthClient
from uhealthsec.client.errors import SecondFactorRequired
from uhealthsec.client.proof_of_work import HEADER, solve
from uhealthsec.crypto.keystore import derive_password_secrets
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.server.app import create_app
from uhealthsec.server.auth.factors import decoy_passkey_ids
from uhealthsec.server.auth.service import account_addresses
from uhealthsec.server.shield import service as shield
from uhealthsec.server.shield.challenges import ChallengeRefused
from uhealthsec.server.shield.service import Shield, network_of

WRONG = "not the password at all"


class Hashes:
    """Counts the server's Argon2id verifications (the work the shield protects)."""

    def __init__(self, ctx, monkeypatch) -> None:
        self.count = 0
        original = ctx.hasher.verify

        def counted(*args):
            self.count += 1
            return original(*args)

        monkeypatch.setattr(ctx.hasher, "verify", counted)


@pytest.fixture
def hashes(ctx, monkeypatch) -> Hashes:
    return Hashes(ctx, monkeypatch)


@pytest.fixture
def from_ip(ctx) -> Iterator:
    """A client of the API seen from a given IP address."""
    clients: list[TestClient] = []

    def make(ip: str, **headers: str) -> TestClient:
        client = TestClient(
            create_app(ctx=ctx), base_url=BASE_URL, client=(ip, 40000), headers=headers
        )
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def login_body(client: TestClient, email: str, password: str) -> dict:
    salt = client.post("/auth/prelogin", json={"email": email}).json()["argon2_params"]
    from uhealthsec.crypto.keystore import Argon2Params
    from uhealthsec.protocol.encoding import b64u_decode

    params = Argon2Params.decode(b64u_decode(salt))
    secret = derive_password_secrets(password, params).auth_secret
    return {"email": email, "auth_secret": b64u_encode(secret)}


def fail(client: TestClient, email: str, times: int) -> None:
    body = login_body(client, email, WRONG)
    for _ in range(times):
        response = client.post("/auth/login", json=body)
        assert response.status_code == 401, response.text


def test_at_rest_a_sign_in_pays_nothing(users, from_ip, hashes):
    """R27: at rest a sign-in pays no proof of work and no added hash."""
    user: User = users.signed_in("rest@example.org")
    client = from_ip("192.0.2.10")
    before = hashes.count
    response = client.post("/auth/login", json=login_body(client, user.email, PASSWORD))
    assert response.status_code == 200 and hashes.count == before + 1


def test_failures_on_an_address_ask_for_proof_before_any_hash(users, from_ip, hashes, clock):
    """R7: failed sign-ins are throttled before the password is hashed."""
    user = users.signed_in("target@example.org")
    client = from_ip("192.0.2.20")
    fail(client, user.email, shield.BACKOFF_AFTER)
    before = hashes.count
    right = login_body(client, user.email, PASSWORD)
    refused = client.post("/auth/login", json=right)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    challenge = refused.json()["challenge"]
    assert challenge["parameters"]["data"]["cost"] == shield.COSTS[2]
    assert hashes.count == before  # refused before the password was looked at

    # The owner is slowed, not locked out: a solved challenge lets the password through.
    proof = solve(challenge)
    accepted = client.post("/auth/login", json=right, headers={HEADER: proof})
    assert accepted.status_code == 200 and hashes.count == before + 1

    # Once only.
    replayed = client.post("/auth/login", json=right, headers={HEADER: proof})
    assert replayed.status_code == 429
    assert hashes.count == before + 1

    # The backoff ends (30 s after the fifth failure, doubling after each next one).
    clock.advance(seconds=shield.BACKOFF_MAX_SECONDS)
    assert client.post("/auth/login", json=right).status_code == 200


def test_a_proof_is_good_for_one_address_one_endpoint_and_a_few_minutes(ctx, clock):
    with ctx.sessions() as db:
        book = Shield(db, ctx).challenges
    subject_a, subject_b = "a" * 32, "b" * 32
    challenge = book.issue("login", subject_a, 4, clock.now)
    proof = solve(challenge)
    assert book.check(proof, "login", subject_a, clock.now).cost == 4
    for endpoint, subject in (("login", subject_b), ("register", subject_a)):
        with pytest.raises(ChallengeRefused, match="issued for another request"):
            book.check(proof, endpoint, subject, clock.now)
    clock.advance(minutes=6)
    with pytest.raises(ChallengeRefused, match="expired"):
        book.check(proof, "login", subject_a, clock.now)
    forged = solve({**challenge, "signature": "0" * 64})
    with pytest.raises(ChallengeRefused, match="does not solve a challenge we issued"):
        book.check(forged, "login", subject_a, clock.now)
    with pytest.raises(ChallengeRefused, match="not a valid ALTCHA v2 payload"):
        book.check("not base64!", "login", subject_a, clock.now)


def test_a_cheaper_proof_does_not_pay_for_a_costlier_challenge(users, from_ip, ctx, clock):
    user = users.signed_in("cheap@example.org")
    client = from_ip("192.0.2.30")
    fail(client, user.email, shield.BACKOFF_AFTER)
    with ctx.sessions() as db:
        service = Shield(db, ctx)
        subject = service._hmac("account", user.email).hex()[:32]
        cheap = service.challenges.issue("login", subject, shield.COSTS[1], clock.now)
    response = client.post(
        "/auth/login", json=login_body(client, user.email, PASSWORD), headers={HEADER: solve(cheap)}
    )
    assert response.status_code == 429
    assert response.json()["challenge"]["parameters"]["data"]["cost"] == shield.COSTS[2]


def test_unknown_and_known_addresses_are_answered_alike(users, from_ip, hashes, clock):
    user = users.signed_in("known@example.org")
    client = from_ip("192.0.2.40")
    answers = []
    for email in (user.email, "nobody@example.org"):
        clock.advance(minutes=shield.BREAKER_WINDOW_MINUTES)  # each on a quiet server
        start = hashes.count
        fail(client, email, shield.BACKOFF_AFTER)
        assert hashes.count - start == shield.BACKOFF_AFTER  # one hash per attempt, both
        refused = client.post("/auth/login", json=login_body(client, email, WRONG)).json()
        answers.append((refused["status"], refused["title"], refused["detail"]))
        wrong = login_body(client, email, WRONG)
        proof = solve(refused["challenge"])
        after_proof = client.post("/auth/login", json=wrong, headers={HEADER: proof}).json()
        answers.append((after_proof["status"], after_proof["detail"]))
    assert answers[0] == answers[2] and answers[1] == answers[3]
    assert answers[1] == (401, "the e-mail address or the password is incorrect")


def test_a_network_that_fails_a_lot_pays_and_its_neighbours_do_not(users, from_ip, clock):
    users.signed_in("nat@example.org")
    stuffing = [from_ip(f"198.51.100.{i}") for i in range(1, 5)]
    # Failures in rounds too small to open the breaker, its window apart: only the
    # network's bucket empties.
    per_round = shield.BREAKER_MIN_ATTEMPTS - 1
    statuses: list[int] = []
    while 429 not in statuses:
        assert len(statuses) < 10 * shield.NETWORK_CAPACITY
        clock.advance(minutes=shield.BREAKER_WINDOW_MINUTES)
        for i in range(per_round):
            client = stuffing[i % 4]
            body = login_body(client, f"victim{len(statuses)}@example.org", WRONG)
            statuses.append(client.post("/auth/login", json=body).status_code)
            if statuses[-1] == 429:
                break
    # Emptied by failures (the bucket refills by one every 30 s), not by the breaker.
    assert statuses.count(401) > shield.NETWORK_CAPACITY
    fresh_address = login_body(stuffing[0], "nat@example.org", PASSWORD)
    same_network = from_ip("198.51.100.200").post("/auth/login", json=fresh_address)
    assert same_network.status_code == 429
    other_network = from_ip("198.51.101.7").post("/auth/login", json=fresh_address)
    assert other_network.status_code == 200


def test_networks_are_grouped_as_they_are_rented():
    assert network_of("203.0.113.77") == "203.0.113.0/24"
    assert network_of("::ffff:203.0.113.77") == "203.0.113.0/24"
    assert network_of("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert network_of("testclient") is None and network_of(None) is None


def test_the_breaker_opens_when_most_checks_fail_and_closes_after(
    users, from_ip, ctx, clock, hashes
):
    user = users.signed_in("calm@example.org")
    # A stuffing run from many networks, each address tried once: with the sign-in
    # above, the window holds the breaker's minimum of checks, nearly all failed.
    for i in range(shield.BREAKER_MIN_ATTEMPTS - 1):
        fail(from_ip(f"10.{i // 250}.{i % 250}.1"), f"leaked{i}@example.org", 1)
    newcomer = from_ip("203.0.113.9")
    body = login_body(newcomer, user.email, PASSWORD)
    refused = newcomer.post("/auth/login", json=body)
    assert refused.status_code == 429
    assert refused.json()["challenge"]["parameters"]["data"]["cost"] == shield.COSTS[2]
    before = hashes.count
    proof = solve(refused.json()["challenge"])
    unproven = newcomer.post("/auth/login", json=body, headers={HEADER: proof})
    # Under attack the password alone tells nothing: a factor must come with it, and
    # the answer is the one a wrong password gets.
    assert unproven.status_code == 401 and unproven.json()["second_factor_required"]
    wrong = login_body(newcomer, user.email, WRONG)
    challenge = newcomer.post("/auth/login", json=wrong).json()["challenge"]
    guessed = newcomer.post("/auth/login", json=wrong, headers={HEADER: solve(challenge)})
    assert guessed.status_code == 401 and guessed.json() == unproven.json()
    assert hashes.count == before + 2
    with_code = {**body, "second_factor": {"totp_code": users.next_totp(user.totp_secret)}}
    challenge = newcomer.post("/auth/login", json=with_code).json()["challenge"]
    owner = newcomer.post("/auth/login", json=with_code, headers={HEADER: solve(challenge)})
    assert owner.status_code == 200 and owner.json()["complete"]
    assert newcomer.get("/shield/metrics").status_code == 403  # not from this host
    with ctx.sessions() as db:
        assert Shield(db, ctx).metrics()["breaker_open"] == 1
    clock.advance(minutes=shield.BREAKER_WINDOW_MINUTES + 1)
    again = newcomer.post("/auth/login", json=login_body(newcomer, user.email, PASSWORD))
    assert again.status_code == 200 and not again.json()["complete"]


def open_the_breaker(from_ip) -> None:
    """Failed sign-ins on random addresses from many networks (breaker-DoS)."""
    for i in range(shield.BREAKER_MIN_ATTEMPTS):
        fail(from_ip(f"10.{i // 250}.{i % 250}.1"), f"random{i}@example.org", 1)


def test_the_breaker_holds_back_neither_a_first_sign_in_nor_a_passkey(
    users, sdk, from_ip, ctx, clock
):
    users.register("newcomer@example.org")  # confirmed, no second factor yet
    key = SoftAuthenticator(ORIGIN)
    users.register("passkey@example.org")
    login = sdk.start_login("passkey@example.org", PASSWORD)
    options = sdk.http.post("/auth/login/enrol/webauthn-options", json={"ticket": login.ticket})
    sdk.http.post(
        "/auth/login/enrol/webauthn",
        json={"ticket": login.ticket, "credential": key.create(options.json()), "name": "key"},
    )
    totp_user = users.signed_in("totp@example.org")
    clock.advance(minutes=shield.BREAKER_WINDOW_MINUTES + 1)  # a quiet window
    open_the_breaker(from_ip)
    with ctx.sessions() as db:
        assert Shield(db, ctx).metrics()["breaker_open"] == 1
    person = AuthClient(from_ip("198.51.100.7"))

    # The first sign-in after confirming the address goes on to enrol a factor...
    first = person.start_login("newcomer@example.org", PASSWORD)
    assert first.enrolment_required and not first.complete
    # ...while a wrong password there is answered as any attempt under the breaker.
    with pytest.raises(SecondFactorRequired):
        person.start_login("newcomer@example.org", WRONG)
    with pytest.raises(SecondFactorRequired):
        person.start_login(totp_user.email, PASSWORD)

    # A passkey signs in: its assertion comes with the password and is checked first.
    options = person.passkey_options("passkey@example.org")
    assertion = key.get(options, "localhost")
    signed_in = person.start_login("passkey@example.org", PASSWORD, {"webauthn": assertion})
    assert signed_in.complete
    person.authorize(signed_in)
    # An address with no passkey, or no account, gets options of the same shape.
    for address in ("totp@example.org", "nobody@example.org"):
        decoy = person.passkey_options(address)
        assert decoy.keys() == options.keys()
        assert 1 <= len(decoy["allowCredentials"]) <= 3
        assert decoy == person.passkey_options(address) | {"challenge": decoy["challenge"]}
    # Across addresses, decoys name as many passkeys, of as many id lengths, as
    # accounts do: neither a count above one nor a length marks a real account.
    decoys = [decoy_passkey_ids(ctx.server_key.mac, f"p{n}@example.org") for n in range(300)]
    assert {len(ids) for ids in decoys} == {1, 2, 3}
    assert {len(key_id) for ids in decoys for key_id in ids} == {16, 20, 32, 64}
    assert len({key_id for ids in decoys for key_id in ids}) == sum(map(len, decoys))


def test_automation_signals_raise_the_price_but_never_block(users, from_ip):
    user = users.signed_in("robot@example.org")
    automated = from_ip("192.0.2.50", **{"uhs-client-signals": "webdriver=1"})
    body = login_body(automated, user.email, PASSWORD)
    refused = automated.post("/auth/login", json=body)
    assert refused.status_code == 429
    assert refused.json()["challenge"]["parameters"]["data"]["cost"] == shield.COSTS[1]
    proof = solve(refused.json()["challenge"])
    assert automated.post("/auth/login", json=body, headers={HEADER: proof}).status_code == 200
    browser_name_no_fetch_metadata = from_ip(
        "192.0.2.51", **{"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
    )
    assert browser_name_no_fetch_metadata.post("/auth/login", json=body).status_code == 429


def test_past_100_failures_the_password_is_checked_only_with_a_second_factor(
    users, ctx, client, hashes
):
    """R7: past 100 failures no password is checked without a second factor."""
    user = users.signed_in("guessed@example.org")
    with ctx.sessions.begin() as db:
        for _ in range(shield.SECOND_FACTOR_AFTER):
            Shield(db, ctx).fail(user.email)
    sdk = AuthClient(client)
    before = hashes.count
    with pytest.raises(SecondFactorRequired):
        sdk.start_login(user.email, PASSWORD)  # solves the backoff's proof, then this
    assert hashes.count == before  # without a factor, no password was checked
    with pytest.raises(ApiError) as refused:
        sdk.start_login(user.email, PASSWORD, second_factor={"totp_code": "000000"})
    assert refused.value.status == 401
    assert refused.value.detail == "the e-mail address or the password is incorrect"
    # A wrong password with a right code gets the same answer, and the code is not
    # checked (nor spent): only the password's holder draws on the factor budget.
    code = users.next_totp(user.totp_secret)
    with pytest.raises(ApiError) as wrong_password:
        sdk.start_login(user.email, WRONG, second_factor={"totp_code": code})
    assert wrong_password.value.body == refused.value.body
    login = sdk.start_login(user.email, PASSWORD, second_factor={"totp_code": code})
    assert login.complete
    sdk.authorize(login)
    # The whole sign-in ended the run of failures: next time costs nothing.
    assert not sdk.start_login(user.email, PASSWORD).complete


def test_registrations_from_one_network_are_throttled(from_ip, outbox):
    client = from_ip("192.0.2.60")
    statuses: list[int] = []
    client.event_hooks["response"].append(lambda response: statuses.append(response.status_code))
    sdk = AuthClient(client)
    for i in range(int(shield.NETWORK_CAPACITY)):
        sdk.register(f"new{i}@example.org", PASSWORD, "Dr New", "practitioner", params=FAST_ARGON2)
    assert 429 not in statuses
    # One more from the same network: asked for a proof, which the SDK solves.
    sdk.register("one-more@example.org", PASSWORD, "Dr More", "practitioner", params=FAST_ARGON2)
    assert statuses[-2:] == [429, 202]
    assert outbox.messages("one-more@example.org")


def test_metrics_in_prometheus_format_for_the_host_or_the_token(users, from_ip, ctx):
    user = users.signed_in("metrics@example.org")
    client = from_ip("127.0.0.1")
    fail(client, user.email, 2)
    text = client.get("/metrics")
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE uhs_shield_failures_total counter" in text.text
    values = dict(
        line.split() for line in text.text.splitlines() if line and not line.startswith("#")
    )
    assert float(values["uhs_shield_failures_total"]) == 2
    assert float(values["uhs_shield_breaker_open"]) == 0
    outside = from_ip("203.0.113.80")
    assert outside.get("/metrics").status_code == 403
    ctx.settings.metrics_token = SecretStr("operator-secret")
    assert outside.get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 403
    answer = outside.get("/shield/metrics", headers={"authorization": "Bearer operator-secret"})
    assert {m["name"]: m["value"] for m in answer.json()}["failures"] == 2


def test_purge_forgets_only_what_no_decision_needs(users, from_ip, ctx, clock):
    from sqlalchemy import func, select

    from uhealthsec.server.shield.models import (
        ShieldAccount,
        ShieldMinute,
        ShieldNetwork,
        ShieldSpentChallenge,
    )

    client = from_ip("192.0.2.70")
    fail(client, "someone@example.org", shield.BACKOFF_AFTER)
    refused = client.post("/auth/login", json=login_body(client, "someone@example.org", WRONG))
    client.post(
        "/auth/login",
        json=login_body(client, "someone@example.org", WRONG),
        headers={HEADER: solve(refused.json()["challenge"])},
    )

    def rows() -> dict[str, int]:
        with ctx.sessions() as db:
            return {
                model.__tablename__: db.scalar(select(func.count()).select_from(model))
                for model in (ShieldAccount, ShieldMinute, ShieldNetwork, ShieldSpentChallenge)
            }

    everything = rows()
    assert all(everything.values())
    with ctx.sessions.begin() as db:
        assert Shield(db, ctx).purge(account_addresses(db)) == 0  # all still in use
    clock.advance(minutes=10)  # the spent challenge has expired
    with ctx.sessions.begin() as db:
        assert Shield(db, ctx).purge(account_addresses(db)) == 1
    clock.advance(days=31)
    with ctx.sessions.begin() as db:
        Shield(db, ctx).purge(account_addresses(db))
    assert rows() == dict.fromkeys(everything, 0)


def test_an_operator_can_turn_the_shield_off(users, from_ip, ctx, hashes):
    ctx.settings.shield_enabled = False
    client = from_ip("192.0.2.90")
    fail(client, "anyone@example.org", shield.BACKOFF_AFTER + 3)
    assert hashes.count == shield.BACKOFF_AFTER + 3  # every attempt hashed, none asked


def test_r7_a_malformed_passkey_sent_with_the_password_does_not_tell_the_password(
    users, from_ip, ctx, clock
):
    """R7/R27: under the breaker (or past 100 failures on the address) the password of
    an account with a factor is answered only together with a valid factor; a malformed
    passkey answer sent with it is answered as a wrong one, whether the password is
    right or not, so the pair tells nothing."""
    victim = users.signed_in("stuffed@example.org")
    clock.advance(minutes=shield.BREAKER_WINDOW_MINUTES + 1)
    open_the_breaker(from_ip)
    stuffer = AuthClient(from_ip("203.0.113.9"))
    answers = {}
    for password in (PASSWORD, "not the password at all"):
        with pytest.raises(ApiError) as refused:
            stuffer.start_login(victim.email, password, {"webauthn": {"rawId": "!"}})
        answers[password] = (refused.value.status, refused.value.body.get("detail"))
    assert answers[PASSWORD] == answers["not the password at all"], answers
