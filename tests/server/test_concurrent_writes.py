"""Concurrent writers to one counter or one state, on SQLite and PostgreSQL: every
number that a request takes from the database (a message's place in its thread, a
document's next version, a patient's next consent version, a failure count) is taken
atomically, and every state that a request checks and then changes (a request's
status, a token or code used once) is checked under a lock, so that concurrent
requests are ordered as if they came one after the other, rather than refused with a
500 or left to write over each other.

Each test serves the API over real HTTP (uvicorn, its thread pool, the database pool)
and starts its clients together at a barrier."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import httpx2
import pytest
from sqlalchemy import select

from tests.server.records.conftest import (  # noqa: F401  (shared fixtures)
    Person,
    Practice,
    next_version_body,
    practice,
    report,
    version_body,
)
from tests.server_fixtures import FAST_ARGON2, PASSWORD
from tests.serving import ServerThread
from uhealthsec.client import wire
from uhealthsec.client.api import ApiError, AuthClient, Tokens, _redirect_result
from uhealthsec.client.consent import ConsentClient
from uhealthsec.client.exchange import ExchangeClient, MessagingClient
from uhealthsec.crypto.manifest import Reader
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.server.app import create_app
from uhealthsec.server.auth.models import LoginFlow
from uhealthsec.server.auth.service import MAX_MFA_FAILURES
from uhealthsec.server.context import token_hash
from uhealthsec.server.keys.models import DirectoryRecord

T = TypeVar("T")

CLIENTS = 20


@pytest.fixture
def served(ctx) -> Iterator[str]:
    """The API over real HTTP, as `uhs-server serve` runs it, beside the test client."""
    serving = ServerThread(create_app(ctx=ctx), ctx.settings).start()
    yield serving.url
    serving.stop()


def together(count: int, action: Callable[[int], T]) -> list[T | Exception]:
    """``action(0)`` to ``action(count - 1)``, each in its own thread, released at once;
    each one's result, or the exception it raised."""
    start = threading.Barrier(count)

    def run(i: int) -> T:
        start.wait(timeout=30)
        return action(i)

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(run, i) for i in range(count)]
    return [f.exception() or f.result() for f in futures]  # type: ignore[misc]


def over_http(url: str, person: Person) -> ExchangeClient:
    """Another device of ``person``'s, with its own connection to the served API."""
    ex = person.exchange
    return ExchangeClient(
        httpx2.Client(base_url=url, timeout=60), lambda: person.user.tokens.access_token, ex._keys
    )


def test_twenty_clients_writing_to_one_thread_get_consecutive_numbers(
    practice: Practice,  # noqa: F811
    served: str,
):
    alice = MessagingClient(practice.alice.exchange)
    thread_id = alice.start_thread([practice.bob.email])["id"]
    # Bob, of another practice, sees Alice's key entry once he holds a message she signed.
    alice.send(thread_id, "first")
    rounds = 3
    writers = [
        MessagingClient(over_http(served, practice.alice if i % 2 else practice.bob))
        for i in range(CLIENTS)
    ]

    def write(i: int) -> list[str]:
        sent = []
        for r in range(rounds):
            text = f"client {i}, message {r}"
            writers[i].send(thread_id, text)
            sent.append(text)
        return sent

    outcomes = together(CLIENTS, write)
    failures = [o for o in outcomes if isinstance(o, Exception)]
    assert failures == [], [f"{getattr(f, 'status', '')} {f}" for f in failures]

    received = MessagingClient(practice.bob.exchange).read(thread_id)
    assert [m.seq for m in received] == list(range(1, CLIENTS * rounds + 2))
    sent = ["first", *(t for o in outcomes for t in o)]  # type: ignore[union-attr]
    assert sorted(m.text for m in received) == sorted(sent)
    # Each client's own messages stay in the order it sent them.
    for i in range(CLIENTS):
        mine = [m.text for m in received if m.text.startswith(f"client {i},")]
        assert mine == [f"client {i}, message {r}" for r in range(rounds)]
    [listed] = [t for t in MessagingClient(practice.bob.exchange).threads() if t["id"] == thread_id]
    assert listed["last_seq"] == CLIENTS * rounds + 1
    # One has read what one wrote: Alice's read mark is her last message, never one of
    # hers before it that committed later.
    hers = max(m.seq for m in received if m.sender_email == practice.alice.email)
    read_by_alice = [m.seq for m in received if practice.alice.email in m.read_by]
    assert read_by_alice == list(range(1, hers + 1))


def _status(outcome: object) -> int:
    """200 for a request that succeeded, else the status of its refusal."""
    if isinstance(outcome, ApiError):
        return outcome.status
    assert not isinstance(outcome, Exception), repr(outcome)
    return 200


def test_concurrent_new_versions_of_one_document_one_is_accepted(
    practice: Practice,  # noqa: F811
    report,  # noqa: F811
    served: str,
):
    """Eight devices of Alice's post version 2 of one document at once: the first is
    accepted and each other is told that the latest version changed (409), as when
    they come one after the other; none is a 500 and no number is used twice."""
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    count = 8
    recipients = alice.exchange._recipients([bob.email])
    bodies = [
        next_version_body(practice, report, document_id, alice.exchange, recipients)
        for _ in range(count)
    ]
    devices = [over_http(served, alice) for _ in range(count)]
    outcomes = together(
        count,
        lambda i: devices[i].call(
            "POST", f"/documents/{document_id}/versions", json={"number": 2, **bodies[i]}
        ),
    )
    assert sorted(_status(o) for o in outcomes) == [200] + [409] * (count - 1), outcomes
    for refusal in outcomes:
        if isinstance(refusal, ApiError):
            assert "the latest version is 2" in refusal.detail
    view = alice.exchange.call("GET", f"/documents/{document_id}").json()
    assert [v["number"] for v in view["versions"]] == [1, 2]
    # The accepted version is the one served, and Bob reads it.
    assert bob.exchange.fetch(document_id, report.with_suffix(".bob")).path.read_bytes() == (
        report.read_bytes()
    )


def test_concurrent_consent_decisions_are_numbered_one_after_the_other(
    practice: Practice,  # noqa: F811
    served: str,
):
    """Carol's devices permit and deny sharing with Bob at once: every decision is
    recorded (on SQLite the later ones used to be refused with a 409), as one version
    after the other, each replacing the one before it, one in force."""
    carol = practice.carol
    count = 10
    devices = [ConsentClient(over_http(served, carol)) for _ in range(count)]
    outcomes = together(
        count,
        lambda i: devices[i].decide(
            practice.id, "outside_team", "deny" if i % 2 == 0 else "permit", practice.bob.email
        ),
    )
    assert [_status(o) for o in outcomes] == [200] * count, outcomes
    history = ConsentClient(carol.exchange).directives(practice.id, history=True)
    about_bob = [d for d in history if d["recipient_email"] == practice.bob.email]
    assert [d["version"] for d in history] == list(range(1, len(history) + 1))
    # Each version changes the decision before it (an unchanged one records nothing).
    decisions = [d["decision"] for d in about_bob]
    assert all(a != b for a, b in itertools.pairwise(decisions)), decisions
    assert [d["superseded_at"] is None for d in about_bob] == [False] * (len(about_bob) - 1) + [
        True
    ]
    in_force = ConsentClient(carol.exchange).directives(practice.id)
    assert [d["decision"] for d in in_force if d["recipient_email"] == practice.bob.email] == [
        decisions[-1]
    ]


def test_a_rights_request_changes_state_once_when_both_sides_act_at_once(
    practice: Practice,  # noqa: F811
    served: str,
):
    """Carol withdraws her request while Alice refuses it, each from three devices at
    once: one change is made and the others are told it is closed already (409), as
    when they come one after the other; no change is written over another (before,
    every one was accepted and the last to commit decided the state)."""
    carol, alice = practice.carol, practice.alice
    asked = carol.exchange.call(
        "POST", "/rights-requests", json={"practice_id": practice.id, "right": "rectification"}
    ).json()
    path = f"/rights-requests/{asked['id']}"
    reason = {"reason": "The records are accurate as they stand."}
    devices = [over_http(served, carol if i % 2 else alice) for i in range(6)]
    outcomes = together(
        6,
        lambda i: (
            devices[i].call("POST", f"{path}/withdraw")
            if i % 2
            else devices[i].call("POST", f"{path}/refuse", json=reason)
        ),
    )
    assert sorted(_status(o) for o in outcomes) == [200] + [409] * 5, outcomes
    [won] = [o.json() for o in outcomes if not isinstance(o, Exception)]
    [now] = [
        r for r in carol.exchange.call("GET", "/rights-requests").json() if r["id"] == asked["id"]
    ]
    assert now["status"] == won["status"] in ("withdrawn", "refused")
    assert now["reason"] == (reason["reason"] if won["status"] == "refused" else None)


# -- things used once: a login flow, an authorization code, a refresh token, a mailed code


def _auth_clients(url: str, count: int) -> list[AuthClient]:
    return [AuthClient(httpx2.Client(base_url=url, timeout=60)) for _ in range(count)]


def _signed_in(sdk: AuthClient, tokens: Tokens) -> int:
    return sdk.http.get("/accounts/me", headers=sdk.bearer(tokens)).status_code


def _one_winner(outcomes: list) -> Tokens:
    """The one request that succeeded; every other was refused as invalid_grant."""
    [won] = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert [(_status(o), o.body["error"]) for o in refused] == [(400, "invalid_grant")] * (
        len(outcomes) - 1
    ), refused
    return won  # type: ignore[no-any-return]


def test_a_refresh_token_used_by_several_requests_at_once_is_reuse(users, sdk, served):
    """Six requests present one refresh token at once: one is answered, the others
    are its reuse, which revokes the whole family, the new tokens included (before,
    each of them got new tokens: reuse went unseen)."""
    user = users.signed_in("rot@example.org")
    clients = _auth_clients(served, 6)
    won = _one_winner(together(6, lambda i: clients[i].refresh(user.tokens)))
    assert _signed_in(sdk, won) == 401
    with pytest.raises(ApiError):
        sdk.refresh(won)


def test_an_authorization_code_exchanged_at_once_by_several_requests_is_reuse(users, sdk, served):
    user = users.signed_in("code@example.org")
    login = users.completed_login(user)
    params, state, verifier = sdk._authorization_request("tests")
    answer = sdk.http.post(
        "/oauth/authorize", data={**params, "ticket": login.ticket}, follow_redirects=False
    )
    code = _redirect_result(answer.headers["location"], state, "code")
    clients = _auth_clients(served, 6)
    won = _one_winner(together(6, lambda i: clients[i].exchange_code(code, verifier)))
    # A code used twice was stolen: what it gave is revoked (RFC 6749 4.1.2).
    assert _signed_in(sdk, won) == 401


def test_a_sign_in_is_handed_to_the_authorization_endpoint_once(users, sdk, served):
    user = users.signed_in("once@example.org")
    login = users.completed_login(user)
    clients = _auth_clients(served, 6)
    outcomes = together(6, lambda i: clients[i].authorize(login, device_name=f"device {i}"))
    assert sorted(_status(o) for o in outcomes) == [200] + [401] * 5, outcomes
    [tokens] = [o for o in outcomes if isinstance(o, Tokens)]
    assert _signed_in(sdk, tokens) == 200
    listed = sdk.http.get("/auth/sessions", headers=sdk.bearer(tokens)).json()
    assert len([s for s in listed if s["device_name"].startswith("device")]) == 1


def test_wrong_codes_given_at_once_are_each_counted(users, sdk, served, ctx, clock):
    """Five wrong codes for one sign-in at once: each is counted on the sign-in (not
    one over another), so that it ends after five, and the right code then comes too
    late (before, most counts were lost and the sign-in went on)."""
    user = users.signed_in("guess@example.org")
    login = sdk.start_login(user.email, user.password)
    right = users.next_totp(user.totp_secret)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    clients = _auth_clients(served, MAX_MFA_FAILURES)
    outcomes = together(
        MAX_MFA_FAILURES, lambda i: clients[i].second_factor(login, totp_code=wrong)
    )
    assert [_status(o) for o in outcomes] == [401] * MAX_MFA_FAILURES, outcomes
    with ctx.sessions() as db:
        failures = db.scalar(
            select(LoginFlow.mfa_failures).where(LoginFlow.ticket_hash == token_hash(login.ticket))
        )
    assert failures == MAX_MFA_FAILURES
    with pytest.raises(ApiError) as late:
        sdk.second_factor(login, totp_code=right)
    assert late.value.status == 401


def test_a_mailed_code_used_at_once_activates_the_account_once(users, sdk, outbox, served, ctx):
    """Six requests confirm one registration with its code at once: one activates the
    account and publishes its keys, the others find the code used (before, the keys
    were published once per request, or the second publication failed with a 500)."""
    email = "twice@example.org"
    sdk.register(email, PASSWORD, "Dr Twice", "practitioner", params=FAST_ARGON2.with_new_salt())
    body = {
        "code": outbox.last_code(email),
        "auth_secret": b64u_encode(sdk.derive_auth_secret(email, PASSWORD)),
    }
    clients = _auth_clients(served, 6)
    outcomes = together(
        6, lambda i: clients[i].http.post("/accounts/email-verifications", json=body)
    )
    assert sorted(o.status_code for o in outcomes) == [204] + [400] * 5, outcomes
    with ctx.sessions() as db:
        entries = db.scalars(
            select(DirectoryRecord.key_version).where(DirectoryRecord.email == email)
        ).all()
    assert entries == [1]


def test_an_invitation_accepted_at_once_from_several_devices_is_accepted_once(
    practice: Practice,  # noqa: F811
    users,
    outbox,
    served: str,
):
    """Before, the second acceptance also found the invitation open and failed to add
    the same member again with a 500."""
    dave = users.signed_in("dave@example.org", "patient")
    practice.alice.exchange.call(
        "POST",
        f"/practices/{practice.id}/invitations",
        json={"email": dave.email, "role": "patient"},
    )
    code = outbox.last_code(dave.email, "invitation code")
    clients = _auth_clients(served, 6)
    outcomes = together(
        6,
        lambda i: clients[i].http.post(
            "/practices/invitations/accept",
            json={"code": code},
            headers=clients[i].bearer(dave.tokens),
        ),
    )
    assert sorted(o.status_code for o in outcomes) == [200] + [400] * 5, outcomes
    members = practice.alice.exchange.call("GET", f"/practices/{practice.id}/members").json()
    assert [m["account_id"] for m in members].count(dave.account_id) == 1


def test_a_claim_opened_and_closed_at_once_from_several_devices_counts_once(
    practice: Practice,  # noqa: F811
    served: str,
    clock,
):
    """Six devices of Alice's open a claim on Carol's file at once, then close it at
    once: one of each is made, the others are refused (409) as they would be one after
    the other (before: the first retention facts of a file were made by each request,
    500s, and a claim was opened or closed by several)."""
    path = f"/patient-files/{practice.patient_file}/retention/claim"
    devices = [over_http(served, practice.alice) for _ in range(6)]
    today = clock.now.date().isoformat()
    opened = together(6, lambda i: devices[i].call("POST", path, json={"on": today}))
    assert sorted(_status(o) for o in opened) == [200] + [409] * 5, opened
    assert practice.alice.exchange.call("GET", path.removesuffix("/claim")).json()["claim_open"]
    closed = together(6, lambda i: devices[i].call("POST", f"{path}/close", json={"on": today}))
    assert sorted(_status(o) for o in closed) == [200] + [409] * 5, closed
    retention = practice.alice.exchange.call("GET", path.removesuffix("/claim")).json()
    assert (retention["claim_open"], retention["suspended_days"]) == (False, 0)


def test_one_thread_started_by_the_same_request_sent_at_once_is_made_once(
    practice: Practice,  # noqa: F811
    served: str,
):
    """A thread's id derives from its signed members: the same request sent six times
    at once (a client retrying) makes it once and the others are told it exists (409),
    as they would be one after the other (before: 500s, the id inserted again)."""
    thread_id, request = MessagingClient(practice.alice.exchange).thread_request(
        [
            Reader(uuid.UUID(practice.alice.user.account_id), practice.alice.email),
            Reader(uuid.UUID(practice.bob.user.account_id), practice.bob.email),
        ]
    )
    body = wire.body(request)
    body["participant_ids"] = [practice.bob.user.account_id]
    devices = [over_http(served, practice.alice) for _ in range(6)]
    outcomes = together(6, lambda i: devices[i].call("POST", "/threads", json=body))
    assert sorted(_status(o) for o in outcomes) == [200] + [409] * 5, outcomes
    [made] = [o.json() for o in outcomes if not isinstance(o, Exception)]
    assert made["id"] == str(thread_id)


def test_one_upload_given_to_several_new_documents_at_once_is_attached_once(
    practice: Practice,  # noqa: F811
    report,  # noqa: F811
    served: str,
    monkeypatch,
):
    """Six new documents signed over one upload, posted at once: one is made, the
    others are told the upload is not theirs to use (400), as one after the other
    (before, on PostgreSQL, each found it unattached and all but one failed on the
    versions' unique blob with a 500)."""
    alice = practice.alice.exchange
    kept: dict[str, object] = {}
    upload = alice._encrypt_and_upload

    def one_upload(*args):
        kept.setdefault("upload", upload(*args))
        return kept["upload"]

    monkeypatch.setattr(alice, "_encrypt_and_upload", one_upload)
    recipients = alice._recipients([practice.bob.email])
    bodies = [version_body(practice, report, recipients=recipients) for _ in range(6)]
    assert len({b["blob_id"] for b in bodies}) == 1
    devices = [over_http(served, practice.alice) for _ in range(6)]
    outcomes = together(6, lambda i: devices[i].call("POST", "/documents", json=bodies[i]))
    assert sorted(_status(o) for o in outcomes) == [200] + [400] * 5, outcomes
    for refusal in outcomes:
        if isinstance(refusal, ApiError):
            assert "unknown upload" in refusal.detail
    listed = alice.call("GET", "/documents", params={"patient_file_id": practice.patient_file})
    assert len(listed.json()) == 1
