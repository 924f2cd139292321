"""Idempotency keys under attack and under faults: what a hostile client, a lost
answer, two retries at once or a long-running server can make of kept answers.
Each test states what must hold."""

from __future__ import annotations

import json
import uuid

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.server.idempotency.test_kept_answers import _post
from tests.server.records.conftest import Practice
from tests.server.retention.past_retention import file_past_retention
from tests.server.test_concurrent_writes import served, together  # noqa: F401
from tests.server_fixtures import BASE_URL
from uhealthsec.client.api import ApiError, RetryUnavailable
from uhealthsec.client.exchange import ExchangeClient
from uhealthsec.client.rights import RightsClient
from uhealthsec.server.accounts.models import Practice as PracticeRow
from uhealthsec.server.idempotency import service as idempotency
from uhealthsec.server.idempotency.models import KeptAnswer
from uhealthsec.server.idempotency.service import KEPT_FOR


def _practices_named(ctx, name: str) -> int:
    with ctx.sessions() as db:
        return db.scalar(
            select(func.count()).select_from(PracticeRow).where(PracticeRow.name == name)
        )


def _kept(ctx) -> list[KeptAnswer]:
    with ctx.sessions() as db:
        return list(db.scalars(select(KeptAnswer)))


def _body(kept: KeptAnswer) -> bytes:
    """The answer kept for a key; none for a write answered again by running it (its
    route's answer is not noted), which holds nothing to erase."""
    return b"" if kept.body is None else bytes(kept.body)


def _bearer(person) -> dict[str, str]:
    return {"Authorization": f"Bearer {person.user.tokens.access_token}"}


def _is_problem(response) -> bool:
    return response.headers.get("content-type", "").startswith("application/problem+json")


# -- growth ---------------------------------------------------------------------------------


def test_the_worker_purges_answers_kept_past_their_day(practice: Practice, ctx, clock):
    """Every write the SDK sends keeps its key (and answer): the worker's maintenance
    round (``uhs-server worker``) removes those past their day, else the table would
    only grow."""
    from uhealthsec.server.cli import _maintain

    assert _post(practice.alice.exchange, "/practices", str(uuid.uuid4()), json={"name": "P"})
    assert _kept(ctx)
    clock.advance(seconds=KEPT_FOR.total_seconds() + 60)
    _maintain(ctx)
    assert _kept(ctx) == [], "answers kept past KEPT_FOR are still in kept_answers"


# -- an answer that is not kept ------------------------------------------------------------


def test_a_write_whose_answer_is_not_kept_is_not_carried_out_again(
    practice: Practice, ctx, monkeypatch
):
    """An answer over ``MAX_KEPT_ANSWER`` is not kept, but its key is: the retry the
    key was sent for is told the write was done, not carried out a second time. (A
    document's answer lists every version with its 8 KiB metadata envelope, its readers
    and share statements, and every revocation: it passes 256 KiB after a few dozen
    versions or a few thousand recipients; the limit is lowered here to reach it with
    one small write.)"""
    monkeypatch.setattr(idempotency, "MAX_KEPT_ANSWER", 64)
    key, name = str(uuid.uuid4()), f"Cabinet {uuid.uuid4().hex[:8]}"
    first = _post(practice.alice.exchange, "/practices", key, json={"name": name})
    assert first.status_code == 201
    again = _post(practice.alice.exchange, "/practices", key, json={"name": name})
    assert _practices_named(ctx, name) == 1, "the retry created a second practice"
    assert isinstance(again, ApiError) or again.json()["id"] == first.json()["id"]


# -- kept answers and erasure --------------------------------------------------------------


def test_an_erasure_leaves_no_copy_of_the_erased_documents_in_kept_answers(
    practice: Practice, ctx, report
):
    """The SDK keys every write, so the answer to Alice's ``POST /documents`` (the
    document's versions: metadata envelope, signed manifest, the document key wrapped
    for her) is kept. Carol's erasure destroys the document and its wrapped keys (the
    crypto-shredding the erasure relies on): the kept answers about her go with them,
    so that no replay can serve a copy."""
    file_past_retention(practice, ctx, report)
    [document] = practice.alice.exchange.documents()
    document_id = str(document.id)
    assert any(document_id.encode() in _body(k) for k in _kept(ctx))

    request = RightsClient(practice.carol.exchange).ask(practice.id, "erasure")
    done = RightsClient(practice.alice.exchange).complete(request["id"])
    assert done["status"] == "done"
    assert practice.alice.exchange.documents() == []
    holding = [k.key for k in _kept(ctx) if document_id.encode() in _body(k)]
    assert holding == [], "kept answers still hold the erased document and its keys"


# -- two sends of one write at once -------------------------------------------------------


@pytest.mark.parametrize("count", [6])
def test_sends_of_one_keyed_write_at_once_do_it_once_and_tell_the_others_to_wait(
    practice: Practice,
    ctx,
    served: str,  # noqa: F811
    count: int,
):
    """Six sends of one write with one key at once (a client retrying over several
    connections): one change; each other send is answered with it, or with 409 and
    Retry-After (the SDK's cue to ask again), never a 5xx, never a second change."""
    key, name = str(uuid.uuid4()), f"Cabinet {uuid.uuid4().hex[:8]}"
    headers = {**_bearer(practice.alice), "Idempotency-Key": key}
    clients = [httpx2.Client(base_url=served, timeout=60) for _ in range(count)]
    try:
        outcomes = together(
            count, lambda i: clients[i].post("/practices", json={"name": name}, headers=headers)
        )
    finally:
        for http in clients:
            http.close()
    answers = [o for o in outcomes if isinstance(o, httpx2.Response)]
    assert len(answers) == count, outcomes
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {201, 409}, statuses
    for answer in answers:
        if answer.status_code == 409:
            assert "retry-after" in answer.headers and _is_problem(answer)
    assert len({a.json()["id"] for a in answers if a.status_code == 201}) == 1
    assert _practices_named(ctx, name) == 1


# -- the request digest ---------------------------------------------------------------------


def test_a_key_sent_again_with_another_query_string_is_refused(practice: Practice, ctx):
    """The digest covers the target with its query string: same key, same body, another
    query is another request (422), not answered with the first one's answer."""
    key, name = str(uuid.uuid4()), f"Cabinet {uuid.uuid4().hex[:8]}"
    alice = practice.alice.exchange
    assert _post(alice, "/practices", key, json={"name": name}).status_code == 201
    other = _post(alice, "/practices?practice=other", key, json={"name": name})
    assert isinstance(other, ApiError) and other.status == 422
    assert _practices_named(ctx, name) == 1


def test_a_route_without_a_body_parameter_still_digests_the_body(practice: Practice, client):
    """``withdraw`` takes no body, but the body is read before the digest is taken: the
    same key with other bytes is refused (422), not replayed as if the same request."""
    asked = RightsClient(practice.carol.exchange).ask(practice.id, "rectification")
    path = f"/rights-requests/{asked['id']}/withdraw"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    carol = practice.carol
    first = carol.send("POST", path, content=b"{}", headers=key)
    assert first.status_code == 200, first.text
    same = carol.send("POST", path, content=b"{}", headers=key)
    assert same.status_code == 200 and same.headers.get("idempotent-replayed") == "true"
    else_ = b'{"something": "else"}'
    other = carol.send("POST", path, content=else_, headers=key)
    assert other.status_code == 422 and _is_problem(other)
    signed = carol.signed("POST", path, else_, key["Idempotency-Key"])
    chunked = client.post(path, content=iter([else_[:6], else_[6:]]), headers=signed)
    assert chunked.status_code == 422 and _is_problem(chunked)


# -- odd headers ---------------------------------------------------------------------------


def test_odd_key_headers_are_refused_as_problems_and_nothing_is_done(
    practice: Practice, ctx, client: TestClient
):
    name = f"Cabinet {uuid.uuid4().hex[:8]}"
    for value in (b"", b"   ", "clé-unique-ééééééééé".encode(), b"k" * 8000, b"\xff" * 20):
        answer = client.post(
            "/practices",
            json={"name": name},
            headers=[
                (b"authorization", _bearer(practice.alice)["Authorization"].encode()),
                (b"idempotency-key", value),
            ],
        )
        assert 400 <= answer.status_code < 500 and _is_problem(answer), (value[:20], answer.text)
    assert _practices_named(ctx, name) == 0


def test_two_different_key_headers_are_refused(practice: Practice, ctx, client: TestClient):
    """``Idempotency-Key`` is a structured-field Item: two field lines combine to a list,
    which is no key (RFC 8941, 4.2). A proxy or client library that keeps the last line
    and a server that kept the first would key the same request differently: the
    request is refused, not carried out."""
    name = f"Cabinet {uuid.uuid4().hex[:8]}"
    answer = client.post(
        "/practices",
        json={"name": name},
        headers=[
            (b"authorization", _bearer(practice.alice)["Authorization"].encode()),
            (b"idempotency-key", str(uuid.uuid4()).encode()),
            (b"idempotency-key", str(uuid.uuid4()).encode()),
        ],
    )
    assert answer.status_code == 400 and _is_problem(answer), answer.status_code
    assert _practices_named(ctx, name) == 0


# -- the SDK's retries ---------------------------------------------------------------------


def test_a_write_whose_answer_is_not_kept_is_done_once_when_the_sdk_sends_it_again(
    practice: Practice, ctx, client: TestClient
):
    """``ExchangeClient.call`` puts a key on every write, and the transport resends a
    keyed write whose answer was lost. A route whose answer is not kept (a nonce for a
    change of second factors) still takes the key: the resent request is told the
    write was done (409), and the write is carried out, and journaled, once."""
    from uhealthsec.crypto.journal import JournalEntry
    from uhealthsec.server.audit.models import JournalRecord

    sent: list[str] = []

    def server(request: httpx2.Request) -> httpx2.Response:
        answer = client.request(
            request.method,
            str(request.url),
            headers=dict(request.headers),
            content=request.read(),
        )
        if request.method != "GET":
            sent.append(request.url.path)
            if len(sent) == 1:  # done, then the connection broke before the answer
                raise httpx2.RemoteProtocolError("peer closed connection")
        return httpx2.Response(answer.status_code, headers=answer.headers, content=answer.content)

    transport = RetryUnavailable(httpx2.MockTransport(server), sleep=lambda _: None)
    with httpx2.Client(base_url=BASE_URL, transport=transport) as http:
        alice = ExchangeClient(
            http, lambda: practice.alice.user.tokens.access_token, practice.alice.exchange._keys
        )
        path = "/auth/factors/change-nonce"
        with pytest.raises(ApiError) as told:
            alice.call("POST", path)
    assert told.value.status == 409 and "carried out before" in told.value.detail
    assert sent == [path, path]
    with ctx.sessions() as db:
        actions = [
            JournalEntry.decode(bytes(e)).action for e in db.scalars(select(JournalRecord.entry))
        ]
    assert actions.count("auth.factor_change_nonce") == 1


@pytest.mark.parametrize("count", [6])
def test_sends_of_one_keyed_new_thread_at_once_are_never_told_it_exists(
    practice: Practice,
    ctx,
    served: str,  # noqa: F811
    count: int,
):
    """A retry sent while the first attempt is still running (the SDK resends after a
    read timeout) runs the route too, and a write naming its object (a thread, by the
    id the client chose) meets the first attempt's object; that refusal must not reach
    the client as the failure of a write that was carried out: each send gets the
    first answer, or a 409 with Retry-After."""
    from tests.server.records.conftest import thread_body

    body = json.dumps(thread_body(practice.alice.exchange, practice.bob.user)).encode()
    headers = {
        **practice.alice.signed("POST", "/threads", body, str(uuid.uuid4())),
        "Content-Type": "application/json",
    }
    clients = [httpx2.Client(base_url=served, timeout=60) for _ in range(count)]
    try:
        outcomes = together(
            count, lambda i: clients[i].post("/threads", content=body, headers=headers)
        )
    finally:
        for http in clients:
            http.close()
    answers = [o for o in outcomes if isinstance(o, httpx2.Response)]
    assert len(answers) == count, outcomes
    wrong = [
        (a.status_code, a.json().get("detail"))
        for a in answers
        if a.status_code != 201 and not (a.status_code == 409 and "retry-after" in a.headers)
    ]
    assert wrong == []
    assert len({a.json()["id"] for a in answers if a.status_code == 201}) == 1


# -- the request digest and the user's signature ------------------------------------------


def test_a_body_sent_to_a_route_without_one_cannot_leave_a_signature_that_does_not_verify(
    practice: Practice, ctx, client: TestClient
):
    """On a route without a body parameter (``withdraw``), a client signing the digest
    of an empty body and sending a body must not get an entry into the journal whose
    user signature does not verify over its request digest (anyone holding the entry
    and her key would conclude the server altered it): the whole body is read before
    the signature is checked, so the request is refused or its entry's signature
    verifies."""
    import hashlib

    from uhealthsec.crypto.journal import JournalEntry, SignedRequest, request_digest
    from uhealthsec.protocol.encoding import b64u_encode
    from uhealthsec.server.audit.models import JournalRecord

    carol = practice.carol.exchange
    asked = RightsClient(carol).ask(practice.id, "rectification")
    path = f"/rights-requests/{asked['id']}/withdraw"
    empty = request_digest("POST", path, hashlib.sha256(b"").digest())
    signature = SignedRequest(empty).sign(carol.keys.signing)
    answer = client.post(
        path,
        content=b'{"reason": "planted"}',
        headers={
            **_bearer(practice.carol),
            "UHS-Signature": f"{carol.my_entry().index};{b64u_encode(signature)}",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    if answer.status_code >= 400:
        assert 400 <= answer.status_code < 500 and _is_problem(answer)
        return
    with ctx.sessions() as db:
        entries = [JournalEntry.decode(bytes(e)) for e in db.scalars(select(JournalRecord.entry))]
    [entry] = [e for e in entries if e.action == "consent.withdraw"]
    assert entry.signature is not None
    SignedRequest(entry.request_digest).verify(
        carol.keys.public().signing, entry.signature.signature
    )


def _recording_sdk(practice: Practice, client: TestClient, lose_first_write: bool):
    """Alice's SDK over a transport that records what reaches the server (through the
    test client) and, if asked, loses the answer to the first write after it was done."""
    sent: list[httpx2.Request] = []

    def server(request: httpx2.Request) -> httpx2.Response:
        content = request.read()
        answer = client.request(
            request.method, str(request.url), headers=list(request.headers.raw), content=content
        )
        if request.method != "GET":
            sent.append(request)
            if lose_first_write and len(sent) == 1:
                raise httpx2.RemoteProtocolError("peer closed connection")
        return httpx2.Response(answer.status_code, headers=answer.headers, content=answer.content)

    transport = RetryUnavailable(httpx2.MockTransport(server), sleep=lambda _: None)
    http = httpx2.Client(base_url=BASE_URL, transport=transport)
    sdk = ExchangeClient(
        http, lambda: practice.alice.user.tokens.access_token, practice.alice.exchange._keys
    )
    return sdk, sent, http


def test_a_streamed_upload_whose_answer_is_lost_is_not_sent_again(
    practice: Practice, client: TestClient
):
    """The SDK keys the upload too, but its body is a stream: it goes once, and the
    lost answer is the caller's error, not a second blob."""
    sdk, sent, http = _recording_sdk(practice, client, lose_first_write=True)
    with http, pytest.raises(httpx2.RemoteProtocolError):
        sdk.call(
            "POST",
            "/blobs",
            content=iter([b"envelope ", b"bytes"]),
            headers={"Content-Type": "application/octet-stream"},
        )
    assert [r.url.path for r in sent] == ["/blobs"]


def test_the_sdk_sends_one_key_when_its_caller_gives_one_in_lower_case(
    practice: Practice, client: TestClient
):
    """``call`` adds ``Idempotency-Key`` unless the caller's headers hold one, in any
    spelling: a caller's ``idempotency-key`` goes out alone, never beside a second,
    different key (which the server refuses, see the test of two key headers)."""
    sdk, sent, http = _recording_sdk(practice, client, lose_first_write=False)
    key = str(uuid.uuid4())
    with http:
        sdk.call("POST", "/practices", json={"name": "Cabinet C"}, headers={"idempotency-key": key})
    [request] = sent
    assert request.headers.get_list("idempotency-key") == [key]
