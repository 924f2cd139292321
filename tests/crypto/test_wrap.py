"""Wrapping document keys for recipients."""

import pytest

from uhealthsec.crypto import envelope, wrap
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
    assert wrap.unwrap_document_key(wrapped, bob, header) == key


def test_default_suite_is_hybrid(people):
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
