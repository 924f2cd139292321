"""A lying server makes ``ExchangeClient.share`` re-wrap another document's key.

``share`` unwraps "every version you can read" from the server's view of the
document and wraps each key for the new recipient, without checking that the
version belongs to the document (no manifest, no author signature is verified; the
wrapped key is bound only to the envelope header, which the server serves too). The
server puts, in the view of the harmless document X that Alice shares with Bob, the
wrapped key and header of document Y (another patient's file, Bob not a reader):
Alice's client hands Bob the key of Y, signed statement included.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from tests.server.records.conftest import Practice, device
from uhealthsec.client.exchange import ExchangeRefused
from uhealthsec.crypto import envelope
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.wrap import unwrap_document_key
from uhealthsec.protocol.encoding import b64u_decode
from uhealthsec.server.records.models import Share


def test_share_does_not_rewrap_a_key_of_another_document(
    practice: Practice,
    ctx,
    users,
    client,
    report,
    tmp_path,
):
    alice, bob = practice.alice, practice.bob
    secret = tmp_path / "psychiatrie.txt"
    secret.write_bytes(b"Bilan psychiatrique: episode depressif majeur.\n")
    y = alice.exchange.send(secret, patient_file_id=practice.patient_file, to=[], title="Psy")
    x = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[], title="CR")
    y_view = alice.exchange.call("GET", f"/documents/{y}").json()
    y_version = y_view["versions"][-1]

    honest = alice.exchange.call

    def lying(method, path, **kwargs):
        response = honest(method, path, **kwargs)
        if method == "GET" and path == f"/documents/{x}":
            view = response.json()
            for version in view["versions"]:
                version["wrapped_key"] = y_version["wrapped_key"]
                version["envelope_header"] = y_version["envelope_header"]
            response._content = __import__("json").dumps(view).encode()
        return response

    alice.exchange.call = lying  # type: ignore[method-assign]
    try:
        alice.exchange.share(x, [bob.email])
    except ExchangeRefused:
        return  # refused: secure
    finally:
        del alice.exchange.call

    # What Bob (colluding with the server) now holds, as a share of X.
    with ctx.sessions() as db:
        share = db.scalar(
            select(Share).where(
                Share.document_id == x, Share.recipient_id == uuid.UUID(bob.user.account_id)
            )
        )
    bob_keys = device(client, users, bob.user).keys
    header = b64u_decode(y_version["envelope_header"])
    try:
        key = unwrap_document_key(share.wrapped_key, bob_keys, header)
        title = envelope.decrypt(key, b64u_decode(y_version["metadata_envelope"]))
    except CryptoError:
        return  # the key Bob got is not Y's: secure
    raise AssertionError(f"Bob received the key of document Y and reads its metadata: {title!r}")
