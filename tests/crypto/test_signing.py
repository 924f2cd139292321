"""Ed25519 signatures over domain-separated digests."""

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from uhealthsec.crypto import envelope, signing
from uhealthsec.crypto.errors import MalformedInput, SignatureVerificationFailed


@pytest.fixture(scope="module")
def author():
    return ed25519.Ed25519PrivateKey.generate()


def _public(key):
    return key.public_key().public_bytes_raw()


def test_document_signature_round_trip(author):
    sealed = envelope.encrypt(envelope.generate_document_key(), b"compte rendu")
    digest = envelope.content_digest(sealed)
    signature = signing.sign(author, signing.Purpose.DOCUMENT, digest)
    signing.verify(_public(author), signing.Purpose.DOCUMENT, digest, signature)


def test_signature_does_not_cross_purposes(author):
    digest = bytes(32)
    signature = signing.sign(author, signing.Purpose.DOCUMENT, digest)
    with pytest.raises(SignatureVerificationFailed, match="request signature"):
        signing.verify(_public(author), signing.Purpose.REQUEST, digest, signature)


def test_any_ciphertext_change_breaks_the_signature(author):
    sealed = bytearray(envelope.encrypt(envelope.generate_document_key(), b"x" * 5000))
    signature = signing.sign(
        author, signing.Purpose.DOCUMENT, envelope.content_digest(bytes(sealed))
    )
    sealed[-1] ^= 1
    with pytest.raises(SignatureVerificationFailed):
        signing.verify(
            _public(author),
            signing.Purpose.DOCUMENT,
            envelope.content_digest(bytes(sealed)),
            signature,
        )


def test_other_author_key_is_refused(author):
    digest = bytes(range(32))
    signature = signing.sign(author, signing.Purpose.DOCUMENT, digest)
    other = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(SignatureVerificationFailed):
        signing.verify(_public(other), signing.Purpose.DOCUMENT, digest, signature)


def test_malformed_inputs(author):
    with pytest.raises(SignatureVerificationFailed):
        signing.verify(_public(author), signing.Purpose.DOCUMENT, bytes(32), b"short")
    with pytest.raises(MalformedInput):
        signing.verify(b"short", signing.Purpose.DOCUMENT, bytes(32), bytes(64))
    with pytest.raises(MalformedInput):
        signing.sign(author, signing.Purpose.DOCUMENT, b"tiny")


def test_signed_message_layout():
    message = signing.signed_message(signing.Purpose.DOCUMENT, bytes(32))
    assert message == b"uhealthsec/v1/signature\x00\x08document\x20" + bytes(32)


def test_the_identity_key_cannot_sign_every_message():
    """With the identity as public key, OpenSSL accepts (R = identity, S = 0) for any message:
    whoever published that key could later deny or claim any document. It is refused."""
    from cryptography.hazmat.primitives.asymmetric import ed25519 as pyca

    from uhealthsec.crypto.errors import InvalidPublicKey

    identity = (1).to_bytes(32, "little")
    anything = identity + bytes(32)
    lenient = pyca.Ed25519PublicKey.from_public_bytes(identity)
    for digest in (bytes(32), bytes(range(32))):
        lenient.verify(anything, signing.signed_message(signing.Purpose.DOCUMENT, digest))
        with pytest.raises(InvalidPublicKey):
            signing.verify(identity, signing.Purpose.DOCUMENT, digest, anything)


def test_honest_keys_always_pass_the_key_check():
    for _ in range(50):
        signing.public_key(ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw())
