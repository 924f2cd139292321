"""Idempotency keys, second round: the replay after a refusal (``replay_if_committed``), the
refusals that commit their changes, the body read before the digest, and the journal.
Each test states what must hold."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.server.idempotency.test_attacks import _bearer, _is_problem
from tests.server.records.conftest import Practice
from tests.server.retention.past_retention import file_past_retention
from uhealthsec.server import deps
from uhealthsec.server.auth.models import FactorBudget
from uhealthsec.server.idempotency.models import KeptAnswer
from uhealthsec.server.idempotency.service import _STATE, IdempotentWrite, parse_key


def _racing_lookup(monkeypatch) -> None:
    """Every keyed write looks its key up before the first attempt of it committed (the
    first attempt still running, on another connection): the lookup finds nothing."""

    def begin_write(db, scope, account_id, values, request_digest, now):
        write = IdempotentWrite(account_id, parse_key(values), request_digest)
        scope.setdefault("state", {})[_STATE] = write

    monkeypatch.setattr(deps, "begin_write", begin_write)


def _failures(ctx, account_id) -> int:
    with ctx.sessions() as db:
        budget = db.scalar(
            select(FactorBudget).where(FactorBudget.account_id == uuid.UUID(str(account_id)))
        )
        return 0 if budget is None else budget.failures


# -- a refusal that commits its changes, then answered as a replay --------------------------


def test_a_retry_of_a_step_up_racing_its_first_attempt_spends_none_of_the_factor_budget(
    users, client: TestClient, ctx, monkeypatch
):
    """A step-up sent twice with one key (the SDK retrying over a second connection):
    the first is carried out; the second, which looked its key up before the first
    committed, meets the code the first spent and is refused as a wrong second factor
    (``SecondFactorRefused``, whose failure count would be committed). It is answered
    as a replay of the first (409 "carried out before"), and its count is not kept:
    else five such retries would lock the owner's factors with no wrong code ever
    typed, by counts no journal entry records."""
    user = users.signed_in("racing-step-up@example.org")
    code = users.next_totp(user.totp_secret)
    headers = {
        "Authorization": f"Bearer {user.tokens.access_token}",
        "Idempotency-Key": str(uuid.uuid4()),
    }
    first = client.post("/auth/step-up", json={"totp_code": code}, headers=headers)
    assert first.status_code == 200, first.text
    assert _failures(ctx, user.account_id) == 0
    _racing_lookup(monkeypatch)
    again = client.post("/auth/step-up", json={"totp_code": code}, headers=headers)
    assert again.status_code == 409 and again.headers.get("idempotent-replayed") == "true"
    assert _is_problem(again)
    assert _failures(ctx, user.account_id) == 0, (
        "the retry answered as a replay was counted as a wrong second factor"
    )


def test_a_wrong_step_up_code_is_counted_each_time_it_is_sent_with_one_key(
    users, client: TestClient, ctx
):
    """A refused write keeps no key: the same wrong code sent again with the same key
    is checked and counted again, not answered from a kept refusal, so a key does not
    buy free guesses nor a stable answer to probe with."""
    user = users.signed_in("wrong-step-up@example.org")
    headers = {
        "Authorization": f"Bearer {user.tokens.access_token}",
        "Idempotency-Key": str(uuid.uuid4()),
    }
    for n in (1, 2, 3):
        refused = client.post("/auth/step-up", json={"totp_code": "000000"}, headers=headers)
        assert refused.status_code == 401 and _is_problem(refused)
        assert "idempotent-replayed" not in refused.headers
        assert _failures(ctx, user.account_id) == n


# -- the body read before the digest -------------------------------------------------------


def test_a_body_past_the_limit_sent_to_a_route_without_one_is_refused_413(
    practice: Practice, ctx, client: TestClient
):
    """``read_whole_body`` reads the body of routes that take none: a body past
    ``max_request_bytes``, declared or chunked, is refused 413 as a problem (the size
    limit's refusal raised inside a dependency), never a 500, and nothing is done."""
    from tests.server.idempotency.test_attacks import RightsClient

    asked = RightsClient(practice.carol.exchange).ask(practice.id, "rectification")
    path = f"/rights-requests/{asked['id']}/withdraw"
    big = b" " * (ctx.settings.max_request_bytes + 1)
    for content in (big, iter([big[:1000], big[1000:]])):
        headers = {**_bearer(practice.carol), "Idempotency-Key": str(uuid.uuid4())}
        answer = client.post(path, content=content, headers=headers)
        assert answer.status_code == 413 and _is_problem(answer), answer.status_code
    done = practice.carol.send(
        "POST", path, content=b"{}", headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert done.status_code == 200, done.text


# -- a retry racing the sweeper ------------------------------------------------------------


def test_a_retry_with_an_expired_key_racing_the_sweeper_is_carried_out(
    practice: Practice, ctx, client: TestClient, monkeypatch
):
    """A retry sent after its key's day finds the expired row and deletes it to free
    the key; the worker's sweep (``purge_expired``) removes the same row between the
    lookup and that delete (on PostgreSQL two retries of one expired key do the same to
    each other). The retry must still be carried out as a new write, or refused as a
    4xx problem: not fail with the ORM's "expected to delete 1 row" (a 500 or a 503)."""
    from uhealthsec.server.idempotency import service as idempotency

    key, name = str(uuid.uuid4()), f"Cabinet {uuid.uuid4().hex[:8]}"
    headers = {**_bearer(practice.alice), "Idempotency-Key": key}
    assert client.post("/practices", json={"name": name}, headers=headers).status_code == 201
    with ctx.sessions() as db:  # the key's day has passed (the access token's has not)
        kept = db.scalar(select(KeptAnswer).where(KeptAnswer.key == key))
        kept.created_at = ctx.now() - idempotency.KEPT_FOR - timedelta(minutes=1)
        db.commit()
    real = idempotency._lookup

    def lookup_then_sweep(db, account_id, k):
        found = real(db, account_id, k)
        if found is not None:
            with ctx.sessions() as other:
                idempotency.purge_expired(other, ctx.now())
                other.commit()
        return found

    monkeypatch.setattr(idempotency, "_lookup", lookup_then_sweep)
    again = client.post("/practices", json={"name": name}, headers=headers)
    assert again.status_code != 401, again.text
    assert again.status_code == 201 or (400 <= again.status_code < 500 and _is_problem(again)), (
        again.status_code,
        again.text,
    )


# -- kept answers and a file's destruction -------------------------------------------------


def test_destroying_a_patients_file_in_one_practice_keeps_the_keys_of_writes_in_another(
    practice: Practice, ctx, report, users
):
    """Destroying a patient's file removes the kept answers about that file; the keys of
    writes about the same patient in another practice, whose file stays, stay too. A
    key's row exists exactly when its write committed; without it, a retry of a
    committed write would be carried out a second time."""
    from tests.server.idempotency.test_kept_answers import _post
    from uhealthsec.client.rights import RightsClient

    file_past_retention(practice, ctx, report)
    alice = practice.alice.exchange
    other = alice.call("POST", "/practices", json={"name": "Autre cabinet"}).json()["id"]
    users.join_practice(practice.alice.user, other, practice.carol.user)
    key = str(uuid.uuid4())
    body = {"practice_id": other, "patient_email": practice.carol.email}
    opened = _post(alice, "/patient-files", key, json=body)
    assert opened.status_code == 200, getattr(opened, "detail", opened)
    with ctx.sessions() as db:
        assert db.scalar(select(KeptAnswer).where(KeptAnswer.key == key)) is not None

    request = RightsClient(practice.carol.exchange).ask(practice.id, "erasure")
    assert RightsClient(alice).complete(request["id"])["status"] == "done"
    with ctx.sessions() as db:
        assert db.scalar(select(KeptAnswer).where(KeptAnswer.key == key)) is not None, (
            "the erasure in one practice removed the key of a write in another"
        )
    again = _post(alice, "/patient-files", key, json=body)
    assert again.headers.get("idempotent-replayed") == "true"


# -- a replay and the route's own checks ---------------------------------------------------


def test_a_practitioner_no_longer_verified_is_not_answered_from_a_kept_health_data_answer(
    practice: Practice, ctx
):
    """A practitioner whose professional identity is no longer verified is refused every
    health-data route (403), a retry of a write made before included: a kept answer is
    given only once the router's checks (``HEALTH_DATA``) have passed."""
    from sqlalchemy import update

    from tests.server.idempotency.test_kept_answers import _post
    from tests.server.records.conftest import thread_body
    from uhealthsec.server.accounts.models import Account

    alice = practice.alice.exchange
    body = thread_body(alice, practice.bob.user)
    key = str(uuid.uuid4())
    assert _post(alice, "/threads", key, json=body).status_code == 201
    with ctx.sessions.begin() as db:
        db.execute(
            update(Account)
            .where(Account.id == uuid.UUID(str(practice.alice.user.account_id)))
            .values(identity_verified_at=None)
        )
    fresh = _post(alice, "/threads", str(uuid.uuid4()), json=thread_body(alice, practice.bob.user))
    assert getattr(fresh, "status", None) == 403
    again = _post(alice, "/threads", key, json=body)
    assert getattr(again, "status", None) == 403, "a kept answer was given past the check"


# -- what replay_if_committed must not replay----------------------------------------------------


def test_a_refusal_is_not_turned_into_the_answer_of_another_request_with_its_key(
    practice: Practice, ctx, client: TestClient, monkeypatch
):
    """A refused keyed write looks its key up again after rollback: a row committed
    meanwhile with another request under the same key (the client's bug, or a request
    it reused the key for) is not its answer. The refusal stands, as a problem."""
    key = str(uuid.uuid4())
    headers = {**_bearer(practice.alice), "Idempotency-Key": key}
    made = client.post("/practices", json={"name": f"Cabinet {key[:8]}"}, headers=headers)
    assert made.status_code == 201
    _racing_lookup(monkeypatch)
    refused = practice.alice.send(
        "POST", f"/threads/{uuid.uuid4()}/read", {"seq": 1}, headers=headers
    )
    assert refused.status_code == 404 and _is_problem(refused), refused.status_code
    assert "idempotent-replayed" not in refused.headers


def test_a_refusal_is_not_answered_from_an_expired_row_of_its_key(
    practice: Practice, ctx, client: TestClient, monkeypatch
):
    """Nor is a row of the same request past its day: the refusal it met (the request
    withdrawn already) is the answer, not the first one's answer kept beyond
    ``KEPT_FOR``."""
    from uhealthsec.client.rights import RightsClient
    from uhealthsec.server.idempotency.service import KEPT_FOR

    asked = RightsClient(practice.carol.exchange).ask(practice.id, "rectification")
    path = f"/rights-requests/{asked['id']}/withdraw"
    key = str(uuid.uuid4())
    headers = practice.carol.signed("POST", path, b"{}", key)
    assert client.post(path, content=b"{}", headers=headers).status_code == 200
    with ctx.sessions() as db:
        kept = db.scalar(select(KeptAnswer).where(KeptAnswer.key == key))
        kept.created_at = ctx.now() - KEPT_FOR - timedelta(minutes=1)
        db.commit()
    _racing_lookup(monkeypatch)
    again = client.post(path, content=b"{}", headers=headers)
    assert 400 <= again.status_code < 500 and _is_problem(again), again.status_code
    assert "idempotent-replayed" not in again.headers
