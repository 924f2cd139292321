"""Routes that answer a refusal without raising (the OAuth endpoints answer authlib's
error as a JSONResponse) commit their transaction, so an entry is staged: the refusal
is still journaled only within its bound (docs/PROTOCOL.md 13.1), the staged entry
dropped past it."""

from __future__ import annotations

from sqlalchemy import select

from uhealthsec.crypto.journal import JournalEntry
from uhealthsec.protocol.oauth import CLI_CLIENT_ID
from uhealthsec.server.audit.models import JournalRecord

GARBAGE = {"grant_type": "refresh_token", "client_id": CLI_CLIENT_ID, "refresh_token": "A" * 43}


def _token_entries(ctx) -> list[JournalEntry]:
    with ctx.sessions() as db:
        rows = db.scalars(select(JournalRecord.entry).order_by(JournalRecord.log_index)).all()
    return [
        e for e in map(lambda r: JournalEntry.decode(bytes(r)), rows) if e.action == "auth.token"
    ]


def test_anonymous_refused_token_requests_do_not_grow_the_journal(client, ctx):
    before = len(_token_entries(ctx))
    for _ in range(20):
        answer = client.post("/oauth/token", data=GARBAGE)
        assert answer.status_code == 400, answer.text
    added = _token_entries(ctx)[before:]
    # A botnet without any account writes 20 permanent entries with 20 requests.
    assert added == [], f"{len(added)} anonymous refusals journaled: {added[0]}"


def _entries(ctx, action: str) -> list[JournalEntry]:
    with ctx.sessions() as db:
        rows = db.scalars(select(JournalRecord.entry).where(JournalRecord.action == action)).all()
    return [JournalEntry.decode(bytes(r)) for r in rows]


def test_revoking_a_token_nobody_issued_is_no_journaled_action(client, users, ctx):
    """RFC 7009 answers 200 to any token: only a session really ended is journaled."""
    for _ in range(20):
        answer = client.post("/oauth/revoke", data={"token": "A" * 43, "client_id": CLI_CLIENT_ID})
        assert answer.status_code == 200, answer.text
    assert _entries(ctx, "auth.revoke") == []
    user = users.signed_in("revoking@example.org")
    answer = client.post(
        "/oauth/revoke",
        data={"token": user.tokens.refresh_token, "client_id": CLI_CLIENT_ID},
    )
    assert answer.status_code == 200, answer.text
    assert len(_entries(ctx, "auth.revoke")) == 1
