"""A countersignature under a key no honest witness has is refused (docs/PROTOCOL.md, 4.1)."""

from __future__ import annotations

from tests.vectors import edwards
from uhealthsec.crypto import merkle, signing
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode


def test_an_all_zero_witness_key_cannot_countersign(users, client):
    """The all-zero key is a point of order 4: OpenSSL alone accepts a signature forged
    without any private key, so a server could show as many "witnesses" as it likes."""
    alice = users.signed_in("alice@demo.test")
    auth = {"Authorization": f"Bearer {alice.tokens.access_token}"}
    served = client.get("/journal/head", headers=auth).json()["head"]
    head = merkle.TreeHead(
        served["log"], served["size"], b64u_decode(served["root"]), served["timestamp_ms"]
    )
    zero = bytes(32)
    point = edwards.decode(zero)
    assert point is not None
    message = signing.signed_message(signing.Purpose.COSIGNATURE, head.digest())
    forged = edwards.forge(zero, point, message)
    assert forged is not None

    answer = client.post(
        "/journal/cosignatures",
        headers=auth,
        json={
            "size": head.size,
            "witness_key": b64u_encode(zero),
            "signature": b64u_encode(forged),
        },
    )
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    listed = client.get("/journal/cosignatures", headers=auth, params={"size": head.size})
    assert listed.json() == []
