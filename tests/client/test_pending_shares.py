"""The sender's SDK completes a pending share only to the account and address it
signed for, proven in the key directory: a server that names someone else, another
address, or says a patient joined whose keys the directory does not hold, gets no key,
and the sender is told why."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx2
import pytest
from sqlalchemy import update

from tests.server.records.conftest import Practice, practice, report  # noqa: F401
from tests.server.records.test_pending_shares import DAVE, Waiting, dave_joins, invite_dave
from uhealthsec.client.exchange import ExchangeClient
from uhealthsec.crypto.manifest import Reader, ShareStatement
from uhealthsec.protocol.pending import PendingState
from uhealthsec.server.records.models import PendingShare


@pytest.fixture
def waiting(practice: Practice, report) -> Waiting:  # noqa: F811
    w = invite_dave(practice)
    w.document = practice.alice.exchange.send(
        report, patient_file_id=w.patient_file, to=[], to_patient=False
    )
    practice.alice.exchange.share_pending(w.document, w.invitation)
    return w


def lying_about_pending_shares(exchange: ExchangeClient, rewrite: Callable[[dict], dict]) -> None:
    """The server's list of pending shares, rewritten before the SDK reads it."""
    honest = exchange.call

    def call(method: str, path: str, **kwargs):
        answer = honest(method, path, **kwargs)
        if (method, path) == ("GET", "/pending-shares"):
            return httpx2.Response(
                200, json=[rewrite(p) for p in answer.json()], request=answer.request
            )
        return answer

    exchange.call = call  # type: ignore[method-assign]


def nothing_shared(sender: Practice, waiting: Waiting, outcome, because: str) -> None:
    assert not outcome.completed
    assert because in outcome.refused
    [still] = sender.alice.exchange.pending_shares()
    assert still.state != PendingState.COMPLETED
    readers = sender.alice.exchange.document_view(waiting.document).recipients
    assert [r.email for r in readers] == [sender.alice.email]


def test_another_account_than_the_one_signed_for_gets_nothing(
    practice: Practice,  # noqa: F811
    waiting: Waiting,
    client,
    users,
    outbox,
):
    dave_joins(practice, client, users, outbox)
    bob = practice.bob.user.account_id
    lying_about_pending_shares(practice.alice.exchange, lambda p: p | {"patient_id": bob})
    [outcome] = practice.alice.exchange.complete_pending_shares()
    nothing_shared(practice, waiting, outcome, "not the one you signed")


def test_another_address_than_the_one_signed_for_gets_nothing(
    practice: Practice,  # noqa: F811
    waiting: Waiting,
    client,
    users,
    outbox,
):
    dave_joins(practice, client, users, outbox)
    lying_about_pending_shares(
        practice.alice.exchange, lambda p: p | {"patient_email": practice.bob.email}
    )
    [outcome] = practice.alice.exchange.complete_pending_shares()
    nothing_shared(practice, waiting, outcome, "not the one you signed")


def test_a_patient_said_to_have_joined_without_keys_in_the_directory_gets_nothing(
    practice: Practice,  # noqa: F811
    waiting: Waiting,
):
    lying_about_pending_shares(practice.alice.exchange, lambda p: p | {"state": "joined"})
    [outcome] = practice.alice.exchange.complete_pending_shares()
    nothing_shared(practice, waiting, outcome, DAVE)


def test_a_statement_the_sender_did_not_sign_gets_nothing(
    practice: Practice,  # noqa: F811
    waiting: Waiting,
    client,
    users,
    outbox,
):
    """Dave's true account and address, with a document the sender never asked for."""
    dave_joins(practice, client, users, outbox)
    other = str(uuid.uuid4())
    lying_about_pending_shares(practice.alice.exchange, lambda p: p | {"document_id": other})
    [outcome] = practice.alice.exchange.complete_pending_shares()
    nothing_shared(practice, waiting, outcome, "not the one you signed")


def test_a_statement_the_server_got_signed_for_another_account_gets_nothing(
    practice: Practice,  # noqa: F811
    waiting: Waiting,
    client,
    users,
    outbox,
    ctx,
):
    """A server that named another account for Dave when the sender signed: the
    statement is the sender's own, but the directory proves Dave's address to be
    another account."""
    alice = practice.alice.exchange
    dave_joins(practice, client, users, outbox)
    bob = uuid.UUID(practice.bob.user.account_id)
    [pending] = alice.pending_shares()
    signer = alice.my_entry()
    misled = ShareStatement(
        waiting.document, 1, alice.account.id, signer.index, Reader(bob, DAVE)
    ).sign(alice.keys.signing)
    with ctx.sessions.begin() as db:
        db.execute(
            update(PendingShare)
            .where(PendingShare.id == pending.id)
            .values(patient_id=bob, signature=misled, signer_key_index=signer.index)
        )
    lying_about_pending_shares(alice, lambda p: p | {"state": "joined"})
    [outcome] = alice.complete_pending_shares()
    nothing_shared(practice, waiting, outcome, "another account than the one you signed for")
