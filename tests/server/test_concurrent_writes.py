"""Concurrent writers to one counter, on SQLite and PostgreSQL: every number that a
request takes from the database (a message's place in its thread, a document's next
version, a patient's next consent version) is taken atomically, so that concurrent
requests are ordered rather than refused with a 500 or left to overwrite each other.

Each test serves the API over real HTTP (uvicorn, its thread pool, the database pool)
and starts its clients together at a barrier."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import httpx2
import pytest

from tests.server.records.conftest import (  # noqa: F401  (shared fixtures)
    Person,
    Practice,
    next_version_body,
    practice,
    report,
)
from tests.serving import ServerThread
from uhealthsec.client.api import ApiError
from uhealthsec.client.consent import ConsentClient
from uhealthsec.client.exchange import ExchangeClient, MessagingClient
from uhealthsec.server.app import create_app

T = TypeVar("T")

CLIENTS = 20


@pytest.fixture
def served(ctx) -> Iterator[str]:
    """The API over real HTTP, as `uhs serve` runs it, beside the test client."""
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
