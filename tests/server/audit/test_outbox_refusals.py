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
