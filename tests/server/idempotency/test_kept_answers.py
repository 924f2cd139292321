"""Idempotency keys: a write sent again with its key (its answer was lost) is answered
with the first answer and its journal receipt, not carried out twice; a key is its
account's own, holds one request, and is accepted only where answers hold no secret."""

from __future__ import annotations

import importlib
import typing
import uuid
from datetime import timedelta

from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import func, select

from tests.server.records.conftest import Practice, thread_body
from uhealthsec.client.api import ApiError
from uhealthsec.client.journal import JournalClient
from uhealthsec.crypto.journal import JournalEntry
from uhealthsec.protocol.encoding import b64u_decode
from uhealthsec.server.audit.models import JournalOutbox, JournalRecord
from uhealthsec.server.audit.outbox import stage_entry
from uhealthsec.server.audit.writer import PendingEntry
from uhealthsec.server.deps import REPLAYABLE, AnswerKeepingRoute
from uhealthsec.server.idempotency.models import KeptAnswer
from uhealthsec.server.idempotency.service import KEPT_FOR, purge_expired
from uhealthsec.server.messaging.models import Thread


def _post(exchange, path: str, key: str, **kwargs):
    """``exchange.call`` with a key of the test's choosing; the answer or the refusal."""
    try:
        return exchange.call("POST", path, headers={"Idempotency-Key": key}, **kwargs)
    except ApiError as refusal:
        return refusal


def _threads(ctx) -> int:
    with ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(Thread))


def test_a_write_sent_again_with_its_key_is_answered_as_the_first_time(practice: Practice, ctx):
    alice = practice.alice.exchange
    body = thread_body(alice, practice.bob.user)
    key = str(uuid.uuid4())
    before = _threads(ctx)
    first = _post(alice, "/threads", key, json=body)
    again = _post(alice, "/threads", f'"{key}"', json=body)  # the draft's quoted form
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _threads(ctx) == before + 1
    # The retry carries the first request's journal entry, with a proof; it makes none.
    assert again.headers["uhs-journal-entry"] == first.headers["uhs-journal-entry"]
    index = int(again.headers["uhs-journal-proof"].split(";")[0])
    assert index == int(first.headers["uhs-journal-proof"].split(";")[0])
    with ctx.sessions() as db:
        actions = [
            JournalEntry.decode(bytes(e)).action
            for e in db.scalars(select(JournalRecord.entry).where(JournalRecord.log_index > index))
        ]
    assert "messaging.create_thread" not in actions
    # And the client checks the replayed receipt as any: it describes the request sent.
    journal = JournalClient(alice.call)
    sent = again.request.read()
    assert journal.check_receipt(again, practice.alice.user.account_id, sent)[0] == index


def test_a_key_sent_again_with_another_request_is_refused(practice: Practice, ctx):
    alice = practice.alice.exchange
    key = str(uuid.uuid4())
    assert (
        _post(alice, "/threads", key, json=thread_body(alice, practice.bob.user)).status_code == 201
    )
    refused = _post(alice, "/threads", key, json=thread_body(alice, practice.bob.user))
    assert isinstance(refused, ApiError) and refused.status == 422
    assert "another request" in refused.detail
    assert refused.body["type"] and refused.body["status"] == 422
    # Nor for another route, or the same route on another object.
    practice_write = _post(alice, "/practices", key, json={"name": "Autre"})
    assert isinstance(practice_write, ApiError) and practice_write.status == 422


def test_a_key_is_its_accounts_own(practice: Practice, ctx):
    """Bob sending Alice's key (seen in a log, guessed) gets his own write carried out,
    never Alice's answer."""
    key = str(uuid.uuid4())
    alice, bob = practice.alice.exchange, practice.bob.exchange
    hers = _post(alice, "/practices", key, json={"name": "Cabinet A"})
    his = _post(bob, "/practices", key, json={"name": "Cabinet A"})
    assert hers.status_code == his.status_code == 201
    assert "idempotent-replayed" not in his.headers
    assert hers.json()["id"] != his.json()["id"]


def test_a_malformed_key_is_refused_before_anything_is_done(practice: Practice, ctx):
    alice = practice.alice.exchange
    before = _threads(ctx)
    for key in ("short", "x" * 65, "bad key with spaces!!", '"unclosed-but-long-enough'):
        refused = _post(alice, "/threads", key, json=thread_body(alice, practice.bob.user))
        assert isinstance(refused, ApiError) and refused.status == 400, key
        assert "Idempotency-Key" in refused.detail
    assert _threads(ctx) == before


def test_a_refused_write_keeps_nothing_and_may_be_sent_again(practice: Practice, ctx):
    """An unsigned write refused (here: inviting into a practice that does not exist)
    commits nothing, its answer included: the same key is free for the corrected
    request."""
    alice = practice.alice
    key = str(uuid.uuid4())
    invitation = {"email": "someone@example.org", "role": "practitioner"}
    headers = {"Idempotency-Key": key, "Authorization": f"Bearer {alice.user.tokens.access_token}"}
    path = f"/practices/{uuid.uuid4()}/invitations"
    refused = alice.exchange.http.post(path, json=invitation, headers=headers)
    assert refused.status_code == 404 and "uhs-signature" not in refused.request.headers
    with ctx.sessions() as db:
        assert db.scalar(select(KeptAnswer).where(KeptAnswer.key == key)) is None


def test_a_refused_signed_write_keeps_its_refusal(practice: Practice, ctx):
    """R3: a signed write refused (to a thread Alice is not in) keeps its refusal as the
    key's answer: the same request sent again gets it (its signature is used up, 13.0),
    and another request under that key is refused as a reused key."""
    alice = practice.alice.exchange
    key = str(uuid.uuid4())
    thread = uuid.uuid4()
    refused = _post(alice, f"/threads/{thread}/read", key, json={"seq": 1})
    assert isinstance(refused, ApiError) and refused.status == 404
    again = _post(alice, f"/threads/{thread}/read", key, json={"seq": 1})
    assert isinstance(again, ApiError) and (again.status, again.body) == (404, refused.body)
    other = _post(alice, f"/threads/{thread}/read", key, json={"seq": 2})
    assert isinstance(other, ApiError) and other.status == 422
    with ctx.sessions() as db:
        kept = db.scalar(select(KeptAnswer).where(KeptAnswer.key == key))
        assert kept.status == 404 and kept.patient_id is None


def test_answers_are_kept_a_day(practice: Practice, ctx):
    alice = practice.alice.exchange
    body = thread_body(alice, practice.bob.user)
    key = str(uuid.uuid4())
    assert _post(alice, "/threads", key, json=body).status_code == 201

    def kept_since(age: timedelta) -> None:
        with ctx.sessions.begin() as db:
            kept = db.scalar(select(KeptAnswer).where(KeptAnswer.key == key))
            kept.created_at = ctx.now() - age

    kept_since(KEPT_FOR - timedelta(minutes=1))
    assert _post(alice, "/threads", key, json=body).headers["idempotent-replayed"] == "true"
    kept_since(KEPT_FOR)
    # Past the day, the key is free: the request is carried out again (and answered as
    # any repeated thread is: the thread is there already).
    again = _post(alice, "/threads", key, json=body)
    assert "idempotent-replayed" not in getattr(again, "headers", {})
    with ctx.sessions.begin() as db:
        assert purge_expired(db, ctx.now() + KEPT_FOR) >= 1
        assert db.scalar(select(func.count()).select_from(KeptAnswer)) == 0


def test_writes_whose_answers_hold_secrets_are_done_once_and_their_answer_not_kept(
    practice: Practice, ctx
):
    """A write whose answer is not kept (a passkey's registration options: a one-time
    challenge) is still carried out once per key: its retry is told it was done (409)
    and nothing of the answer is in the database. (An upload's answer, which holds no
    secret, is kept: tests/server/records/test_request_signatures.py.)"""
    alice = practice.alice.exchange
    key = str(uuid.uuid4())
    options = _post(alice, "/auth/factors/webauthn-options", key)
    assert options.status_code == 200 and options.json()["challenge"]
    again = _post(alice, "/auth/factors/webauthn-options", key)
    assert isinstance(again, ApiError) and again.status == 409
    assert "carried out before" in again.detail and again.body["status"] == 409
    with ctx.sessions() as db:
        kept = db.scalar(select(KeptAnswer).where(KeptAnswer.key == key))
    assert kept.body is None and kept.media_type is None and kept.status == 200


def test_a_retry_after_a_crash_gets_the_receipt_of_the_staged_entry(practice: Practice, ctx):
    """The process committed the write and died before sequencing its entry: the retry
    sequences the staged entry and answers with its receipt, before any sweep."""
    alice = practice.alice.exchange
    key = str(uuid.uuid4())
    body = thread_body(alice, practice.bob.user)
    first = _post(alice, "/threads", key, json=body)
    entry = JournalEntry.decode(b64u_decode(first.headers["uhs-journal-entry"]))
    # What a crash leaves: the answer kept, its entry staged and not sequenced.
    with ctx.sessions.begin() as db:
        staged = stage_entry(db, PendingEntry(entry), ctx.now())
        kept = db.scalar(select(KeptAnswer).where(KeptAnswer.key == key))
        kept.outbox_id = staged.outbox_id
    again = _post(alice, "/threads", key, json=body)
    assert again.headers["idempotent-replayed"] == "true"
    index = int(again.headers["uhs-journal-proof"].split(";")[0])
    with ctx.sessions() as db:
        assert db.get(JournalOutbox, staged.outbox_id) is None
        placed = db.scalar(
            select(JournalRecord.log_index).where(JournalRecord.outbox_id == staged.outbox_id)
        )
    assert placed == index


#: Every router of the application, by domain.
ROUTERS = {
    module: importlib.import_module(f"uhealthsec.server.{module}.routes").router
    for module in (
        "accounts",
        "audit",
        "auth",
        "consent",
        "federation",
        "keys",
        "messaging",
        "records",
        "retention",
        "shield",
    )
}


def _keyed(route: APIRoute) -> bool:
    return any(d.call is REPLAYABLE.dependency for d in route.dependant.dependencies)


def _field_names(model: object) -> set[str]:
    """Every field name in a response model, nested models and lists included."""
    names: set[str] = set()
    for arg in typing.get_args(model) or (model,):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            for name, field in arg.model_fields.items():
                names.add(name)
                names |= _field_names(field.annotation)
        elif typing.get_args(arg):
            names |= _field_names(arg)
    return names


def test_kept_answers_hold_no_secret_and_every_health_data_write_accepts_a_key():
    """The answers kept in the database are those of routes that say nothing secret,
    and are noted by their route; a new write on health data cannot be added without
    a key."""
    secret = ("token", "secret", "code", "challenge", "password", "recovery")
    keyed: set[tuple[str, str]] = set()
    health_writes: set[tuple[str, str]] = set()
    for module, router in ROUTERS.items():
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            writes = {(m, route.path) for m in route.methods - {"GET", "HEAD"}}
            if module in ("records", "messaging", "consent", "retention"):
                health_writes |= writes
            if not _keyed(route):
                continue
            keyed |= writes
            assert isinstance(route, AnswerKeepingRoute), route.path
            fields = _field_names(route.response_model)
            assert not [f for f in fields if any(s in f for s in secret)], (route.path, fields)
    health_writes -= {("POST", "/blobs")}  # streamed: not keyed
    # Ends every session of the account: no retry can come to be answered (PROTOCOL 20.3).
    health_writes -= {("POST", "/accounts/me/deletion")}
    assert len(health_writes) >= 15 and health_writes <= keyed, health_writes - keyed
