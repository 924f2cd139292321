"""HPKE base mode against RFC 9180 and draft-ietf-hpke-pq vectors, and against pyca's HPKE."""

import pytest
from cryptography.hazmat.primitives import hpke as pyca_hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from tests.conftest import load_vectors
from uhealthsec.crypto import hpke, xwing
from uhealthsec.crypto.errors import DecryptionFailed, UnsupportedVersion

RFC9180 = load_vectors("rfc9180.json")["vectors"]
XWING_HPKE = load_vectors("hpke_pq_xwing.json")["vectors"]


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


def _check_context(context: hpke.Context, vector: dict, *, sender: bool) -> None:
    # Walk the sequence numbers as the vectors list them (they skip some).
    seq = 0
    for encryption in vector["encryptions"]:
        target = encryption.get("sequence_number", seq)
        while seq < target:
            if sender:
                context.seal(b"", b"")
            else:
                context._seq += 1  # advance without a ciphertext to open
            seq += 1
        if sender:
            assert (
                context.seal(_h(encryption["aad"]), _h(encryption["pt"])).hex() == encryption["ct"]
            )
        else:
            assert (
                context.open(_h(encryption["aad"]), _h(encryption["ct"])).hex() == encryption["pt"]
            )
        seq += 1
    for export in vector["exports"]:
        value = context.export(_h(export["exporter_context"]), export["L"])
        assert value.hex() == export["exported_value"]


@pytest.mark.parametrize("vector", RFC9180, ids=lambda v: v["source"])
def test_rfc9180_sender(vector):
    suite = hpke.Suite.from_ids(vector["kem_id"], vector["kdf_id"], vector["aead_id"])
    kem = hpke.DhkemX25519()
    recipient = kem.derive_key_pair(_h(vector["ikmR"]))
    assert recipient.public_key().public_bytes_raw().hex() == vector["pkRm"]
    assert recipient.private_bytes_raw().hex() == vector["skRm"]
    enc, context = suite.setup_sender(
        _h(vector["pkRm"]), _h(vector["info"]), ikm_e=_h(vector["ikmE"])
    )
    assert enc.hex() == vector["enc"]
    _check_context(context, vector, sender=True)


@pytest.mark.parametrize("vector", RFC9180, ids=lambda v: v["source"])
def test_rfc9180_recipient(vector):
    suite = hpke.Suite.from_ids(vector["kem_id"], vector["kdf_id"], vector["aead_id"])
    recipient = hpke.DhkemX25519().derive_key_pair(_h(vector["ikmR"]))
    context = suite.setup_recipient(_h(vector["enc"]), recipient, _h(vector["info"]))
    _check_context(context, vector, sender=False)


@pytest.mark.parametrize("vector", XWING_HPKE, ids=lambda v: f"xwing-{v['aead_id']}")
def test_hpke_pq_xwing_recipient(vector):
    suite = hpke.Suite.from_ids(vector["kem_id"], vector["kdf_id"], vector["aead_id"])
    recipient = hpke.XWingKem().derive_key_pair(_h(vector["ikmR"]))
    assert recipient.seed().hex() == vector["skRm"]
    assert recipient.public_key().public_bytes().hex() == vector["pkRm"]
    assert recipient.decapsulate(_h(vector["enc"])).hex() == vector["shared_secret"]
    context = suite.setup_recipient(_h(vector["enc"]), recipient, _h(vector["info"]))
    _check_context(context, vector, sender=False)


def _pyca_xwing_private(key: xwing.XWingPrivateKey) -> pyca_hpke.MLKEM768X25519PrivateKey:
    from uhealthsec.crypto.xwing import _shake256

    expanded = _shake256(key.seed(), 96)
    return pyca_hpke.MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]),
        x25519.X25519PrivateKey.from_private_bytes(expanded[64:]),
    )


@pytest.mark.parametrize("kem_id", [hpke.KemId.XWING, hpke.KemId.DHKEM_X25519_HKDF_SHA256])
def test_interoperates_with_pyca_hpke(kem_id):
    """A second, independent HPKE implementation opens what we seal, and the reverse."""
    ours = hpke.Suite(kem_id, hpke.KdfId.HKDF_SHA256, hpke.AeadId.AES_256_GCM)
    if kem_id == hpke.KemId.XWING:
        private = xwing.XWingPrivateKey.generate()
        public_bytes = private.public_key().public_bytes()
        theirs_private = _pyca_xwing_private(private)
        theirs_public = theirs_private.public_key()
        pyca_kem = pyca_hpke.KEM.MLKEM768_X25519
    else:
        private = x25519.X25519PrivateKey.generate()
        public_bytes = private.public_key().public_bytes_raw()
        theirs_private = private
        theirs_public = private.public_key()
        pyca_kem = pyca_hpke.KEM.X25519
    theirs = pyca_hpke.Suite(pyca_kem, pyca_hpke.KDF.HKDF_SHA256, pyca_hpke.AEAD.AES_256_GCM)
    info = b"interop"
    sealed = ours.seal(public_bytes, info, b"", b"document key")
    assert theirs.decrypt(sealed, theirs_private, info=info) == b"document key"
    sealed_by_them = theirs.encrypt(b"document key", theirs_public, info=info)
    assert ours.open(private, info, b"", sealed_by_them) == b"document key"


def test_open_with_wrong_info_fails():
    suite = hpke.Suite(hpke.KemId.XWING, hpke.KdfId.HKDF_SHA256, hpke.AeadId.AES_256_GCM)
    private = xwing.XWingPrivateKey.generate()
    sealed = suite.seal(private.public_key().public_bytes(), b"a", b"", b"secret")
    with pytest.raises(DecryptionFailed):
        suite.open(private, b"b", b"", sealed)


def test_unknown_suite_is_refused():
    with pytest.raises(UnsupportedVersion):
        hpke.Suite.from_ids(0x0010, 1, 2)
