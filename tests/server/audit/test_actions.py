"""Journal actions are part of the signed format: a written table (audit/actions.py),
complete for the application's routes, identical to PROTOCOL 13.3, and independent
of what the routes' functions are called or where they live."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from uhealthsec.crypto.journal import JournalEntry
from uhealthsec.protocol.encoding import b64u_decode
from uhealthsec.server.audit.actions import ACTIONS, UNKNOWN, route_action
from uhealthsec.server.audit.middleware import action_name
from uhealthsec.server.auth.factors import LOCK_ACTION
from uhealthsec.server.auth.unblocking import BLOCK_ACTION
from uhealthsec.server.compliance.dashboard import RESTORE_DRILL_ACTION
from uhealthsec.server.incidents.anomalies.service import RAISED_ACTION
from uhealthsec.server.incidents.service import NOTIFY_PATIENT_ACTION, REMIND_ACTION
from uhealthsec.server.retention.service import PURGE_ACTION

PROTOCOL = Path(__file__).resolve().parents[3] / "docs" / "PROTOCOL.md"

#: The table is about routes, not storage: one database is enough.
_ONE_DATABASE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route a request can reach, as the router puts it in the request's scope
    (an included router is kept whole by FastAPI, its routes behind it)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)
        else:
            yield route


def _journaled_keys(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route and method a request can be journaled under:
    every one but HEAD and OPTIONS (a GET too, when a service finds it is about a
    patient, or when a signed-in caller sends it another method)."""
    keys = set()
    for route in _routes(app.router.routes):
        if getattr(route, "endpoint", None) is None:
            continue
        for method in getattr(route, "methods", None) or ():
            if method not in ("HEAD", "OPTIONS"):
                keys.add((method, route.path))
    return keys


def _protocol_section() -> str:
    text = PROTOCOL.read_text(encoding="utf-8")
    return text.split("### 13.3 Actions")[1].split("\n## ")[0]


@_ONE_DATABASE
def test_every_route_of_the_application_has_its_action_and_no_other_is_listed(
    client: TestClient,
):
    routes = _journaled_keys(client.app)
    missing = sorted(routes - ACTIONS.keys())
    assert missing == [], f"routes without a journal action (audit/actions.py): {missing}"
    assert sorted(ACTIONS.keys() - routes) == []


def test_actions_are_distinct_and_fit_an_entry():
    names = list(ACTIONS.values())
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", name) and len(name) <= 64, name
    assert UNKNOWN not in names


def test_the_table_is_the_list_of_the_protocol():
    section = _protocol_section()
    rows = re.findall(r"^\| `([A-Z]+)` \| `([^`]+)` \| `([a-z_.]+)` \|$", section, re.M)
    assert len(rows) == len(set((m, p) for m, p, _ in rows))
    assert {(m, p): a for m, p, a in rows} == dict(ACTIONS)
    by_server = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \| [^`|]+\|$", section, re.M))
    assert by_server == {
        LOCK_ACTION,
        BLOCK_ACTION,
        PURGE_ACTION,
        NOTIFY_PATIENT_ACTION,
        REMIND_ACTION,
        RAISED_ACTION,
        RESTORE_DRILL_ACTION,
    }


def test_a_refused_method_is_journaled_under_the_route_that_refused_it():
    assert route_action("DELETE", "/practices", {"POST"}) == "accounts.create_practice"
    assert route_action("POST", "/keys/head", {"GET", "HEAD"}) == "keys.head"
    assert route_action("POST", "/not-a-route", {"POST"}) == UNKNOWN


@_ONE_DATABASE
def test_renaming_or_moving_a_route_function_keeps_its_action(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
):
    [route] = [
        r
        for r in _routes(client.app.router.routes)
        if r.path == "/auth/prelogin" and "POST" in r.methods
    ]
    monkeypatch.setattr(route.endpoint, "__name__", "ask_for_salt")
    monkeypatch.setattr(route.endpoint, "__module__", "uhealthsec.server.signin.routes")
    scope = {"method": "POST", "route": route, "endpoint": route.endpoint}
    assert action_name(scope) == "auth.prelogin"

    # End to end: the entry the server signs for the request says so too.
    response = client.post("/auth/prelogin", json={"email": "someone@example.org"})
    assert response.status_code == 200
    entry = JournalEntry.decode(b64u_decode(response.headers["uhs-journal-entry"]))
    assert entry.action == "auth.prelogin"
