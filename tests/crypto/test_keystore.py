"""The keystore: sealing under a password and a recovery key, re-sealing, refusals."""

import dataclasses

import pytest

from uhealthsec.crypto import keystore
from uhealthsec.crypto.errors import (
    MalformedInput,
    ParametersAboveBudget,
    WeakParameters,
    WrongPassword,
)
from uhealthsec.crypto.keys import UserKeys

FAST = keystore.Argon2Params(keystore.Argon2Params.MIN_MEMORY_KIB, 2, 1, b"s" * 16)


@pytest.fixture(scope="module")
def created():
    return keystore.create_keystore("correct horse battery staple", params=FAST)


def test_password_unlocks_the_same_keys(created):
    stored = keystore.Keystore.decode(created.keystore.encode())
    keys = keystore.unlock_with_password(stored, "correct horse battery staple")
    assert keys.public().same_as(created.keys.public())
    assert keys.encode() == created.keys.encode()


def test_wrong_password_is_refused(created):
    with pytest.raises(WrongPassword):
        keystore.unlock_with_password(created.keystore, "correct horse battery stapler")


def test_recovery_key_unlocks(created):
    keys = keystore.unlock_with_recovery_key(created.keystore, created.recovery_key)
    assert keys.encode() == created.keys.encode()
    with pytest.raises(WrongPassword):
        keystore.unlock_with_recovery_key(created.keystore, bytes(32))


def test_change_password_keeps_keys_and_recovery(created):
    new_store, new_auth = keystore.change_password(
        created.keystore, created.keys, "a new passphrase"
    )
    assert new_store.public_keys.same_as(created.keystore.public_keys)
    assert new_store.password_params.salt != created.keystore.password_params.salt
    assert new_auth != created.auth_secret
    assert keystore.unlock_with_password(new_store, "a new passphrase").encode() == (
        created.keys.encode()
    )
    with pytest.raises(WrongPassword):
        keystore.unlock_with_password(new_store, "correct horse battery staple")
    assert keystore.unlock_with_recovery_key(new_store, created.recovery_key).encode() == (
        created.keys.encode()
    )


def test_forgotten_password_reset_through_recovery(created):
    keys = keystore.unlock_with_recovery_key(created.keystore, created.recovery_key)
    new_store, _ = keystore.change_password(created.keystore, keys, "reset after loss")
    assert keystore.unlock_with_password(new_store, "reset after loss").encode() == keys.encode()


def test_change_password_refuses_foreign_keys(created):
    with pytest.raises(MalformedInput):
        keystore.change_password(created.keystore, UserKeys.generate(), "whatever it is")


def test_auth_secret_is_independent_of_the_keystore_key():
    secrets_ = keystore.derive_password_secrets("pw for the test", FAST)
    assert secrets_.auth_secret != secrets_.keystore_key
    assert len(secrets_.auth_secret) == 32
    # The authentication secret is all the server sees: it must not open the slot.
    created = keystore.create_keystore("pw for the test", params=FAST)
    forged = keystore._open  # the slot opener, given the auth secret as if it were the key
    with pytest.raises(WrongPassword):
        forged(
            created.keystore,
            created.auth_secret,
            created.keystore.password_nonce,
            created.keystore.password_sealed,
            created.keystore.password_aad(),
            "password",
        )
    assert secrets_.auth_secret.hex() not in repr(secrets_)
    assert secrets_.keystore_key.hex() not in repr(secrets_)


def test_unicode_passwords_are_normalised():
    composed = keystore.derive_password_secrets("caf\u00e9 au lait", FAST)
    decomposed = keystore.derive_password_secrets("cafe\u0301 au lait", FAST)
    assert composed == decomposed


@pytest.mark.parametrize(
    "params",
    [
        keystore.Argon2Params(1024, 2, 1, b"s" * 16),
        keystore.Argon2Params(19456, 1, 1, b"s" * 16),
        keystore.Argon2Params(19456, 2, 0, b"s" * 16),
    ],
)
def test_weak_parameters_are_refused(params):
    with pytest.raises(WeakParameters):
        keystore.derive_password_secrets("pw", params)


@pytest.mark.parametrize(
    "params",
    [
        keystore.Argon2Params(4 * 1024 * 1024, 2, 1, b"s" * 16),
        # What the server could serve before the budget: 24 s and 1 GiB per unlock.
        keystore.Argon2Params(1024 * 1024, 16, 8, b"s" * 16),
        keystore.Argon2Params(256 * 1024, 8, 1, b"s" * 16),
        keystore.Argon2Params(19456, 2, 16, b"s" * 16),
    ],
)
def test_parameters_above_the_client_budget_are_refused_before_any_work(params, monkeypatch):
    def no_derivation(*args, **kwargs):
        raise AssertionError("Argon2id ran")

    monkeypatch.setattr(keystore, "Argon2id", no_derivation)
    with pytest.raises(ParametersAboveBudget):
        keystore.derive_password_secrets("pw", params)


def test_a_keystore_served_with_costly_parameters_is_refused_at_decoding(created):
    costly = dataclasses.replace(
        created.keystore,
        password_params=keystore.Argon2Params(
            1024 * 1024, 16, 8, created.keystore.password_params.salt
        ),
    )
    with pytest.raises(ParametersAboveBudget):
        keystore.Keystore.decode(costly.encode())


def test_the_default_is_within_the_budget():
    keystore.Argon2Params.default().check()


def test_tampered_parameters_in_a_stored_keystore_are_refused(created):
    weakened = dataclasses.replace(
        created.keystore,
        password_params=keystore.Argon2Params(1024, 2, 1, created.keystore.password_params.salt),
    )
    with pytest.raises(WeakParameters):
        keystore.Keystore.decode(weakened.encode())


@pytest.mark.parametrize("position", [0, 4, 5 + 40, 1400, 1500, 1567])
def test_any_modified_byte_prevents_unlocking(created, position):
    tampered = bytearray(created.keystore.encode())
    tampered[position] ^= 0x01
    with pytest.raises((WrongPassword, MalformedInput)):
        store = keystore.Keystore.decode(bytes(tampered))
        keystore.unlock_with_password(store, "correct horse battery staple")
        keystore.unlock_with_recovery_key(store, created.recovery_key)


def test_empty_and_oversized_passwords():
    with pytest.raises(MalformedInput):
        keystore.normalize_password("")
    with pytest.raises(MalformedInput):
        keystore.normalize_password("x" * 1025)


def test_secrets_are_not_in_reprs(created):
    text = repr(created)
    assert created.recovery_key.hex() not in text
    assert created.auth_secret.hex() not in text
    assert created.keys.encode().hex()[2:66] not in repr(created.keys)
