"""What the lists of rights requests cost the database: a constant number of SQL
statements, whatever their length (each request's patient and file were read one
request at a time)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from tests.server.records.conftest import Practice
from tests.server.statements import statements_run
from uhealthsec.client.rights import RightsClient
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.consent.models import RightsRequest
from uhealthsec.server.consent.routes import requests_out
from uhealthsec.server.consent.service import RightsService
from uhealthsec.server.storage.db import insert_rows


def test_the_lists_of_rights_requests_cost_the_same_statements_whatever_their_length(
    practice: Practice, ctx
):
    RightsClient(practice.carol.exchange).ask(practice.id, "access")
    with ctx.sessions() as db:
        alice = db.get(Account, uuid.UUID(practice.alice.user.account_id))
        carol = db.get(Account, uuid.UUID(practice.carol.user.account_id))
        db.expunge_all()

    def lists() -> tuple[int, int, int]:
        with ctx.sessions() as db, statements_run(ctx) as run:
            service = RightsService(db, ctx)
            of_practice = requests_out(
                db, ctx, service.of_practice(alice, uuid.UUID(practice.id), open_only=False)
            )
            practice_statements = len(run)
            mine = requests_out(db, ctx, service.mine(carol))
        assert {r.id for r in mine} == {r.id for r in of_practice}
        return len(mine), practice_statements, len(run) - practice_statements

    one = lists()
    with ctx.sessions.begin() as db:
        [asked] = db.execute(select(RightsRequest.__table__)).mappings().all()
        insert_rows(
            db,
            RightsRequest.__table__,
            [{**asked, "id": uuid.uuid4(), "right": "rectification"} for _ in range(4)],
        )
    five = lists()
    assert (one[0], five[0]) == (1, 5)
    assert one[1:] == five[1:], (one, five)
