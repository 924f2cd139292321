"""What the list of threads costs the database: a constant number of SQL statements
per page, whatever the page's size or the number of threads; its pages, after a
position (the `Link` header's `next`), which together list every thread once in the
order of the whole list; the migration that keeps each participant's thread time."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx2
from sqlalchemy import select, text

from tests.server.records.bulk import _account_row
from tests.server.statements import statements_run
from uhealthsec.server.accounts.models import Account, AccountKind
from uhealthsec.server.messaging.models import Message, Thread, ThreadParticipant
from uhealthsec.server.messaging.service import MessagingService
from uhealthsec.server.storage import migrate
from uhealthsec.server.storage.db import insert_rows
from uhealthsec.server.storage.positions import Position


def add_threads(ctx, reader_id: uuid.UUID, count: int, start: datetime) -> None:
    """``count`` threads of the reader with a new correspondent, two at each second
    from ``start`` (the order must break ties); thread ``i`` has ``i % 3`` messages
    from the correspondent, unread. Rows only: no signed membership."""
    other = _account_row(f"other-{uuid.uuid4().hex}@example.org", AccountKind.PRACTITIONER)
    threads, participants, messages = [], [], []
    for i in range(count):
        thread_id, at = uuid.uuid4(), start + timedelta(seconds=i // 2)
        sent = i % 3
        threads.append(
            {
                "id": thread_id,
                "created_by": other["id"],
                "created_at": at,
                "last_seq": sent,
                "last_message_at": at if sent else None,
            }
        )
        participants += [
            {
                "thread_id": thread_id,
                "account_id": account,
                "read_seq": 0,
                "read_at": None,
                "thread_changed_at": at,
            }
            for account in (reader_id, other["id"])
        ]
        messages += [
            {
                "id": uuid.uuid4(),
                "thread_id": thread_id,
                "seq": seq,
                "sender_id": other["id"],
                "body_envelope": bytes(100),
                "signature": bytes(64),
                "signer_key_index": 0,
                "created_at": at,
            }
            for seq in range(1, sent + 1)
        ]
    with ctx.sessions.begin() as db:
        insert_rows(db, Account.__table__, [other])
        insert_rows(db, Thread.__table__, threads)
        insert_rows(db, ThreadParticipant.__table__, participants)
        insert_rows(db, Message.__table__, messages)


def reader_of(ctx, users) -> Account:
    user = users.signed_in("reader@example.org", "practitioner")
    with ctx.sessions() as db:
        reader = db.get(Account, uuid.UUID(user.account_id))
        db.expunge(reader)
    return reader


def page_statements(ctx, reader: Account, limit: int | None, after: Position | None = None):
    with ctx.sessions() as db, statements_run(ctx) as run:
        views, _ = MessagingService(db, ctx).threads(reader, limit, after)
    assert limit is None or len(views) == limit  # full pages compare like with like
    return len(run)


def test_a_page_of_threads_costs_the_same_statements_whatever_its_size_or_the_threads(ctx, users):
    reader = reader_of(ctx, users)
    add_threads(ctx, reader.id, 3, ctx.now())
    small = page_statements(ctx, reader, 2)
    add_threads(ctx, reader.id, 60, ctx.now() + timedelta(hours=1))
    with ctx.sessions() as db:
        _, after = MessagingService(db, ctx).threads(reader, 5)
    counts = {
        "2 of 3": small,
        "2 of 63": page_statements(ctx, reader, 2),
        "50 of 63": page_statements(ctx, reader, 50),
        "50 of 63, after a position": page_statements(ctx, reader, 50, after),
        "all 63": page_statements(ctx, reader, None),
    }
    assert len(set(counts.values())) == 1, counts
    assert small <= 5, counts


def test_pages_after_positions_list_every_thread_once_in_order(client, ctx, users):
    user = users.signed_in("reader@example.org", "practitioner")
    add_threads(ctx, uuid.UUID(user.account_id), 31, ctx.now())

    def call(**params):
        answer = client.get("/threads", params=params, headers=users.sdk.bearer(user.tokens))
        assert answer.status_code == 200, answer.text
        return answer

    whole = call().json()
    assert len(whole) == 31 and "link" not in call().headers
    changed = [t["last_message_at"] or t["created_at"] for t in whole]
    assert changed == sorted(changed, reverse=True)
    assert sorted(t["unread"] for t in whole) == sorted(i % 3 for i in range(31))

    walked, pages, params = [], 0, {"limit": 4}
    while True:
        answer = call(**params)
        walked += answer.json()
        pages += 1
        following = answer.links.get("next")
        if following is None:
            break
        params = {"limit": 4, "after": httpx2.URL(following["url"]).params["after"]}
    assert walked == whole
    assert pages == 8  # seven full pages, and the last, shorter one has no next

    for bad in ({"after": "yesterday"}, {"limit": 0}):
        answer = client.get("/threads", params=bad, headers=users.sdk.bearer(user.tokens))
        assert answer.status_code in (400, 422), answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_the_migration_gives_each_participant_the_threads_time_and_goes_down_again(ctx, users):
    reader = reader_of(ctx, users)
    add_threads(ctx, reader.id, 6, ctx.now())
    migrate.downgrade(ctx.engine, "0031")
    with ctx.engine.connect() as connection:
        columns = connection.execute(text("SELECT * FROM thread_participants")).keys()
    assert "thread_changed_at" not in columns
    migrate.upgrade(ctx.engine)
    with ctx.sessions() as db:
        times = db.execute(
            select(
                ThreadParticipant.thread_changed_at, Thread.last_message_at, Thread.created_at
            ).join(Thread, Thread.id == ThreadParticipant.thread_id)
        ).all()
        listed, _ = MessagingService(db, ctx).threads(reader)
    assert len(times) == 12
    assert all(kept == (last or created) for kept, last, created in times)
    assert len(listed) == 6
