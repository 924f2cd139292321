"""The signed password change (docs/PROTOCOL.md, 16.2) against its stored vector."""

import uuid

import pytest

from tests.conftest import load_vectors
from uhealthsec.crypto.errors import SignatureVerificationFailed
from uhealthsec.crypto.keystore_change import KeystoreChange

VECTORS = load_vectors("keystore_change.json")["vectors"]


@pytest.mark.parametrize("vector", VECTORS)
def test_keystore_change_vector(vector):
    change = KeystoreChange(
        uuid.UUID(vector["account_id"]),
        bytes.fromhex(vector["current_keystore"]),
        bytes.fromhex(vector["new_keystore"]),
        bytes.fromhex(vector["new_auth_secret"]),
    )
    assert change.digest().hex() == vector["digest"]
    public, signature = (
        bytes.fromhex(vector["signing_public_key"]),
        bytes.fromhex(vector["signature"]),
    )
    change.verify(public, signature)
    # Another secret, or the change replayed over the keystore it produced, does not verify.
    for other in (
        KeystoreChange(change.account_id, change.current, change.new, bytes(32)),
        KeystoreChange(change.account_id, change.new, change.new, change.auth_secret),
        KeystoreChange(uuid.uuid4(), change.current, change.new, change.auth_secret),
    ):
        with pytest.raises(SignatureVerificationFailed):
            other.verify(public, signature)
