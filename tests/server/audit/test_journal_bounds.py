"""What keeps the permanent journal from growing at an attacker's will: refusals of
requests nobody signed in are only counted, and one account's reads are bounded by
rate (docs/PROTOCOL.md, section 13.1)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.server_fixtures import BASE_URL
from uhealthsec.server.app import create_app
from uhealthsec.server.audit import refusals
from uhealthsec.server.audit.models import JournalRecord


def _journal_size(ctx) -> int:
    with ctx.sessions.begin() as db:
        return int(db.scalar(select(func.count()).select_from(JournalRecord)) or 0)


def _refusals(ctx) -> dict[str, int]:
    """The technical log's totals, as ``GET /journal/metrics`` serves them."""
    with ctx.sessions() as db:
        return refusals.refusal_totals(db)


def test_anonymous_refusals_from_many_addresses_of_one_network_do_not_grow_the_journal(ctx):
    """One IPv6 /64 holds 2^64 addresses: an allowance per address let 200 of them x 5
    POSTs without a token leave 1,000 permanent entries. They are counted only."""
    app = create_app(ctx=ctx)
    state = {"ip": ""}

    async def from_address(scope, receive, send):
        if scope["type"] == "http":
            scope = {**scope, "client": (state["ip"], 40000)}
        await app(scope, receive, send)

    before = _journal_size(ctx)
    with TestClient(from_address, base_url=BASE_URL) as client:
        for host in range(200):
            state["ip"] = f"2001:db8:1:2::{host:x}"
            for _ in range(5):
                assert client.post("/documents", json={}).status_code == 401
    assert _refusals(ctx)["refusals_anonymous"] == 1000
    assert _journal_size(ctx) == before


def test_one_account_cannot_grow_the_journal_faster_than_its_read_allowance(
    ctx, client, users, clock, monkeypatch
):
    """A patient reading her own history in a loop added one permanent entry per
    request, without end. Past the allowance the read is refused (429) and nothing is
    shown unjournaled; the next minute reads work again."""
    monkeypatch.setattr(refusals, "JOURNALED_READS_PER_MINUTE", 20)  # 200: a shorter test
    loop = users.signed_in("loop@example.org", "patient")
    other = users.signed_in("other@example.org", "patient")
    clock.advance(minutes=1)  # a fresh minute, whatever signing in read

    def read(user):
        headers = {"Authorization": f"Bearer {user.tokens.access_token}"}
        return client.get("/journal/history", params={"limit": 1}, headers=headers)

    before = _journal_size(ctx)
    for _ in range(20):
        shown = read(loop)
        assert shown.status_code == 200
        assert "uhs-journal-entry" in shown.headers  # every read shown is journaled
    for _ in range(30):
        refused = read(loop)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) <= 61
        assert "journaled" in refused.json()["detail"]
        assert "uhs-journal-entry" not in refused.headers
        assert refused.json().keys() == {"type", "title", "status", "detail"}  # no history
    assert _journal_size(ctx) == before + 20
    assert _refusals(ctx)["refusals_signed_in"] == 30
    assert read(other).status_code == 200  # the allowance is per account
    clock.advance(minutes=1)
    assert read(loop).status_code == 200
