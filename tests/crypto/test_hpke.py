"""HPKE base mode against RFC 9180 and draft-ietf-hpke-pq vectors, and against pyca's HPKE."""

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.bindings._rust import openssl as pyca_native
from cryptography.hazmat.primitives import hpke as pyca_hpke
from cryptography.hazmat.primitives.asymmetric import x25519

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


_PYCA_KEMS = {
    hpke.KemId.DHKEM_X25519_HKDF_SHA256: pyca_hpke.KEM.X25519,
    hpke.KemId.XWING: pyca_hpke.KEM.MLKEM768_X25519,
}
_PYCA_AEADS = {
    hpke.AeadId.AES_128_GCM: pyca_hpke.AEAD.AES_128_GCM,
    hpke.AeadId.AES_256_GCM: pyca_hpke.AEAD.AES_256_GCM,
    hpke.AeadId.CHACHA20_POLY1305: pyca_hpke.AEAD.CHACHA20_POLY1305,
}


def _pyca_suite(suite: hpke.Suite) -> pyca_hpke.Suite:
    return pyca_hpke.Suite(
        _PYCA_KEMS[suite.kem_id], pyca_hpke.KDF.HKDF_SHA256, _PYCA_AEADS[suite.aead_id]
    )


def _vector_recipient(vector: dict):
    """The vector's recipient, derived with our DeriveKeyPair: (ours, pyca's, public bytes)."""
    if vector["kem_id"] == hpke.KemId.XWING:
        private = hpke.XWingKem().derive_key_pair(_h(vector["ikmR"]))
        assert private.seed().hex() == vector["skRm"]
        return private, private.pyca_hpke_key(), private.public_key().public_bytes()
    private = hpke.DhkemX25519().derive_key_pair(_h(vector["ikmR"]))
    assert private.private_bytes_raw().hex() == vector["skRm"]
    return private, private, private.public_key().public_bytes_raw()


@pytest.mark.parametrize(
    "vector", RFC9180 + XWING_HPKE, ids=lambda v: f"kem{v['kem_id']:04x}-aead{v['aead_id']}"
)
def test_pyca_opens_the_published_vectors(vector):
    """pyca's HPKE opens each vector's first ciphertext (sequence number 0: single-shot).

    The vectors all carry an AAD, which pyca's public API does not take: only its
    native ``_decrypt_with_aad``, not public API, does. A test may lean on it to check
    pyca against the published bytes; the library never does.
    """
    _, theirs_private, _ = _vector_recipient(vector)
    suite = _pyca_suite(hpke.Suite.from_ids(vector["kem_id"], vector["kdf_id"], vector["aead_id"]))
    first = vector["encryptions"][0]
    assert first.get("sequence_number", 0) == 0
    sealed = _h(vector["enc"] + first["ct"])
    opened = pyca_native.hpke._decrypt_with_aad(
        suite, sealed, theirs_private, info=_h(vector["info"]), aad=_h(first["aad"])
    )
    assert opened.hex() == first["pt"]
    with pytest.raises(InvalidTag):
        pyca_native.hpke._decrypt_with_aad(
            suite, sealed, theirs_private, info=_h(vector["info"]), aad=b""
        )


@pytest.mark.parametrize(
    "vector", RFC9180 + XWING_HPKE, ids=lambda v: f"kem{v['kem_id']:04x}-aead{v['aead_id']}"
)
def test_pyca_and_ours_agree_on_the_vector_suites_and_keys(vector):
    """With the public API (no AAD): pyca opens what we seal, and we open what pyca seals."""
    ours = hpke.Suite.from_ids(vector["kem_id"], vector["kdf_id"], vector["aead_id"])
    theirs = _pyca_suite(ours)
    private, theirs_private, public_bytes = _vector_recipient(vector)
    assert public_bytes.hex() == vector["pkRm"]
    theirs_public = theirs_private.public_key()
    info, plaintext = _h(vector["info"]), _h(vector["encryptions"][0]["pt"])
    sealed_by_us = ours.seal(public_bytes, info, b"", plaintext)
    assert theirs.decrypt(sealed_by_us, theirs_private, info) == plaintext
    sealed_by_them = theirs.encrypt(plaintext, theirs_public, info)
    assert ours.open(private, info, b"", sealed_by_them) == plaintext


def _fresh_recipient(kem_id: hpke.KemId):
    """A new recipient: (our private key, pyca's private key, pyca's public key, public bytes)."""
    if kem_id == hpke.KemId.XWING:
        private = xwing.XWingPrivateKey.generate()
        public_bytes = private.public_key().public_bytes()
        # Built from our 1216-byte encoding, as a sender does with a recipient's bundle.
        theirs_public = xwing.XWingPublicKey(public_bytes).pyca_hpke_key()
        return private, private.pyca_hpke_key(), theirs_public, public_bytes
    x25519_private = x25519.X25519PrivateKey.generate()
    public = x25519_private.public_key()
    return x25519_private, x25519_private, public, public.public_bytes_raw()


KEMS = [hpke.KemId.XWING, hpke.KemId.DHKEM_X25519_HKDF_SHA256]


@pytest.mark.parametrize("kem_id", KEMS)
def test_interoperates_with_pyca_hpke(kem_id):
    """A second, independent HPKE implementation opens what we seal, and the reverse."""
    ours = hpke.Suite(kem_id, hpke.KdfId.HKDF_SHA256, hpke.AeadId.AES_256_GCM)
    theirs = _pyca_suite(ours)
    private, theirs_private, theirs_public, public_bytes = _fresh_recipient(kem_id)
    info = b"interop"
    sealed = ours.seal(public_bytes, info, b"", b"document key")
    assert theirs.decrypt(sealed, theirs_private, info=info) == b"document key"
    sealed_by_them = theirs.encrypt(b"document key", theirs_public, info=info)
    assert ours.open(private, info, b"", sealed_by_them) == b"document key"


@pytest.mark.parametrize("kem_id", KEMS)
def test_pyca_single_shot_output_is_enc_then_ciphertext(kem_id):
    """RFC 9180's single-shot layout: pyca's first Nenc bytes are the KEM's enc."""
    ours = hpke.Suite(kem_id, hpke.KdfId.HKDF_SHA256, hpke.AeadId.AES_256_GCM)
    private, _, theirs_public, _ = _fresh_recipient(kem_id)
    sealed = _pyca_suite(ours).encrypt(b"k" * 32, theirs_public, info=b"layout")
    n_enc = ours.kem.n_enc
    assert n_enc == _PYCA_KEMS[kem_id].enc_length()
    assert len(sealed) == n_enc + 32 + 16
    context = ours.setup_recipient(sealed[:n_enc], private, b"layout")
    assert context.open(b"", sealed[n_enc:]) == b"k" * 32


def test_open_with_wrong_info_fails():
    suite = hpke.Suite(hpke.KemId.XWING, hpke.KdfId.HKDF_SHA256, hpke.AeadId.AES_256_GCM)
    private = xwing.XWingPrivateKey.generate()
    sealed = suite.seal(private.public_key().public_bytes(), b"a", b"", b"secret")
    with pytest.raises(DecryptionFailed):
        suite.open(private, b"b", b"", sealed)


def test_unknown_suite_is_refused():
    with pytest.raises(UnsupportedVersion):
        hpke.Suite.from_ids(0x0010, 1, 2)
