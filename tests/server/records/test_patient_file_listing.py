"""One patient file's documents, listed by the server (GET /documents?patient_file_id=):
a constant number of SQL statements per page, whatever the file's size or the rest of
the inbox; pages after positions that list the file's documents once, and no other
file's; nothing for a caller who holds no share of them."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx2

from tests.server.records.bulk import share_documents
from tests.server.records.test_listing_cost import statements_run
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.records.routes import documents_page


def _reader(ctx, users, email: str) -> tuple[object, Account]:
    user = users.signed_in(email, "practitioner")
    with ctx.sessions() as db:
        reader = db.get(Account, uuid.UUID(user.account_id))
        db.expunge(reader)
    return user, reader


def test_a_page_of_a_patient_file_costs_the_same_statements_whatever_the_file_or_inbox(ctx, users):
    _, reader = _reader(ctx, users, "reader@example.org")
    small = share_documents(ctx, reader.id, 3)
    large = share_documents(ctx, reader.id, 60, start=ctx.now() + timedelta(hours=1))
    share_documents(ctx, reader.id, 40, start=ctx.now() + timedelta(hours=2))

    def statements(patient_file: uuid.UUID, limit: int, after: str | None = None) -> int:
        with ctx.sessions() as db, statements_run(ctx) as run:
            documents, _ = documents_page(reader, db, ctx, limit, after, 0, patient_file)
        assert len(documents) == limit
        return len(run)

    with ctx.sessions() as db:
        _, after = documents_page(reader, db, ctx, 5, None, 0, large)
    counts = {
        "2 of a file of 3": statements(small, 2),
        "2 of a file of 60": statements(large, 2),
        "50 of a file of 60": statements(large, 50),
        "50 of a file of 60, after a position": statements(large, 50, after),
    }
    assert len(set(counts.values())) == 1, counts
    assert counts["2 of a file of 3"] <= 8, counts


def test_pages_of_a_patient_file_list_its_documents_once_and_no_other(client, ctx, users):
    user, reader = _reader(ctx, users, "reader@example.org")
    wanted = share_documents(ctx, reader.id, 9, per_instant=3)
    share_documents(ctx, reader.id, 7, per_instant=2)

    def call(params: dict[str, object], tokens=user.tokens):
        answer = client.get("/documents", params=params, headers=users.sdk.bearer(tokens))
        assert answer.status_code == 200, answer.text
        return answer

    everything = call({"limit": 200}).json()
    of_file = [d["id"] for d in everything if d["patient_file_id"] == str(wanted)]
    assert len(everything) == 16 and len(of_file) == 9

    walked, pages = [], 0
    params: dict[str, object] = {"limit": 4, "patient_file_id": str(wanted)}
    while True:
        answer = call(params)
        walked += answer.json()
        pages += 1
        following = answer.links.get("next")
        if following is None:
            break
        # The next page keeps the filter.
        params = dict(httpx2.URL(following["url"]).params)
        assert params["patient_file_id"] == str(wanted)
    assert [d["id"] for d in walked] == of_file
    assert pages == 3

    # The same checks as the inbox's: a caller holding no share of the file gets none.
    other, _ = _reader(ctx, users, "other@example.org")
    assert call({"patient_file_id": str(wanted)}, other.tokens).json() == []
    refused = client.get(
        "/documents", params={"patient_file_id": "a file"}, headers=users.sdk.bearer(user.tokens)
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
