"""X-Wing against draft-connolly-cfrg-xwing-kem's own test vectors."""

import pytest

from tests.conftest import load_vectors
from uhealthsec.crypto import xwing
from uhealthsec.crypto.errors import MalformedInput

VECTORS = load_vectors("xwing.json")["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["seed"][:8])
def test_key_generation_matches_draft(vector):
    key = xwing.XWingPrivateKey(bytes.fromhex(vector["sk"]))
    assert key.public_key().public_bytes().hex() == vector["pk"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["seed"][:8])
def test_decapsulation_matches_draft(vector):
    key = xwing.XWingPrivateKey(bytes.fromhex(vector["sk"]))
    assert key.decapsulate(bytes.fromhex(vector["ct"])).hex() == vector["ss"]


def test_encapsulation_round_trip():
    key = xwing.XWingPrivateKey.generate()
    shared, ciphertext = key.public_key().encapsulate()
    assert len(ciphertext) == xwing.CIPHERTEXT_SIZE
    assert key.decapsulate(ciphertext) == shared


def test_a_modified_ciphertext_gives_another_secret():
    # ML-KEM rejects implicitly: decapsulation succeeds with an unrelated secret.
    key = xwing.XWingPrivateKey.generate()
    shared, ciphertext = key.public_key().encapsulate()
    for position in (0, 1087, 1088, 1119):
        tampered = bytearray(ciphertext)
        tampered[position] ^= 0x01
        assert key.decapsulate(bytes(tampered)) != shared


@pytest.mark.parametrize("size", [0, 31, 1215, 1217])
def test_wrong_public_key_size_is_refused(size):
    with pytest.raises(MalformedInput):
        xwing.XWingPublicKey(bytes(size))


def test_public_key_failing_the_modulus_check_is_refused():
    # FIPS 203 encapsulation-key check: a 12-bit coefficient of 4095 is not below q = 3329.
    raw = xwing.XWingPrivateKey.generate().public_key().public_bytes()
    with pytest.raises(MalformedInput):
        xwing.XWingPublicKey(b"\xff\xff" + raw[2:])
