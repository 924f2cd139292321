"""Concurrent writers to one counter, on SQLite and PostgreSQL: every number that a
request takes from the database (a message's place in its thread, a document's next
version, a patient's next consent version) is taken atomically, so that concurrent
requests are ordered rather than refused with a 500 or left to overwrite each other.

Each test serves the API over real HTTP (uvicorn, its thread pool, the database pool)
and starts its clients together at a barrier."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import httpx2
import pytest

from tests.server.records.conftest import Person, Practice, practice, report  # noqa: F401
from tests.serving import ServerThread
from uhealthsec.client.api import ApiError
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


def _problem(error: Exception) -> int:
    assert isinstance(error, ApiError), repr(error)
    return error.status
