"""Key rotation (docs/PROTOCOL.md, 10.6) and the version 2 keystore (7.5) against their
stored vectors, and the refusals a hostile server's chain must meet."""

import uuid

import pytest

from tests.conftest import load_vectors
from uhealthsec.crypto import directory, key_rotation, keystore, merkle
from uhealthsec.crypto.errors import CryptoError, MalformedInput, error_identifier
from uhealthsec.crypto.keys import UserKeys

ROTATION = load_vectors("key_rotation.json")
KEYSTORE = load_vectors("keystore.json")


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


def _statements() -> list[bytes | None]:
    return [None, *(_h(r["statement"]) for r in ROTATION["rotations"])]


def test_the_chain_of_the_vectors_verifies():
    leaves = [_h(e["leaf"]) for e in ROTATION["entries"]]
    entries = key_rotation.verify_chain(leaves, _statements())
    assert [e.key_version for e in entries] == [1, 2, 3]
    assert {str(e.account_id) for e in entries} == {ROTATION["account_id"]}
    for entry, vector in zip(entries, ROTATION["entries"], strict=True):
        assert merkle.leaf_hash(entry.encode()).hex() == vector["leaf_hash"]
        assert entry.safety_number() == vector["safety_number"]
    # A prefix of a chain is a chain: a reader at an older head sees fewer versions.
    assert len(key_rotation.verify_chain(leaves[:2], _statements()[:2])) == 2


@pytest.mark.parametrize("index", [0, 1])
def test_each_rotation_is_reproduced_byte_for_byte(index):
    vector = ROTATION["rotations"][index]
    previous, new = (
        directory.DirectoryEntry.decode(_h(ROTATION["entries"][i]["leaf"]))
        for i in (index, index + 1)
    )
    keys = [UserKeys.decode(_h(ROTATION["entries"][i]["private_keys"])) for i in (index, index + 1)]
    statement = key_rotation.sign_rotation(
        previous, new, _h(vector["keystore"]), keys[0].signing, keys[1].signing
    )
    # Ed25519 is deterministic: the whole statement is reproduced.
    assert statement.encode().hex() == vector["statement"]
    assert statement.digest().hex() == vector["digest"]
    assert statement.keystore_digest.hex() == vector["keystore_digest"]
    assert key_rotation.RotationStatement.decode(_h(vector["statement"])) == statement
    statement.verify(previous, new)


@pytest.mark.parametrize("vector", ROTATION["invalid_chains"], ids=lambda v: v["description"])
def test_refused_chains(vector):
    leaves = [_h(leaf) for leaf in vector["leaves"]]
    statements = [None if s is None else _h(s) for s in vector["statements"]]
    with pytest.raises(CryptoError) as refused:
        key_rotation.verify_chain(leaves, statements)
    assert error_identifier(refused.value) == vector["error"]


def test_a_rotation_is_only_to_the_next_version_of_the_same_account():
    first = directory.DirectoryEntry.decode(_h(ROTATION["entries"][0]["leaf"]))
    third = directory.DirectoryEntry.decode(_h(ROTATION["entries"][2]["leaf"]))
    keys = UserKeys.generate()
    with pytest.raises(MalformedInput):
        key_rotation.sign_rotation(first, third, b"k", keys.signing, keys.signing)
    other = directory.DirectoryEntry(
        uuid.uuid4(), 2, first.kind, first.email, keys.public().encode()
    )
    with pytest.raises(MalformedInput):
        key_rotation.sign_rotation(first, other, b"k", keys.signing, keys.signing)


def test_a_chain_must_have_one_statement_per_entry():
    leaves = [_h(e["leaf"]) for e in ROTATION["entries"]]
    with pytest.raises(CryptoError):
        key_rotation.verify_chain(leaves, _statements()[:2])
    with pytest.raises(CryptoError):
        key_rotation.verify_chain([], [])


@pytest.mark.parametrize("vector", KEYSTORE["vectors_v2"], ids=lambda v: str(v["key_version"]))
def test_keystore_v2_vectors(vector):
    stored = keystore.Keystore.decode(_h(vector["keystore"]))
    assert stored.version == 2 and stored.former is not None
    assert stored.former.current_version == vector["key_version"]
    assert stored.encode().hex() == vector["keystore"]
    assert stored.public_keys.encode().hex() == vector["public_bundle"]
    expected_former = [(f["key_version"], f["private_keys"]) for f in vector["former_keys"]]
    assert [v for v, _ in expected_former] == list(range(1, vector["key_version"]))
    for unlock, secret in (
        (keystore.unlock_with_password, vector["password"]),
        (keystore.unlock_with_recovery_key, _h(vector["recovery_key"])),
    ):
        keys = unlock(stored, secret)
        assert keys.encode().hex() == vector["private_keys"]
        former = keystore.open_former_keys(stored, keys)
        assert [(f.key_version, f.keys.encode().hex()) for f in former] == expected_former
    # The same password, the same parameters: the same authentication secret.
    secrets_ = keystore.derive_password_secrets(vector["password"], stored.password_params)
    assert secrets_.auth_secret.hex() == vector["auth_secret"]
    # A password change keeps the former keys as they are.
    changed = keystore.Keystore.decode(_h(vector["keystore_after_password_change"]))
    assert changed.former == stored.former
    keys = keystore.unlock_with_password(changed, vector["new_password"])
    assert [f.key_version for f in keystore.open_former_keys(changed, keys)] == [
        v for v, _ in expected_former
    ]


def test_version_1_keystores_still_open_and_hold_no_former_keys():
    vector = KEYSTORE["vectors"][0]
    stored = keystore.Keystore.decode(_h(vector["keystore"]))
    assert stored.version == 1 and stored.encode().hex() == vector["keystore"]
    keys = keystore.unlock_with_password(stored, vector["password"])
    assert keystore.open_former_keys(stored, keys) == []


@pytest.mark.parametrize("vector", KEYSTORE["invalid_v2"], ids=lambda v: v["description"])
def test_invalid_v2_keystores_are_refused_precisely(vector):
    with pytest.raises(CryptoError) as refused:
        stored = keystore.Keystore.decode(_h(vector["keystore"]))
        keystore.unlock_with_password(stored, vector["password"])
    assert error_identifier(refused.value) == vector["error"]


def test_former_keys_do_not_open_under_other_keys():
    vector = KEYSTORE["vectors_v2"][0]
    stored = keystore.Keystore.decode(_h(vector["keystore"]))
    with pytest.raises(MalformedInput):
        keystore.open_former_keys(stored, UserKeys.generate())


def test_a_rotated_keystore_refuses_keys_not_its_own():
    vector = KEYSTORE["vectors"][0]
    stored = keystore.Keystore.decode(_h(vector["keystore"]))
    with pytest.raises(MalformedInput):
        keystore.rotate_keystore(stored, UserKeys.generate(), 1, vector["password"])
