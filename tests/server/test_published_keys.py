"""A key bundle whose Ed25519 key no honest client produces is refused at registration
(docs/PROTOCOL.md 4.1): with the identity as key, one fixed signature would verify for
every document the account ever "signed"."""

from __future__ import annotations

import pytest

from tests.server_fixtures import FAST_ARGON2
from uhealthsec.crypto import keystore
from uhealthsec.protocol.encoding import b64u_encode


@pytest.mark.parametrize(
    "signing_key", [(1).to_bytes(32, "little"), bytes(32)], ids=["identity", "all-zero"]
)
def test_registration_with_a_small_order_signing_key_is_refused(client, outbox, signing_key):
    created = keystore.create_keystore("correct horse battery staple", params=FAST_ARGON2)
    sealed = bytearray(created.keystore.encode())
    sealed[10:42] = signing_key  # after "UHSK" || 0x01 || "UHSP" || 0x01
    body = {
        "email": "mallory@demo.test",
        "display_name": "Mallory",
        "kind": "patient",
        "auth_secret": b64u_encode(created.auth_secret),
        "keystore": b64u_encode(bytes(sealed)),
    }
    refused = client.post("/accounts/registrations", json=body)
    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert outbox.messages("mallory@demo.test") == []

    body["keystore"] = b64u_encode(created.keystore.encode())
    assert client.post("/accounts/registrations", json=body).status_code < 300
