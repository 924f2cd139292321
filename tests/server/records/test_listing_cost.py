"""What the inbox's listing costs the database: a constant number of SQL statements per
page, whatever the page's size or the inbox's; its pages, after a position (the
`Link` header's `next`) or at an offset, which together list every document once; the
migration that keeps each share's version time for it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx2
from sqlalchemy import select, text

from tests.server.records.bulk import share_documents
from tests.server.statements import statements_run
from uhealthsec.client.exchange.receiving import inbox_pages
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.records.models import DocumentVersion, Share
from uhealthsec.server.records.routes import documents_page
from uhealthsec.server.storage import migrate


def page_statements(ctx, reader: Account, limit: int, after: str | None = None) -> int:
    with ctx.sessions() as db, statements_run(ctx) as run:
        documents, _ = documents_page(reader, db, ctx, limit, after)
    assert len(documents) == limit  # a full page, so the counts compare like with like
    return len(run)


def test_a_page_of_the_inbox_costs_the_same_statements_whatever_its_size_or_the_inbox(ctx, users):
    user = users.signed_in("reader@example.org", "practitioner")
    with ctx.sessions() as db:
        reader = db.get(Account, uuid.UUID(user.account_id))
        db.expunge(reader)
    share_documents(ctx, reader.id, 3)
    small = page_statements(ctx, reader, 2)
    share_documents(ctx, reader.id, 60, start=ctx.now() + timedelta(hours=1))
    with ctx.sessions() as db:
        _, after = documents_page(reader, db, ctx, 5, None)
    counts = {
        "2 of 3": small,
        "2 of 63": page_statements(ctx, reader, 2),
        "50 of 63": page_statements(ctx, reader, 50),
        "50 of 63, after a position": page_statements(ctx, reader, 50, after),
    }
    assert len(set(counts.values())) == 1, counts
    assert small <= 8, counts


def test_pages_after_positions_list_every_document_once_in_order(client, ctx, users):
    user = users.signed_in("reader@example.org", "practitioner")
    reader_id = uuid.UUID(user.account_id)
    # Three documents at each instant: the order must break ties the same on each page.
    share_documents(ctx, reader_id, 31, per_instant=3)

    def call(method: str, path: str, **kwargs):
        answer = client.request(method, path, headers=users.sdk.bearer(user.tokens), **kwargs)
        assert answer.status_code == 200, answer.text
        return answer

    by_offset = call("GET", "/documents", params={"limit": 200}).json()
    assert len(by_offset) == 31
    changed = [d["versions"][-1]["created_at"] for d in by_offset]
    assert changed == sorted(changed, reverse=True)

    walked, pages = [], 0
    params: dict[str, object] = {"limit": 4}
    while True:
        answer = call("GET", "/documents", params=params)
        walked += answer.json()
        pages += 1
        following = answer.links.get("next")
        if following is None:
            break
        params = {"limit": 4, "after": httpx2.URL(following["url"]).params["after"]}
    assert [d["id"] for d in walked] == [d["id"] for d in by_offset]
    assert pages == 8  # seven full pages, and the last, shorter one has no next

    # The SDK's walk (200 at a time) follows the same positions.
    assert [d["id"] for a in inbox_pages(call) for d in a.json()] == [d["id"] for d in by_offset]

    # The older clients' offset still pages the same list.
    second = call("GET", "/documents", params={"limit": 4, "offset": 4}).json()
    assert [d["id"] for d in second] == [d["id"] for d in by_offset[4:8]]


def test_a_position_that_is_not_one_is_refused_as_a_problem(client, users):
    user = users.signed_in("reader@example.org", "practitioner")
    for params in ({"after": "yesterday"}, {"after": f"12_{uuid.uuid4().hex}", "offset": 3}):
        answer = client.get("/documents", params=params, headers=users.sdk.bearer(user.tokens))
        assert answer.status_code in (400, 422), answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_the_migration_gives_each_share_its_versions_time_and_goes_down_again(ctx, users):
    user = users.signed_in("reader@example.org", "practitioner")
    reader_id = uuid.UUID(user.account_id)
    share_documents(ctx, reader_id, 5)
    migrate.downgrade(ctx.engine, "0030")
    with ctx.engine.connect() as connection:
        columns = connection.execute(text("SELECT * FROM shares")).keys()
    assert "version_created_at" not in columns
    migrate.upgrade(ctx.engine)
    with ctx.sessions() as db:
        times = db.execute(
            select(Share.version_created_at, DocumentVersion.created_at).join(
                DocumentVersion, DocumentVersion.id == Share.version_id
            )
        ).all()
        reader = db.get(Account, reader_id)
        listed, _ = documents_page(reader, db, ctx, 50, None)
    assert len(times) == 10 and all(kept == written for kept, written in times)
    assert len(listed) == 5
