"""Three people of a practice's daily work, each with an SDK client on their device."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.server_fixtures import User, Users, device, send_signed, signed_headers
from uhealthsec.client.api import ApiError
from uhealthsec.client.consent import ConsentClient
from uhealthsec.client.exchange import ExchangeClient, MessagingClient, _served_manifests
from uhealthsec.client.wire import body
from uhealthsec.crypto.manifest import NO_PREVIOUS, Reader


@dataclass
class Person:
    user: User
    exchange: ExchangeClient

    @property
    def email(self) -> str:
        return self.user.email

    def signed(
        self, method: str, target: str, body: bytes = b"", idempotency_key: str | None = None
    ) -> dict[str, str]:
        """Headers of a raw request of this person's, signed (R3) over its Idempotency-Key
        (``idempotency_key``, or a fresh one for a change)."""
        token = self.user.tokens.access_token
        return signed_headers(self.exchange, token, method, target, body, idempotency_key)

    def send(self, method: str, target: str, json_body: object = None, **options: Any) -> Any:
        """A raw request of this person's, signed (R3): its answer, whatever its status."""
        token = self.user.tokens.access_token
        return send_signed(
            self.exchange.http, self.exchange, token, method, target, json_body=json_body, **options
        )


def thread_body(sender: ExchangeClient, *others: User) -> dict:
    """A ``POST /threads`` body from ``sender`` to ``others``, its members signed as a
    client signs them (docs/PROTOCOL.md 12.1), without looking anyone up: for asking
    the server what it accepts."""
    members = [Reader(uuid.UUID(u.account_id), u.email) for u in others]
    me = Reader(uuid.UUID(sender.me["id"]), sender.me["email"])
    return body(MessagingClient(sender).thread_request([me, *members])[1])


@dataclass
class Practice:
    id: str
    alice: Person  # practitioner, admin of the practice
    bob: Person  # practitioner elsewhere, whom Carol consented to
    carol: Person  # patient
    patient_file: str


@pytest.fixture
def practice(client: TestClient, users: Users) -> Practice:
    alice_user = users.signed_in("alice@example.org", "practitioner")
    alice = Person(alice_user, device(client, users, alice_user))
    practice_id = alice.exchange.call("POST", "/practices", json={"name": "Cabinet"}).json()["id"]
    carol_user = users.signed_in("carol@example.org", "patient")
    users.join_practice(alice_user, practice_id, carol_user)
    bob_user = users.signed_in("bob@example.org", "practitioner")
    patient_file = alice.exchange.patient_file(practice_id, "carol@example.org")["id"]
    carol = Person(carol_user, device(client, users, carol_user))
    # Bob works elsewhere: Carol lets Alice's practice share her file with him (L1110-4).
    ConsentClient(carol.exchange).decide(practice_id, "outside_team", "permit", "bob@example.org")
    return Practice(
        practice_id,
        alice,
        Person(bob_user, device(client, users, bob_user)),
        carol,
        patient_file,
    )


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "compte-rendu.txt"
    path.write_bytes(b"Compte rendu de consultation: tension 12/8, suivi dans 3 mois.\n" * 500)
    return path


def version_body(
    practice: Practice,
    report,
    number: int = 1,
    document_id=None,
    *,
    author: ExchangeClient | None = None,
    recipients: list | None = None,
):
    """A version as the author's SDK (Alice's by default) would post it, for Bob unless
    ``recipients`` are given, without posting it."""
    author = author or practice.alice.exchange
    document_id = document_id or uuid.uuid4()
    if recipients is None:
        recipients = author._recipients([practice.bob.email])
    previous = NO_PREVIOUS
    if number > 1:  # chained to the version before, as served
        previous = _served_manifests(author.document_view(document_id))[number - 1].digest()
    version, _ = author._prepare_version(
        document_id,
        uuid.UUID(practice.patient_file),
        number,
        report,
        None,
        None,
        recipients,
        {},
        None,
        previous,
    )
    return {"id": str(document_id), "patient_file_id": practice.patient_file, **body(version)}


def next_version_body(
    practice: Practice, report, document_id, author: ExchangeClient, recipients: list
) -> dict:
    """Version 2 of ``document_id`` as ``author``'s SDK would post it to its versions."""
    body = version_body(practice, report, 2, document_id, author=author, recipients=recipients)
    return {k: v for k, v in body.items() if k not in ("id", "patient_file_id")}


def colleague(practice: Practice, client: TestClient, users: Users, outbox, email: str) -> Person:
    """A practitioner who joined Alice's practice through her invitation."""
    practice.alice.exchange.call(
        "POST",
        f"/practices/{practice.id}/invitations",
        json={"email": email, "role": "practitioner"},
    )
    user = users.signed_in(email, invitation=outbox.last_code(email, "Invitation code"))
    return Person(user, device(client, users, user))


def refused(status: int, action, *args, **kwargs) -> str:
    """The refusal's detail, once its status is the one expected."""
    with pytest.raises(ApiError) as refusal:
        action(*args, **kwargs)
    assert refusal.value.status == status, refusal.value.detail
    return refusal.value.detail


@contextmanager
def next_version_readers(
    exchange: ExchangeClient, leave_out: Sequence[str] = (), add: Sequence[str] = ()
) -> Iterator[None]:
    """Within it, ``exchange`` writes its next versions for the readers its client
    checked less the accounts ``leave_out`` and plus the addresses ``add``: an author
    who chooses other readers, or a client that does not keep to its own rules."""
    checked = exchange.readers_of_next_version
    left_out = {uuid.UUID(account_id) for account_id in leave_out}

    def chosen(view: Any, confirm: Sequence[str] = ()) -> list[Any]:
        readers = [r for r in checked(view, confirm) if r.account_id not in left_out]
        kept = {r.account_id for r in readers}
        return readers + [e for e in exchange._recipients(list(add)) if e.account_id not in kept]

    exchange.readers_of_next_version = chosen  # type: ignore[method-assign]
    try:
        yield
    finally:
        del exchange.readers_of_next_version
