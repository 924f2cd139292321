"""A countersignature under a key no honest witness has is refused (docs/PROTOCOL.md, 4.1)."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import served_checkpoint
from tests.vectors import edwards
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.server.audit.models import JournalWitness
from uhealthsec.server.audit.service import JournalService
from uhealthsec.server.errors import InvalidInput


def test_an_all_zero_witness_key_cannot_countersign(users, client, ctx):
    """The all-zero key is a point of order 4: OpenSSL alone accepts a signature forged
    without any private key, so a server could show as many "witnesses" as it likes."""
    alice = users.signed_in("alice@demo.test")
    zero = bytes(32)
    with ctx.sessions.begin() as db, pytest.raises(InvalidInput):
        JournalService(db, ctx).list_witness(zero, "Auditeur", alice.email)
    # Listed all the same (a rewritten table): the countersignature is still refused.
    with ctx.sessions.begin() as db:
        db.add(
            JournalWitness(
                witness_key=zero,
                name="Auditeur",
                account_id=uuid.UUID(alice.account_id),
                added_at=ctx.now(),
            )
        )
    auth = {"Authorization": f"Bearer {alice.tokens.access_token}"}
    head = served_checkpoint(client.get("/journal/head", headers=auth).json())
    point = edwards.decode(zero)
    assert point is not None
    timestamp = int(ctx.now().timestamp())
    forged = edwards.forge(zero, point, head.cosignature_message(timestamp))
    assert forged is not None

    answer = client.post(
        "/journal/cosignatures",
        headers=auth,
        json={
            "size": head.size,
            "witness_key": b64u_encode(zero),
            "timestamp": timestamp,
            "signature": b64u_encode(forged),
        },
    )
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    listed = client.get("/journal/cosignatures", headers=auth, params={"size": head.size})
    assert listed.json() == []
