"""R27: the data routes resist scraping. Past the journal's minute allowance, each
account has a budget of reads an hour and each network (IPv4 /24, IPv6 /64) one a
minute and one an hour, shared by every API process through the database; at the
boundary the read just under the budget is shown and the next is refused 429
(problem+json, Retry-After), and the refusals are a Prometheus metric."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.conftest import served_checkpoint
from tests.server.scrape import open_metrics, scrape, value
from tests.server_fixtures import BASE_URL, make_settings
from uhealthsec.server.app import create_app
from uhealthsec.server.audit import refusals
from uhealthsec.server.settings import Settings

ACCOUNT_HOUR = 12
NETWORK_MINUTE = 8


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return make_settings(
        tmp_path,
        database_url,
        reads_per_account_hour=ACCOUNT_HOUR,
        reads_per_network_minute=NETWORK_MINUTE,
        reads_per_network_hour=10 * NETWORK_MINUTE,
    )


@pytest.fixture
def from_ip(ctx) -> Iterator:
    """A client of one application seen from the address ``state["ip"]``."""
    app = create_app(ctx=ctx)
    state = {"ip": "192.0.2.1"}

    async def from_address(scope, receive, send):
        if scope["type"] == "http":
            scope = {**scope, "client": (state["ip"], 40000)}
        await app(scope, receive, send)

    with TestClient(from_address, base_url=BASE_URL) as client:

        def get(ip: str, user, path: str = "/documents"):
            state["ip"] = ip
            return client.get(path, headers={"Authorization": f"Bearer {user.tokens.access_token}"})

        get.client = client  # type: ignore[attr-defined]
        yield get


def _at_the_start_of_an_hour(clock) -> None:
    """The windows are fixed (counted from the epoch): the test runs within one."""
    clock.now = clock.now.replace(minute=0, second=0) + timedelta(hours=1)


def _refused(answer, who: str, longest: int) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert 0 < int(answer.headers["retry-after"]) <= longest + 1
    assert who in answer.json()["detail"]
    assert "uhs-journal-entry" not in answer.headers
    assert answer.json().keys() == {"type", "title", "status", "detail"}  # nothing shown


def test_r27_an_account_reads_its_hour_budget_and_the_next_read_is_refused(
    ctx, users, clock, from_ip
):
    """A stolen session downloading a practice: within the minute allowance every
    minute, it is stopped by the hour's budget; its owner's colleague is not."""
    _at_the_start_of_an_hour(clock)
    scraper = users.signed_in("scraper@example.org")
    colleague = users.signed_in("colleague@example.org")
    for n in range(ACCOUNT_HOUR):
        # Spread over minutes and networks: only the account's hour is at stake.
        clock.advance(seconds=10)
        shown = from_ip(f"198.51.{n}.7", scraper)
        assert shown.status_code == 200, shown.text
        assert "uhs-journal-entry" in shown.headers
    _refused(from_ip("203.0.113.9", scraper), "this account", 3600)
    clock.advance(minutes=2)  # a new minute does not reopen the hour
    _refused(from_ip("203.0.113.9", scraper), "this account", 3600)
    assert from_ip("203.0.113.10", colleague).status_code == 200
    clock.advance(hours=1)
    scraper.tokens = users.sign_in_again(scraper)
    assert from_ip("203.0.113.9", scraper).status_code == 200

    open_metrics(ctx)
    samples = scrape(from_ip.client)
    assert value(samples, "uhs_reads_throttled_total", budget="account_hour") == 2
    assert value(samples, "uhs_reads_throttled_total", budget="network_minute") == 0


def test_r27_one_network_reads_its_minute_budget_through_all_its_accounts(
    ctx, users, clock, from_ip
):
    """Several accounts of one network (a run of accounts made or stolen for it) share
    the network's budget; another network, and the next minute, read again."""
    _at_the_start_of_an_hour(clock)
    accounts = [users.signed_in(f"bot{n}@example.org", "patient") for n in range(3)]
    clock.advance(minutes=1)  # a fresh minute, whatever signing in read
    for n in range(NETWORK_MINUTE):
        # Different addresses of one /24, different accounts, one minute.
        shown = from_ip(f"192.0.2.{n + 1}", accounts[n % 3], "/patient-files/mine")
        assert shown.status_code == 200, shown.text
    _refused(from_ip("192.0.2.200", accounts[0], "/patient-files/mine"), "this network", 60)
    # IPv6: one /64 is one network too, apart from the IPv4 one.
    assert from_ip("2001:db8:5:6::1", accounts[0], "/patient-files/mine").status_code == 200
    clock.advance(minutes=1)
    assert from_ip("192.0.2.201", accounts[1], "/patient-files/mine").status_code == 200

    open_metrics(ctx)
    samples = scrape(from_ip.client)
    assert value(samples, "uhs_reads_throttled_total", budget="network_minute") == 1


def test_r27_reads_refused_to_one_account_do_not_spend_its_networks_budget(
    ctx, users, clock, from_ip, monkeypatch
):
    """A practice behind one address: one account hammering past its own minute
    allowance is refused, and its refused reads leave the network's budget to the
    colleagues behind the same address (only reads shown are counted there)."""
    monkeypatch.setattr(refusals, "JOURNALED_READS_PER_MINUTE", 3)  # 200: a shorter test
    _at_the_start_of_an_hour(clock)
    loud, first, second = (
        users.signed_in(f"{n}@example.org", "patient") for n in ("loud", "first", "second")
    )
    clock.advance(minutes=1)

    def read(ip, user):
        return from_ip(ip, user, "/patient-files/mine")

    for _ in range(3):
        assert read("192.0.2.1", loud).status_code == 200
    for _ in range(10):
        _refused(read("192.0.2.1", loud), "this account", 60)
    # The network has been shown 3 of its 8 reads, whatever was refused: its other
    # accounts read the 5 left, and the next is the network's past its budget.
    for _ in range(3):
        assert read("192.0.2.2", first).status_code == 200
    for _ in range(NETWORK_MINUTE - 6):
        assert read("192.0.2.3", second).status_code == 200
    _refused(read("192.0.2.3", second), "this network", 60)


def test_r27_a_directory_monitor_audits_the_log_past_the_hour_budget(ctx, users, clock, from_ip):
    """The operator names monitors to read every entry of the key directory (a
    patient's is a journaled read): their audit is not scraping, as their misses are
    not counted either (past the journal's own minute allowance, which still holds)."""
    _at_the_start_of_an_hour(clock)
    for n in range(2):  # their entries are what the monitor's reads journal
        users.signed_in(f"p{n}@example.org", "patient")
    monitor = users.signed_in("monitor@example.org")
    ctx.settings = ctx.settings.model_copy(update={"directory_monitors": [monitor.email]})
    head = from_ip("203.0.113.1", monitor, "/keys/head").json()
    size = served_checkpoint(head, "keys").size
    journaled = 0
    for _ in range(ACCOUNT_HOUR):
        for index in range(size):
            clock.advance(seconds=1)
            answer = from_ip(
                f"198.51.{index}.1", monitor, f"/keys/entries/{index}?tree_size={size}"
            )
            assert answer.status_code in (200, 404), answer.text
            journaled += "uhs-journal-entry" in answer.headers
    assert journaled > ACCOUNT_HOUR  # past the budget, every read shown and journaled
