"""The signed password change (docs/PROTOCOL.md, 16.2) and recovery (16.5) against
their stored vectors."""

import uuid

import pytest

from tests.conftest import load_vectors
from uhealthsec.crypto.errors import SignatureVerificationFailed, WrongPassword
from uhealthsec.crypto.keystore import Keystore, unlock_with_password, unlock_with_recovery_key
from uhealthsec.crypto.keystore_change import KeystoreChange, KeystoreRecovery

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


RECOVERY_VECTORS = load_vectors("keystore_recovery.json")["vectors"]


@pytest.mark.parametrize("vector", RECOVERY_VECTORS)
def test_keystore_recovery_vector(vector):
    """The device's whole side of a recovery (PROTOCOL 16.5): the keystore handed over
    opens with the recovery key only, re-seals under the new password, and the
    statement signs the nonce, the new keystore and the new secret."""
    handed = Keystore.decode(bytes.fromhex(vector["recovery_keystore"]))
    recovery_key = bytes.fromhex(vector["recovery_key"])
    with pytest.raises(WrongPassword):
        unlock_with_password(handed, vector["new_password"])  # no password slot to guess
    keys = unlock_with_recovery_key(handed, recovery_key)
    new = Keystore.decode(bytes.fromhex(vector["new_keystore"]))
    assert unlock_with_password(new, vector["new_password"]).encode() == keys.encode()
    assert unlock_with_recovery_key(new, recovery_key).encode() == keys.encode()
    recovery = KeystoreRecovery(
        uuid.UUID(vector["account_id"]),
        bytes.fromhex(vector["nonce"]),
        bytes.fromhex(vector["new_keystore"]),
        bytes.fromhex(vector["new_auth_secret"]),
    )
    assert recovery.digest().hex() == vector["digest"]
    public = bytes.fromhex(vector["signing_public_key"])
    signature = bytes.fromhex(vector["signature"])
    recovery.verify(public, signature)
    # Another nonce, keystore, secret or account does not verify; nor does the
    # signature as a password change's (the labels differ).
    account, nonce, new_keystore, secret = (
        recovery.account_id,
        recovery.nonce,
        recovery.new,
        recovery.auth_secret,
    )
    for other in (
        KeystoreRecovery(account, bytes(32), new_keystore, secret),
        KeystoreRecovery(account, nonce, handed.encode(), secret),
        KeystoreRecovery(account, nonce, new_keystore, bytes(32)),
        KeystoreRecovery(uuid.uuid4(), nonce, new_keystore, secret),
        KeystoreChange(account, nonce, new_keystore, secret),
    ):
        with pytest.raises(SignatureVerificationFailed):
            other.verify(public, signature)
