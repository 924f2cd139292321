"""The key directory's map (crypto/account_map.py): roots, proofs, refusals."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from tests.conftest import load_vectors
from uhealthsec.crypto import account_map
from uhealthsec.crypto.account_map import AccountMap, MapCommitment, MapProof, MapValue
from uhealthsec.crypto.errors import InvalidProof, MalformedInput, UnsupportedVersion


def reference_root(items: dict[bytes, bytes]) -> bytes:
    """The definition, written as plainly as possible: no cache, no shortcut taken
    other than the one the definition has."""

    def subtree(keys: list[bytes], depth: int) -> bytes:
        if not keys:
            return account_map.EMPTY
        if len(keys) == 1:
            return hashlib.sha256(b"\x00" + keys[0] + items[keys[0]]).digest()
        bit = lambda k: (int.from_bytes(k, "big") >> (255 - depth)) & 1  # noqa: E731
        left = [k for k in keys if bit(k) == 0]
        right = [k for k in keys if bit(k) == 1]
        return hashlib.sha256(
            b"\x01" + subtree(left, depth + 1) + subtree(right, depth + 1)
        ).digest()

    return subtree(sorted(items), 0)


def value(index: int, count: int = 1) -> bytes:
    return MapValue(index, hashlib.sha256(str(index).encode()).digest(), count).encode()


@pytest.fixture(scope="module")
def items() -> dict[bytes, bytes]:
    keys = [account_map.map_key(uuid.UUID(int=i)) for i in range(200)]
    # Two keys sharing their first 20 bits: a long branch without a fork above them.
    close = bytearray(keys[0])
    close[3] ^= 0x01
    keys.append(bytes(close))
    return {k: value(i) for i, k in enumerate(keys)}


def test_the_root_is_the_definitions_whatever_the_order_of_changes(items):
    expected = reference_root(items)
    assert AccountMap(items.items()).root() == expected
    grown = AccountMap()
    for key in reversed(list(items)):
        grown.set(key, value(0))
        grown.root()  # keep hashes between changes, as a monitor does
    for key, v in items.items():
        grown.set(key, v)
    assert grown.root() == expected


def test_every_key_has_a_proof_of_its_value_only(items):
    tree = AccountMap(items.items())
    root = tree.root()
    for key, v in list(items.items())[:60] + list(items.items())[-2:]:
        proof = tree.prove(key)
        account_map.verify(root, key, v, proof)
        with pytest.raises(InvalidProof):
            account_map.verify(root, key, value(10_000), proof)
    other = next(iter(items))
    with pytest.raises(InvalidProof):
        account_map.verify(root, os.urandom(32), items[other], tree.prove(other))


def test_a_map_of_one_key_is_its_leaf():
    key = account_map.map_key(uuid.uuid4())
    tree = AccountMap([(key, value(3))])
    proof = tree.prove(key)
    assert proof == MapProof(0, b"", ())
    account_map.verify(tree.root(), key, value(3), proof)


def test_malformed_or_uncanonical_proofs_are_refused(items):
    tree = AccountMap(items.items())
    root, key = tree.root(), next(iter(items))
    proof = tree.prove(key)
    assert proof.depth > 1
    deeper = MapProof(proof.depth + 1, proof.present + b"\x00", proof.siblings)
    cases = [
        MapProof(proof.depth, proof.present + b"\x00", proof.siblings),  # extra byte
        MapProof(proof.depth, proof.present, (*proof.siblings, bytes(32))),  # extra sibling
        MapProof(proof.depth, proof.present, proof.siblings[:-1]),
        MapProof(257, bytes(33), ()),
        # Starting one level lower, under an empty sibling, is not the canonical proof.
        MapProof(
            proof.depth + 1,
            bytes([proof.present[0] >> 1]) + proof.present[1:] + b"\x00",
            proof.siblings,
        ),
        deeper,
    ]
    for bad in cases:
        with pytest.raises(InvalidProof):
            account_map.verify(root, key, items[key], bad)


def test_values_and_commitments_decode_strictly():
    v = MapValue(7, bytes(range(32)), 2)
    assert MapValue.decode(v.encode()) == v
    with pytest.raises(MalformedInput):
        MapValue.decode(v.encode()[:-1])
    with pytest.raises(MalformedInput):
        MapValue.decode(v.encode()[:-4] + bytes(4))  # zero entries
    c = MapCommitment(41, bytes(range(32)))
    assert MapCommitment.decode(c.encode()) == c
    assert MapCommitment.is_one(c.encode())
    for bad in (
        c.encode()[:-1],
        b"UHSD" + c.encode()[4:],
        c.encode()[:4] + b"\x02" + c.encode()[5:],
    ):
        with pytest.raises(MalformedInput):
            MapCommitment.decode(bad)


VECTORS = load_vectors("account_map.json")


def _proof(raw: dict) -> MapProof:
    return MapProof(
        raw["depth"],
        bytes.fromhex(raw["present"]),
        tuple(bytes.fromhex(s) for s in raw["siblings"]),
    )


def test_our_map_vectors():
    root = bytes.fromhex(VECTORS["root"])
    assert MapCommitment.decode(bytes.fromhex(VECTORS["commitment"])).root == root
    items = []
    for vector in VECTORS["entries"]:
        key = account_map.map_key(uuid.UUID(vector["account_id"]))
        assert key.hex() == vector["key"]
        value = bytes.fromhex(vector["value"])
        account_map.verify(root, key, value, _proof(vector["proof"]))
        assert AccountMap([(key, value)]).get(key) == value
        items.append((key, value))
    tree = AccountMap(items)
    assert tree.root() == root
    for vector in VECTORS["entries"]:
        assert tree.prove(account_map.map_key(uuid.UUID(vector["account_id"]))) == _proof(
            vector["proof"]
        )


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["description"])
def test_map_proofs_a_reader_must_refuse(vector):
    with pytest.raises(InvalidProof):
        account_map.verify(
            bytes.fromhex(VECTORS["root"]),
            account_map.map_key(uuid.UUID(vector["account_id"])),
            bytes.fromhex(vector["value"]),
            _proof(vector["proof"]),
        )


def test_a_commitment_of_an_unknown_version_is_unsupported():
    """Section 1: an unknown version is refused by name (the browser reads it the same)."""
    encoded = bytearray(MapCommitment(1, bytes(32)).encode())
    encoded[4] = 2
    with pytest.raises(UnsupportedVersion):
        MapCommitment.decode(bytes(encoded))
