"""Two API processes against one database and one blob store, as on two hosts behind
one proxy: `uhs-server serve` twice, on two ports, sharing the database, the data
directory (server key, blob store, outbox) and the public address; the first runs
two workers on its port, so three processes answer in all. Clients are spread over
both ports: whatever one process decides (a session, its end, a failure count, a
keyed write, the journal's order), the others abide by.

Both log in JSON (UHS_LOG_FORMAT=json); the last test runs a small practice scenario
through them and reads both logs whole for anything secret or personal.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select

from tests.deployment import WallClock
from tests.server.records.conftest import device
from tests.server_fixtures import (
    DATABASES,
    PASSWORD,
    Outbox,
    Users,
    fresh_database,
    make_settings,
)
from tests.serving import serve_process
from uhealthsec.client.api import AuthClient
from uhealthsec.client.journal import JournalClient
from uhealthsec.crypto.keystore import Argon2Params, derive_password_secrets
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode
from uhealthsec.server import bootstrap as bootstrap_module
from uhealthsec.server.accounts.models import Practice
from uhealthsec.server.app import build_context
from uhealthsec.server.audit.models import JournalOutbox, JournalRecord
from uhealthsec.server.audit.outbox import sequence_stale
from uhealthsec.server.auth.factors import FACTOR_BUDGET
from uhealthsec.server.context import AppContext
from uhealthsec.server.security.models import TokenKey
from uhealthsec.server.server_key import ServerKey
from uhealthsec.server.settings import Settings
from uhealthsec.server.shield.service import BACKOFF_AFTER

#: The one address clients use (the proxy's): what both processes sign tokens for.
PUBLIC_URL = "http://localhost:8000"


@dataclass
class Pair:
    a: httpx2.Client  # two workers on one port
    b: httpx2.Client
    logs: tuple[Path, Path]
    #: The operator's view of the shared database and data directory.
    ctx: AppContext
    #: Registers and signs people in through ``a``.
    users: Users

    def both(self) -> tuple[httpx2.Client, httpx2.Client]:
        return self.a, self.b


@pytest.fixture(scope="module", params=DATABASES)
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    home = tmp_path_factory.mktemp("two-processes")
    shared = home / "var"
    with ExitStack() as stack:
        url = stack.enter_context(fresh_database(request, request.param, home))
        environment = {
            "UHS_DATA_DIR": str(shared),
            "UHS_DATABASE_URL": url,
            "UHS_PUBLIC_URL": PUBLIC_URL,
            "UHS_LOG_FORMAT": "json",
        }
        # One server key for both, as each host is given the same. The rest of a first
        # start (the OAuth clients, the token key, the logs' origins) they make together.
        shared.mkdir(mode=0o700)
        ServerKey.load_or_create(shared / "server.key")
        servers = []
        for name, arguments in (("a", ["--workers", "2"]), ("b", [])):
            folder = home / name
            folder.mkdir()
            servers.append(serve_process(folder, *arguments, settings=lambda _: environment))
        with ThreadPoolExecutor(max_workers=2) as pool:
            (a, a_log), (b, b_log) = pool.map(stack.enter_context, servers)
        settings = Settings(
            _env_file=None, data_dir=shared, database_url=url, public_url=PUBLIC_URL
        )
        ctx = build_context(settings, migrate_schema=False)
        stack.callback(ctx.close)
        clients = [stack.enter_context(httpx2.Client(base_url=u, timeout=60)) for u in (a, b)]
        users = Users(AuthClient(clients[0]), Outbox(settings.outbox_dir), WallClock(), ctx)
        yield Pair(clients[0], clients[1], (a_log, b_log), ctx, users)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_issued_by_one_is_accepted_by_the_other(pair: Pair):
    user = pair.users.signed_in("token@example.org", "patient")
    me = pair.b.get("/accounts/me", headers=bearer(user.tokens.access_token))
    assert me.status_code == 200, me.text
    assert me.json()["id"] == user.account_id
    # Refreshed by the other, and the new token accepted where the first was issued.
    refreshed = AuthClient(pair.b).refresh(user.tokens)
    assert pair.a.get("/accounts/me", headers=bearer(refreshed.access_token)).status_code == 200


def test_a_session_ended_on_one_is_refused_by_both(pair: Pair):
    user = pair.users.signed_in("revoked@example.org", "patient")
    token = user.tokens.access_token
    for server in pair.both():
        assert server.get("/accounts/me", headers=bearer(token)).status_code == 200
    assert pair.b.post("/auth/logout", headers=bearer(token)).status_code == 204
    for server in pair.both():
        refused = server.get("/accounts/me", headers=bearer(token))
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    # Nor can the device get a new access token from either.
    for server in pair.both():
        answer = server.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": user.tokens.refresh_token,
                "client_id": AuthClient(server).client_id,
            },
        )
        assert answer.status_code == 400, answer.text


def _auth_secret(server: httpx2.Client, email: str, password: str) -> str:
    salt = server.post("/auth/prelogin", json={"email": email}).json()["argon2_params"]
    params = Argon2Params.decode(b64u_decode(salt))
    return b64u_encode(derive_password_secrets(password, params).auth_secret)


def test_failed_sign_ins_split_over_both_meet_the_shield_at_the_same_count(pair: Pair):
    """A brute force spread over the two processes is stopped as one on one process
    is: after BACKOFF_AFTER failures on the address, whichever answers asks for a proof
    of work before it looks at a password."""
    user = pair.users.signed_in("guessed@example.org", "patient")
    wrong = {"email": user.email, "auth_secret": _auth_secret(pair.a, user.email, "not it at all")}
    statuses = [
        (pair.a if attempt % 2 else pair.b).post("/auth/login", json=wrong).status_code
        for attempt in range(BACKOFF_AFTER)
    ]
    assert statuses == [401] * BACKOFF_AFTER
    for server in pair.both():
        stopped = server.post("/auth/login", json=wrong)
        assert stopped.status_code == 429, stopped.text
        assert "challenge" in stopped.json()
    # The right password too waits for the proof: the address is backing off on both.
    right = {"email": user.email, "auth_secret": _auth_secret(pair.b, user.email, PASSWORD)}
    assert pair.b.post("/auth/login", json=right).status_code == 429


def test_wrong_codes_split_over_both_lock_the_factors_at_the_same_count(pair: Pair):
    """The second factors' budget (a rate limit on guessing codes) is the account's,
    wherever its guesses land."""
    user = pair.users.signed_in("codes@example.org", "patient")
    token = user.tokens.access_token
    answers = [
        (pair.a if attempt % 2 else pair.b).post(
            "/auth/step-up", json={"totp_code": "000000"}, headers=bearer(token)
        )
        for attempt in range(FACTOR_BUDGET)
    ]
    assert [a.status_code for a in answers] == [401] * FACTOR_BUDGET, [a.text for a in answers]
    for server in pair.both():
        locked = server.post("/auth/step-up", json={"totp_code": "000000"}, headers=bearer(token))
        assert locked.status_code == 429, locked.text
        assert locked.json()["title"] == "Too many attempts"


def test_a_keyed_write_done_by_one_is_not_done_again_by_the_other(pair: Pair):
    """An Idempotency-Key retried on the other process (the proxy chose another
    upstream after a lost answer) finds the write done."""
    user = pair.users.signed_in("keyed@example.org", "practitioner")
    name = f"Cabinet {uuid.uuid4().hex[:8]}"
    headers = {**bearer(user.tokens.access_token), "Idempotency-Key": str(uuid.uuid4())}
    first = pair.a.post("/practices", json={"name": name}, headers=headers)
    assert first.status_code == 201, first.text
    again = pair.b.post("/practices", json={"name": name}, headers=headers)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"], again.text
    with pair.ctx.sessions() as db:
        made = db.scalar(select(func.count()).select_from(Practice).where(Practice.name == name))
    assert made == 1


def _call(server: httpx2.Client, token: str):
    def call(method: str, path: str, **kwargs: Any) -> httpx2.Response:
        return server.request(method, path, headers=bearer(token), **kwargs)

    return call


def test_the_journal_stays_gap_free_and_verifies_with_clients_on_both(pair: Pair):
    """Journaled requests sent at once over both ports: every entry is in the journal
    once, without a gap, and every head either server signed verifies."""
    people = [pair.users.signed_in(f"reader{i}@example.org", "patient") for i in range(2)]

    def read(i: int) -> int:
        server = pair.a if i % 2 else pair.b
        token = people[i % len(people)].tokens.access_token
        return server.get("/accounts/me", headers=bearer(token)).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(read, range(48))) == {200}

    # What `uhs-server worker` does 30 s on: sequence what a request staged but did not
    # sequence itself (the entry of a lock the server set, whose request answered 429).
    sequence_stale(pair.ctx.journal, datetime.now(UTC), stale_after=timedelta(0))
    token = people[0].tokens.access_token
    first = JournalClient(_call(pair.a, token))
    verified = first.verify(all_heads=True)
    # The other process serves the same journal, consistent with the head pinned above.
    again = JournalClient(_call(pair.b, token), pin=first.pin).verify(all_heads=True)
    assert again.size >= verified.size
    with pair.ctx.sessions() as db:
        count, last = db.execute(select(func.count(), func.max(JournalRecord.log_index))).one()
        staged = db.scalar(select(func.count()).select_from(JournalOutbox))
    assert count == last + 1 >= again.size  # indexes 0 to last, each once
    assert staged == 0


def test_several_workers_share_one_port_and_one_metrics_page(pair: Pair):
    """`--workers 2`: both workers answer on the first port, and GET /metrics (from
    loopback) counts what every worker answered, whichever worker serves it."""

    def answered() -> float:
        page = pair.a.get("/metrics").text
        line = next(
            (
                line
                for line in page.splitlines()
                if line.startswith('uhs_http_responses_total{method="GET",route="/ready"')
                and 'status="200"' in line
            ),
            None,
        )
        return float(line.rsplit(" ", 1)[1]) if line else 0.0

    def workers() -> set[int]:
        return {r["process"] for r in _json_lines(pair.logs[0]) if r.get("route") == "/ready"}

    def ready(_: int) -> int:
        # A connection each, so that the kernel hands them to either worker.
        return httpx2.get(pair.a.base_url.join("/ready"), timeout=60).status_code

    before, sent = answered(), 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        # Rounds until both workers have answered (the kernel chooses, unevenly).
        while len(workers()) < 2 and sent < 400:
            assert set(pool.map(ready, range(40))) == {200}
            sent += 40
    assert len(workers()) == 2, f"one worker answered all {sent} requests"
    assert answered() - before == sent


def _json_lines(log: Path) -> list[dict[str, Any]]:
    """The records of a server's log (after what the command printed at start), each
    one JSON object."""
    text = log.read_text()
    _, _, records = text.partition("export UHS_SERVER=")
    lines = records.splitlines()[1:]
    return [json.loads(line) for line in lines if line.strip()]


def test_json_logs_of_a_practice_s_day_hold_nothing_secret_or_personal(pair: Pair, tmp_path):
    """Register, sign in, send a document, read it, on both processes: each log line
    is one JSON object with the request's route template, and neither log holds a
    password, token, key, address, name, file name, title or word of the document."""
    users = pair.users
    alice = users.signed_in("alice.martin@example.org", "practitioner")
    carol = users.signed_in("carol.dupont@example.org", "patient")
    alice_device = device(pair.a, users, alice)
    practice_id = alice_device.call("POST", "/practices", json={"name": "Cabinet Lilas"}).json()[
        "id"
    ]
    users.join_practice(alice, practice_id, carol)
    patient_file = alice_device.patient_file(practice_id, carol.email)["id"]
    report = tmp_path / "bilan-tension-carol.txt"
    report.write_text("Tension 15/9, hypertension confirmee; controle dans 3 mois.\n" * 40)
    document_id = alice_device.send(
        report, patient_file_id=patient_file, to=[carol.email], title="Bilan tensionnel"
    )
    carol_device = device(pair.b, users, carol)  # the other process reads it
    (tmp_path / "carol").mkdir()
    received = carol_device.fetch(document_id, tmp_path / "carol")
    assert received.path.read_bytes() == report.read_bytes()
    view = carol_device.document_view(document_id)
    document_key = carol_device._unwrap(view.versions[-1])

    secrets = {
        "password": PASSWORD,
        "access token": alice.tokens.access_token,
        "refresh token": alice.tokens.refresh_token,
        "patient's access token": carol.tokens.access_token,
        "TOTP secret": alice.totp_secret,
        "recovery code": alice.recovery_codes[0],
        "document key (base64url)": b64u_encode(document_key),
        "document key (hex)": document_key.hex(),
        "address": "alice.martin",
        "patient's address": "carol.dupont",
        "name": "Dr Alice.Martin",
        "file name": "bilan-tension",
        "title": "Bilan tensionnel",
        "content": "hypertension",
        "practice": "Cabinet Lilas",
        "document id": str(document_id),
        "account id": alice.account_id,
    }
    routes = set()
    for log in pair.logs:
        text = log.read_text()
        for what, secret in secrets.items():
            assert secret.lower() not in text.lower(), f"the {what} is in {log}"
        records = _json_lines(log)
        assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
        for record in records:
            if record["logger"] == "uhealthsec.access":
                assert {"request_id", "method", "route", "status", "duration_ms"} <= record.keys()
                routes.add(record["route"])
    assert {"/auth/login", "/documents/{document_id}", "/accounts/me"} <= routes


def test_processes_starting_together_on_a_new_database_make_its_first_rows_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Two processes' first starts overlap: the second waits for the first's clients
    and token key instead of failing on the clients' keys or adding a second key."""
    first_inside, go_on = threading.Event(), threading.Event()
    second_inside = threading.Event()
    make_clients = bootstrap_module.ensure_clients

    def ensure_clients(db, issuer: str) -> None:
        if not first_inside.is_set():
            first_inside.set()
            go_on.wait(timeout=30)
        else:
            second_inside.set()
        make_clients(db, issuer)

    monkeypatch.setattr(bootstrap_module, "ensure_clients", ensure_clients)
    settings = make_settings(tmp_path, database_url)
    contexts: list[AppContext] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(build_context, settings, migrate_schema=False)
        assert first_inside.wait(timeout=60)
        second = pool.submit(build_context, settings, migrate_schema=False)
        # The second starts while the first is inside; it must not overtake it.
        overtook = second_inside.wait(timeout=1)
        go_on.set()
        contexts = [first.result(timeout=60), second.result(timeout=60)]
    try:
        assert not overtook
        with contexts[0].sessions() as db:
            keys = db.scalar(
                select(func.count()).select_from(TokenKey).where(TokenKey.retired_at.is_(None))
            )
        assert keys == 1
    finally:
        for ctx in contexts:
            ctx.close()
