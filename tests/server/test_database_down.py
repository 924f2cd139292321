"""PostgreSQL stopped under a running server (issue 17, items 2 and 4).

The module starts its own PostgreSQL (stopping the suite's would disturb other tests) and
stops it as a crash does (``pg_ctl -m immediate``): requests answer 503 problem+json with
Retry-After on a connection uvicorn keeps open, journaled routes included (their journal
cannot be written either), an access token is not called invalid because its keys could
not be loaded, and the server serves again once PostgreSQL is back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tests.faults import assert_unavailable, local_port
from tests.postgres import PostgresServer
from tests.server_fixtures import make_settings
from uhealthsec.server.app import build_context, create_app
from uhealthsec.server.settings import Settings
from uhealthsec.server.storage import migrate
from uhealthsec.server.storage.db import make_engine


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    # Durable: a crash loses no acknowledged commit (the suite's server runs with
    # synchronous_commit off, whose last commits an immediate stop would drop).
    server = PostgresServer(durable=True)
    server.start()
    try:
        server.create_database("uhs_template")
        engine = make_engine(server.url("uhs_template"))
        migrate.upgrade(engine)
        engine.dispose()
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(tmp_path: Path, own_postgres: PostgresServer) -> Iterator[Settings]:
    name = f"t_{uuid.uuid4().hex}"
    admin = create_engine(own_postgres.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE uhs_template'))
    admin.dispose()
    # Kept alive longer than PostgreSQL takes to come back on a loaded machine: the
    # test follows one connection through the outage.
    yield make_settings(tmp_path, own_postgres.url(name), keep_alive_seconds=120)


def test_postgresql_stopped_answers_503_on_a_kept_connection(users, live_server, own_postgres):
    alice = users.signed_in("alice@example.org")
    bearer = {"Authorization": f"Bearer {alice.tokens.access_token}"}
    with httpx2.Client(base_url=live_server, timeout=30) as http:
        before = http.get("/accounts/me", headers=bearer)
        assert before.status_code == 200
        ports = [local_port(before)]
        own_postgres.halt()
        try:
            answers = [
                # A read nobody journals: the route's own database access fails.
                http.get("/accounts/me", headers=bearer),
                # A journaled write: the route fails, then so does its journaling.
                http.post("/practices", json={"name": "Cabinet"}, headers=bearer),
                # Signing in: the shield and the accounts are in the database.
                http.post("/auth/prelogin", json={"email": "alice@example.org"}),
            ]
            health = http.get("/health")  # liveness needs no database
            ports += [local_port(r) for r in [*answers, health]]
        finally:
            own_postgres.resume()
        for answer in answers:
            assert_unavailable(answer, "database")
        assert health.status_code == 200
        # Back: the pool replaces the connections PostgreSQL's restart cut.
        after = http.get("/accounts/me", headers=bearer)
        assert after.status_code == 200
        assert after.json()["id"] == before.json()["id"]
        ports.append(local_port(after))
    assert len(set(ports)) == 1  # one connection throughout: none was reset


def test_a_token_whose_keys_cannot_be_loaded_is_503_not_401(
    users, ctx, settings, clock, own_postgres
):
    """Two API processes: the first rotates the token key and signs Alice in with the
    new one; the second must load that key from the database to check her token. With
    the database down that is the server's failure, not her token's."""
    alice = users.signed_in("alice@example.org")
    other = build_context(settings, clock=clock, migrate_schema=False)
    try:
        with TestClient(create_app(ctx=other)) as second:
            first_token = {"Authorization": f"Bearer {alice.tokens.access_token}"}
            assert second.get("/accounts/me", headers=first_token).status_code == 200
            with ctx.sessions.begin() as db:
                ctx.keyring.rotate(db, clock.now)
            tokens = users.sign_in_again(alice)
            bearer = {"Authorization": f"Bearer {tokens.access_token}"}
            own_postgres.halt()
            try:
                refused = second.get("/accounts/me", headers=bearer)
                forged = second.get("/accounts/me", headers={"Authorization": "Bearer v4.local.x"})
            finally:
                own_postgres.resume()
            assert_unavailable(refused, "database")  # was 401 "the access token is invalid"
            assert forged.status_code == 401  # a malformed token is still refused
            assert second.get("/accounts/me", headers=bearer).status_code == 200
    finally:
        other.close()
