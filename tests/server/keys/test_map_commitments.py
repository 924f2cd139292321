"""The key directory's map commitments (docs/PROTOCOL.md, section 10.4) on the server:
one after every entry, and one at start for a directory written before maps."""

from __future__ import annotations

import pytest

from tests.conftest import served_checkpoint
from tests.server.records.conftest import device
from uhealthsec.client.api import ApiError
from uhealthsec.server.bootstrap import bootstrap
from uhealthsec.server.keys.service import KeyDirectory


def test_a_directory_written_before_maps_gets_one_when_the_server_starts(
    client, users, ctx, monkeypatch
):
    alice = users.signed_in("alice@example.org", "practitioner")
    # An older server: an entry and no commitment after it.
    with monkeypatch.context() as older:
        older.setattr(KeyDirectory, "_commit_map", lambda self, entries: None)
        bob = users.signed_in("bob@example.org", "practitioner")
    sdk = device(client, users, alice)
    size = sdk.directory.refresh().size
    answer = client.get(
        "/keys/entries",
        params={"email": bob.email, "tree_size": size},
        headers={"Authorization": f"Bearer {alice.tokens.access_token}"},
    )
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    with pytest.raises(ApiError, match="commits to no map"):
        sdk.directory.lookup(bob.email)

    bootstrap(ctx)
    assert sdk.directory.lookup(bob.email).index == size - 1
    assert sdk.directory.head().size == size + 1
    bootstrap(ctx)  # a second start appends nothing
    assert sdk.directory.refresh().size == size + 1
    with ctx.sessions.begin() as db:
        assert KeyDirectory(db, ctx).commit_map() is False


def test_a_map_kept_and_updated_is_the_map_built_from_every_entry(client, users, ctx):
    """Publishing applies the new entry to the map the process keeps; another process
    (no map kept) builds it from every entry: the roots agree, or lookups fail."""
    alice = users.signed_in("alice@example.org", "practitioner")
    others = [users.signed_in(f"colleague{i}@example.org", "practitioner") for i in range(4)]
    sdk = device(client, users, alice)
    for person in others:
        ctx.account_maps.clear()  # as in a process that never saw this directory
        sdk.directory.refresh()
        assert sdk.directory.lookup(person.email).entry.email == person.email


def test_commitments_forgotten_by_a_downgrade_are_recovered_from_the_log(client, users, ctx):
    from uhealthsec.server.storage import migrate

    alice = users.signed_in("alice@example.org", "practitioner")
    users.signed_in("bob@example.org", "practitioner")
    sdk = device(client, users, alice)
    head = sdk.directory.refresh()
    migrate.downgrade(ctx.engine, "0024")
    migrate.upgrade(ctx.engine)
    ctx.account_maps.clear()
    assert sdk.directory.lookup("bob@example.org").index == head.size - 2
    for commitment in (1, 3):
        answer = client.get(
            f"/keys/entries/{commitment}",
            params={"tree_size": head.size},
            headers={"Authorization": f"Bearer {alice.tokens.access_token}"},
        )
        assert answer.status_code == 200 and answer.json()["map"] is None


def test_proofs_against_old_maps_are_refused_not_rebuilt(client, users, ctx):
    """A map a process does not keep would cost a rebuild from every entry: proofs go
    only against the last four commitments."""
    alice = users.signed_in("alice@example.org", "practitioner")
    for i in range(5):
        users.signed_in(f"colleague{i}@example.org", "practitioner")
    headers = {"Authorization": f"Bearer {alice.tokens.access_token}"}
    size = served_checkpoint(client.get("/keys/head", headers=headers).json(), "keys").size
    assert size == 12
    ctx.account_maps.clear()
    for tree_size, status in ((2, 409), (4, 409), (6, 200), (12, 200)):
        answer = client.get(
            "/keys/entries", params={"email": alice.email, "tree_size": tree_size}, headers=headers
        )
        assert answer.status_code == status, answer.text
    assert [entries for entries, _ in ctx.account_maps] == [5, 11]
