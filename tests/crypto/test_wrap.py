"""Wrapping document keys for recipients: version 2 written, versions 1 and 2 read."""

import hashlib
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import hpke as pyca_hpke
from cryptography.hazmat.primitives.asymmetric import x25519

from tests.vectors import wrap_reference
from uhealthsec.crypto import envelope, hpke, wrap, xwing
from uhealthsec.crypto.errors import DecryptionFailed, MalformedInput, UnsupportedVersion
from uhealthsec.crypto.keys import PublicKeys, UserKeys


@pytest.fixture(scope="module")
def people():
    return UserKeys.generate(), UserKeys.generate()


def _header() -> bytes:
    return envelope.encrypt(envelope.generate_document_key(), b"doc")[: envelope.HEADER_SIZE]


@pytest.mark.parametrize("suite", list(wrap.WrapSuite))
def test_round_trip(people, suite):
    bob, _ = people
    key, header = envelope.generate_document_key(), _header()
    wrapped = wrap.wrap_document_key(key, bob.public(), header, suite)
    assert wrap.wrapped_key_suite(wrapped) is suite
    assert wrap.wrapped_key_version(wrapped) == wrap.WRAP_VERSION == 2
    assert len(wrapped) == suite.wrapped_key_size
    assert wrap.unwrap_document_key(wrapped, bob, header) == key


def test_default_suite_is_hybrid(people):
    """R2: document keys are wrapped with X-Wing (ML-KEM-768 + X25519) by default."""
    bob, _ = people
    wrapped = wrap.wrap_document_key(envelope.generate_document_key(), bob.public(), _header())
    assert wrap.wrapped_key_suite(wrapped) is wrap.WrapSuite.HYBRID
    assert len(wrapped) == 7 + 1120 + 48


@pytest.mark.parametrize("suite", list(wrap.WrapSuite))
def test_other_recipient_cannot_unwrap(people, suite):
    bob, carol = people
    header = _header()
    wrapped = wrap.wrap_document_key(envelope.generate_document_key(), bob.public(), header, suite)
    with pytest.raises(DecryptionFailed):
        wrap.unwrap_document_key(wrapped, carol, header)


def test_wrapped_key_is_bound_to_its_envelope(people):
    bob, _ = people
    wrapped = wrap.wrap_document_key(envelope.generate_document_key(), bob.public(), _header())
    with pytest.raises(DecryptionFailed, match="not for this document"):
        wrap.unwrap_document_key(wrapped, bob, _header())


def test_suite_cannot_be_relabelled(people):
    bob, _ = people
    header = _header()
    wrapped = bytearray(
        wrap.wrap_document_key(envelope.generate_document_key(), bob.public(), header)
    )
    wrapped[6] = 0x03  # claim ChaCha20-Poly1305
    with pytest.raises(UnsupportedVersion):
        wrap.unwrap_document_key(bytes(wrapped), bob, header)


@pytest.mark.parametrize("position", [0, 7, 600, 1126, 1127, 1174])
def test_modified_wrapped_key(people, position):
    bob, _ = people
    header = _header()
    wrapped = bytearray(
        wrap.wrap_document_key(envelope.generate_document_key(), bob.public(), header)
    )
    wrapped[position] ^= 0x01
    with pytest.raises((DecryptionFailed, UnsupportedVersion, MalformedInput)):
        wrap.unwrap_document_key(bytes(wrapped), bob, header)


def test_public_bundle_round_trip_and_refusals(people):
    bob, _ = people
    bundle = bob.public().encode()
    assert PublicKeys.decode(bundle) == bob.public()
    with pytest.raises(MalformedInput):
        PublicKeys.decode(bundle[:-1])
    with pytest.raises(UnsupportedVersion):
        PublicKeys.decode(bundle[:4] + b"\x02" + bundle[5:])


def _reference_suite(suite: wrap.WrapSuite, aead_id: int | None = None) -> hpke.Suite:
    ids = suite.value
    return hpke.Suite.from_ids(ids.kem_id, ids.kdf_id, aead_id or ids.aead_id)


def _recipient_key(person: UserKeys, suite: wrap.WrapSuite) -> bytes:
    public = person.public()
    return public.xwing if suite is wrap.WrapSuite.HYBRID else public.x25519


@pytest.mark.parametrize("suite", list(wrap.WrapSuite))
def test_written_key_opens_with_the_reference_hpke(people, suite):
    """pyca seals, our HPKE opens, with info = label || 0x00 || prefix || SHA256(header)."""
    bob, _ = people
    key, header = envelope.generate_document_key(), _header()
    wrapped = wrap.wrap_document_key(key, bob.public(), header, suite)
    prefix, reference = wrapped[:7], _reference_suite(suite)
    info = b"uhealthsec/v2/document-key\x00" + prefix + hashlib.sha256(header).digest()
    private = bob.xwing if suite is wrap.WrapSuite.HYBRID else bob.x25519
    assert reference.open(private, info, b"", wrapped[7:]) == key


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("suite", list(wrap.WrapSuite))
def test_reference_keys_of_both_versions_open(people, suite, version):
    """Our HPKE seals (v1 as stored keys were written, v2 per the protocol); the reader opens."""
    bob, _ = people
    key, header = envelope.generate_document_key(), _header()
    wrapped = wrap_reference.seal_wrapped_key(
        version, _reference_suite(suite), _recipient_key(bob, suite), header, key
    )
    assert wrap.wrapped_key_version(wrapped) == version
    assert wrap.unwrap_document_key(wrapped, bob, header) == key


def test_version_2_is_written_and_read_without_our_hpke(people, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("version 2 went through our own HPKE or X-Wing combiner")

    monkeypatch.setattr(hpke.Suite, "setup_sender", refuse)
    monkeypatch.setattr(hpke.Suite, "setup_recipient", refuse)
    monkeypatch.setattr(xwing.XWingPublicKey, "encapsulate", refuse)
    monkeypatch.setattr(xwing.XWingPrivateKey, "decapsulate", refuse)
    bob, _ = people
    header = _header()
    for suite in wrap.WrapSuite:
        key = envelope.generate_document_key()
        wrapped = wrap.wrap_document_key(key, bob.public(), header, suite)
        assert wrap.unwrap_document_key(wrapped, bob, header) == key


@pytest.mark.parametrize("suite", list(wrap.WrapSuite))
def test_a_version_2_key_relabelled_as_version_1_does_not_open(people, suite):
    bob, _ = people
    header = _header()
    wrapped = wrap.wrap_document_key(envelope.generate_document_key(), bob.public(), header, suite)
    with pytest.raises(DecryptionFailed):
        wrap.unwrap_document_key(b"\x01" + wrapped[1:], bob, header)


@pytest.mark.parametrize("suite", list(wrap.WrapSuite))
def test_a_version_1_key_relabelled_as_version_2_does_not_open(people, suite):
    bob, _ = people
    key, header = envelope.generate_document_key(), _header()
    wrapped = wrap_reference.seal_wrapped_key(
        1, _reference_suite(suite), _recipient_key(bob, suite), header, key
    )
    with pytest.raises(DecryptionFailed):
        wrap.unwrap_document_key(b"\x02" + wrapped[1:], bob, header)


_PYCA_KEMS = {
    wrap.WrapSuite.HYBRID: pyca_hpke.KEM.MLKEM768_X25519,
    wrap.WrapSuite.CLASSICAL: pyca_hpke.KEM.X25519,
}
_PYCA_AEADS = {0x0001: pyca_hpke.AEAD.AES_128_GCM, 0x0002: pyca_hpke.AEAD.AES_256_GCM}


def _seal_v2_with_pyca(person: UserKeys, suite: wrap.WrapSuite, aead_id: int, header: bytes):
    """A v2 key sealed honestly under ``suite`` with its AEAD replaced by ``aead_id``."""
    ids = suite.value
    prefix = b"\x02" + ids.kem_id.to_bytes(2, "big") + ids.kdf_id.to_bytes(2, "big")
    prefix += aead_id.to_bytes(2, "big")
    info = b"uhealthsec/v2/document-key\x00" + prefix + hashlib.sha256(header).digest()
    public: pyca_hpke.MLKEM768X25519PublicKey | x25519.X25519PublicKey = (
        person.xwing.public_key().pyca_hpke_key()
        if suite is wrap.WrapSuite.HYBRID
        else person.x25519.public_key()
    )
    pyca_suite = pyca_hpke.Suite(_PYCA_KEMS[suite], pyca_hpke.KDF.HKDF_SHA256, _PYCA_AEADS[aead_id])
    key = envelope.generate_document_key()
    return key, prefix + pyca_suite.encrypt(key, public, info)


@pytest.mark.parametrize("suite", list(wrap.WrapSuite))
def test_a_key_relabelled_to_another_suite_of_the_same_layout_does_not_open(people, suite):
    """Sealed for AES-128-GCM, relabelled AES-256-GCM: the layout fits, the cryptography refuses."""
    bob, _ = people
    header = _header()
    key, honest = _seal_v2_with_pyca(bob, suite, 0x0002, header)
    assert wrap.unwrap_document_key(honest, bob, header) == key  # the construction is right
    _, sealed_for_aes128 = _seal_v2_with_pyca(bob, suite, 0x0001, header)
    relabelled = sealed_for_aes128[:6] + b"\x02" + sealed_for_aes128[7:]
    assert wrap.check_wrapped_key(relabelled) is suite
    with pytest.raises(DecryptionFailed):
        wrap.unwrap_document_key(relabelled, bob, header)


def test_an_x25519_recipient_key_of_small_order_is_refused(people):
    bob, _ = people
    degenerate = replace(bob.public(), x25519=bytes(32))
    with pytest.raises(MalformedInput):
        wrap.wrap_document_key(
            envelope.generate_document_key(), degenerate, _header(), wrap.WrapSuite.CLASSICAL
        )


def test_an_envelope_header_of_another_length_is_refused(people):
    bob, _ = people
    key, header = envelope.generate_document_key(), _header()
    with pytest.raises(MalformedInput, match="envelope header"):
        wrap.wrap_document_key(key, bob.public(), header[:-1])
    wrapped = wrap.wrap_document_key(key, bob.public(), header)
    with pytest.raises(MalformedInput, match="envelope header"):
        wrap.unwrap_document_key(wrapped, bob, header + b"\x00")
