"""Who may read which key-directory entry: who is a patient here is health data, and
the log is not a list of who uses the service (docs/PROTOCOL.md, section 10)."""

from __future__ import annotations

import pytest

from tests.conftest import served_checkpoint
from tests.server.accounts.cabinet import Cabinet, join_unverified, make_cabinet
from tests.server_fixtures import User


@pytest.fixture
def cabinet(client, users) -> Cabinet:
    return make_cabinet(client, users)


def tree_size(client, cabinet: Cabinet) -> int:
    head = client.get("/keys/head", headers=cabinet.headers(cabinet.alice)).json()
    return served_checkpoint(head, "keys").size


def lookup(client, cabinet: Cabinet, viewer: User, email: str) -> int:
    response = client.get(
        "/keys/entries",
        params={"email": email, "tree_size": tree_size(client, cabinet)},
        headers=cabinet.headers(viewer),
    )
    return response.status_code


def readable_indexes(client, cabinet: Cabinet, viewer: User) -> list[int]:
    """The entries the viewer may read (every entry is followed by the map's commitment,
    which anyone may read: it is a size and a root hash)."""
    size = tree_size(client, cabinet)
    readable = []
    for index in range(size):
        answer = client.get(
            f"/keys/entries/{index}", params={"tree_size": size}, headers=cabinet.headers(viewer)
        )
        if index % 2:
            assert answer.status_code == 200 and answer.json()["map"] is None
        elif answer.status_code == 200:
            readable.append(index)
    return readable


def test_a_patient_is_looked_up_only_by_her_practice_and_herself(client, users, cabinet):
    carol = cabinet.carol.email
    assert lookup(client, cabinet, cabinet.alice, carol) == 200
    assert lookup(client, cabinet, cabinet.carol, carol) == 200
    # A practitioner elsewhere, or another patient, gets the answer of an unknown address.
    dave = users.signed_in("dave@example.org", "patient")
    for outsider in (cabinet.mallory, dave):
        assert lookup(client, cabinet, outsider, carol) == 404
        assert lookup(client, cabinet, outsider, "nobody@example.org") == 404
    # Practitioners are found by their address, so that colleagues can write to them.
    assert lookup(client, cabinet, cabinet.mallory, cabinet.alice.email) == 200


def test_enumeration_by_index_shows_only_what_the_viewer_may_see(client, users, ctx):
    cabinet = make_cabinet(client, users)
    size = tree_size(client, cabinet)
    assert size == 6
    # Entries are published in the order of the accounts: alice, carol, mallory, each
    # followed by a map commitment.
    assert readable_indexes(client, cabinet, cabinet.mallory) == [4]
    assert readable_indexes(client, cabinet, cabinet.alice) == [0, 2]
    assert readable_indexes(client, cabinet, cabinet.carol) == [0, 2]

    # A monitor the operator lists reads the whole log, to audit it.
    ctx.settings = ctx.settings.model_copy(update={"directory_monitors": ["Mallory@example.org"]})
    assert readable_indexes(client, cabinet, cabinet.mallory) == [0, 2, 4]


def test_unverified_staff_cannot_find_the_practices_patients(client, users, outbox, cabinet):
    """An unverified practitioner invited into the practice is staff, but may not act on
    health data: the directory hides the patients from them as the member list does,
    by address and by index."""
    impostor = join_unverified(client, users, outbox, cabinet, "practitioner")
    members = client.get(f"/practices/{cabinet.id}/members", headers=cabinet.headers(impostor))
    assert cabinet.carol.account_id not in {m["account_id"] for m in members.json()}
    assert lookup(client, cabinet, impostor, cabinet.carol.email) == 404
    # Entries in the order of activation: alice 0, carol 2, mallory 4, the impostor 6.
    assert readable_indexes(client, cabinet, impostor) == [0, 6]
    assert lookup(client, cabinet, impostor, cabinet.alice.email) == 200  # staff still found
