"""The batched key-directory lookup (docs/PROTOCOL.md, 10.5): every entry as the single
lookup proves it, against one head; an address the single lookup answers 404 for is
null, whatever the reason; limits on the request; a patient's entry shown is a read of
her data, journaled and counted as the single lookup's."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from tests.server.accounts.cabinet import Cabinet, join_unverified, make_cabinet
from tests.server.keys.test_directory_access import tree_size
from uhealthsec.crypto.journal import JournalEntry, ObjectKind
from uhealthsec.protocol.encoding import b64u_decode
from uhealthsec.protocol.keys import MAX_LOOKUPS
from uhealthsec.server.audit.models import ReadCount
from uhealthsec.server.audit.refusals import JOURNALED_READS_PER_MINUTE
from uhealthsec.server.keys.models import DirectoryMisses
from uhealthsec.server.keys.service import MISS_WINDOW, MISSES_PER_HOUR


@pytest.fixture
def cabinet(client, users) -> Cabinet:
    return make_cabinet(client, users)


def lookups(client, cabinet: Cabinet, viewer, emails: list[str], size: int | None = None):
    return client.post(
        "/keys/lookups",
        json={"emails": emails, "tree_size": size or tree_size(client, cabinet)},
        headers=cabinet.headers(viewer),
    )


def reads_counted(ctx, account_id: str) -> int:
    with ctx.sessions() as db:
        made = db.scalar(
            select(func.sum(ReadCount.count)).where(ReadCount.account_id == uuid.UUID(account_id))
        )
    return int(made or 0)


def test_each_entry_is_the_single_lookups_answer_and_null_where_it_answers_404(
    client, users, outbox, cabinet
):
    dave = users.signed_in("dave@example.org", "patient")
    impostor = join_unverified(client, users, outbox, cabinet, "practitioner")
    viewers = [cabinet.alice, cabinet.carol, cabinet.mallory, dave, impostor]
    addresses = [u.email for u in viewers] + ["nobody@example.org"]
    size = tree_size(client, cabinet)
    for viewer in viewers:
        answer = lookups(client, cabinet, viewer, [a.upper() for a in addresses], size)
        assert answer.status_code == 200, answer.text
        assert answer.json()["tree_size"] == size
        for address, entry in zip(addresses, answer.json()["entries"], strict=True):
            single = client.get(
                "/keys/entries",
                params={"email": address, "tree_size": size},
                headers=cabinet.headers(viewer),
            )
            if single.status_code == 404:
                assert entry is None, (viewer.email, address)
            else:
                assert single.status_code == 200
                assert entry == single.json(), (viewer.email, address)
    # Spot checks of the rule the comparison ran: a patient is hidden from a colleague
    # elsewhere and from unverified staff, shown to her practice's verified staff.
    hidden = lookups(client, cabinet, cabinet.mallory, [cabinet.carol.email, "x@example.org"])
    assert hidden.json()["entries"] == [None, None]
    shown = lookups(client, cabinet, impostor, [cabinet.carol.email, cabinet.alice.email])
    assert shown.json()["entries"][0] is None and shown.json()["entries"][1] is not None
    assert lookups(client, cabinet, cabinet.alice, [cabinet.carol.email]).json()["entries"][0]


def test_a_patient_shown_counts_as_one_read_as_her_single_lookup_does(client, ctx, cabinet):
    alice = cabinet.alice
    before = reads_counted(ctx, alice.account_id)
    practitioners = [cabinet.mallory.email, alice.email, "nobody@example.org"]
    unjournaled = lookups(client, cabinet, alice, practitioners)
    assert unjournaled.status_code == 200
    assert reads_counted(ctx, alice.account_id) == before
    # Practitioners' keys are not health data: not journaled, as single lookups.
    assert "uhs-journal-entry" not in unjournaled.headers
    answer = lookups(client, cabinet, alice, [cabinet.carol.email, *practitioners])
    assert answer.status_code == 200 and answer.json()["entries"][0] is not None
    assert reads_counted(ctx, alice.account_id) == before + 1
    entry = JournalEntry.decode(b64u_decode(answer.headers["uhs-journal-entry"]))
    assert entry.action == "keys.lookup_many"
    assert (ObjectKind.PATIENT, uuid.UUID(cabinet.carol.account_id)) in entry.objects
    # Past the allowance nothing of what was read is shown, as for single lookups.
    with ctx.sessions.begin() as db:
        for row in db.scalars(select(ReadCount)):
            row.count = JOURNALED_READS_PER_MINUTE
    refused = lookups(client, cabinet, alice, [cabinet.carol.email])
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "Retry-After" in refused.headers
    assert cabinet.carol.account_id not in refused.text


@pytest.mark.parametrize(
    "emails",
    [
        [],
        [f"p{i}@example.org" for i in range(MAX_LOOKUPS + 1)],
        [f"p{i}@example.org" for i in range(10 * MAX_LOOKUPS)],
        ["alice@example.org", "Alice@Example.org "],
        ["x" * 321],
    ],
    ids=["none", "one too many", "ten thousand", "an address twice", "too long"],
)
def test_a_request_past_the_limits_is_refused_as_a_problem(client, cabinet, emails):
    answer = lookups(client, cabinet, cabinet.alice, emails)
    assert answer.status_code in (400, 413, 422), answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_tree_the_directory_does_not_have_is_refused(client, cabinet):
    size = tree_size(client, cabinet)
    answer = lookups(client, cabinet, cabinet.alice, [cabinet.alice.email], size + 10)
    assert 400 <= answer.status_code < 500
    assert answer.headers["content-type"].startswith("application/problem+json")
    older = lookups(client, cabinet, cabinet.alice, [cabinet.alice.email], size - 1)
    assert older.status_code == 409  # that head ends before its map: ask the newest


def test_addresses_without_keys_are_bounded_per_account_and_hour_in_both_forms(
    client, ctx, cabinet
):
    """The batch would let an account test 1,000 addresses a request for a practitioner
    here: past MISSES_PER_HOUR misses an hour, single or batched, the answer is 429."""
    alice = cabinet.alice
    size = tree_size(client, cabinet)

    def single(viewer, address: str):
        return client.get(
            "/keys/entries",
            params={"email": address, "tree_size": size},
            headers=cabinet.headers(viewer),
        )

    probes = [f"probe{i}@example.org" for i in range(MISSES_PER_HOUR - 1)]
    assert lookups(client, cabinet, alice, probes, size).status_code == 200
    assert single(alice, "last@example.org").status_code == 404  # the last one of the hour
    # Entries found cost nothing.
    found = lookups(client, cabinet, alice, [alice.email, cabinet.mallory.email], size)
    assert found.status_code == 200 and None not in found.json()["entries"]
    # One more miss, in either form, and nothing is answered: not even the entry found.
    for refused in (
        lookups(client, cabinet, alice, [alice.email, "one-more@example.org"], size),
        single(alice, "one-more@example.org"),
    ):
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert 0 < int(refused.headers["retry-after"]) <= 3601
        assert "one-more" not in refused.text
    # Each account has its own budget, and the next hour a new one.
    assert single(cabinet.mallory, "elsewhere@example.org").status_code == 404
    with ctx.sessions.begin() as db:  # an hour passes (the tokens' 5 minutes would not)
        for row in db.scalars(select(DirectoryMisses)):
            row.started_at -= MISS_WINDOW
    assert single(alice, "one-more@example.org").status_code == 404
