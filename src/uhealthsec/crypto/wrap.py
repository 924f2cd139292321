"""Wrapping a document key for each recipient with HPKE (RFC 9180, base mode).

The default suite is hybrid: X-Wing (ML-KEM-768 + X25519), HKDF-SHA256,
AES-256-GCM, so a recording of today's traffic stays confidential over the
20-year retention even against a future quantum computer, as long as either
ML-KEM-768 or X25519 holds. The classical suite, DHKEM(X25519), is kept for
interoperability. The suite identifiers travel in every wrapped key, so new
suites can be added without breaking old ones.

The HPKE ``info`` binds a wrapped key to one envelope header: a server that
moves a wrapped key onto another document gets a decryption failure.
"""

from __future__ import annotations

from enum import Enum

from cryptography.hazmat.primitives import hashes

from uhealthsec.crypto import envelope, hpke
from uhealthsec.crypto.errors import DecryptionFailed, MalformedInput, UnsupportedVersion
from uhealthsec.crypto.keys import PublicKeys, UserKeys

WRAP_VERSION = 0x01
_INFO_LABEL = b"uhealthsec/v1/document-key\x00"
_PREFIX_SIZE = 7  # version (1) + kem id (2) + kdf id (2) + aead id (2)
_SEALED_KEY_SIZE = envelope.DOCUMENT_KEY_SIZE + 16


class WrapSuite(Enum):
    HYBRID = hpke.Suite(hpke.KemId.XWING, hpke.KdfId.HKDF_SHA256, hpke.AeadId.AES_256_GCM)
    CLASSICAL = hpke.Suite(
        hpke.KemId.DHKEM_X25519_HKDF_SHA256, hpke.KdfId.HKDF_SHA256, hpke.AeadId.AES_256_GCM
    )


DEFAULT_SUITE = WrapSuite.HYBRID


def _info(envelope_header: bytes) -> bytes:
    if len(envelope_header) != envelope.HEADER_SIZE:
        raise MalformedInput("an envelope header is required to bind the wrapped key")
    digest = hashes.Hash(hashes.SHA256())
    digest.update(envelope_header)
    return _INFO_LABEL + digest.finalize()


def _recipient_key(recipient: PublicKeys, suite: WrapSuite) -> bytes:
    return recipient.xwing if suite is WrapSuite.HYBRID else recipient.x25519


def wrap_document_key(
    document_key: bytes,
    recipient: PublicKeys,
    envelope_header: bytes,
    suite: WrapSuite = DEFAULT_SUITE,
    *,
    _ikm_e: bytes | None = None,
) -> bytes:
    """Wrap ``document_key`` for ``recipient``; ``_ikm_e`` is for test vectors only."""
    if len(document_key) != envelope.DOCUMENT_KEY_SIZE:
        raise MalformedInput(f"a document key is {envelope.DOCUMENT_KEY_SIZE} bytes")
    hpke_suite = suite.value
    enc, context = hpke_suite.setup_sender(
        _recipient_key(recipient, suite), _info(envelope_header), ikm_e=_ikm_e
    )
    prefix = (
        bytes([WRAP_VERSION])
        + hpke.i2osp(hpke_suite.kem_id, 2)
        + hpke.i2osp(hpke_suite.kdf_id, 2)
        + hpke.i2osp(hpke_suite.aead_id, 2)
    )
    # The prefix is the AEAD's associated data: the suite cannot be relabelled.
    return prefix + enc + context.seal(prefix, document_key)


def wrapped_key_suite(wrapped: bytes) -> WrapSuite:
    if len(wrapped) < _PREFIX_SIZE:
        raise MalformedInput("wrapped key too short")
    if wrapped[0] != WRAP_VERSION:
        raise UnsupportedVersion(f"unsupported wrapped key version {wrapped[0]}")
    suite = hpke.Suite.from_ids(
        int.from_bytes(wrapped[1:3], "big"),
        int.from_bytes(wrapped[3:5], "big"),
        int.from_bytes(wrapped[5:7], "big"),
    )
    for candidate in WrapSuite:
        if candidate.value == suite:
            return candidate
    raise UnsupportedVersion("this HPKE suite is not accepted for document keys")


def check_wrapped_key(wrapped: bytes) -> WrapSuite:
    """The suite of a wrapped key whose layout is valid (no key needed: servers use it)."""
    suite = wrapped_key_suite(wrapped)
    if len(wrapped) != _PREFIX_SIZE + suite.value.kem.n_enc + _SEALED_KEY_SIZE:
        raise MalformedInput("wrapped key has the wrong length for its suite")
    return suite


def unwrap_document_key(wrapped: bytes, keys: UserKeys, envelope_header: bytes) -> bytes:
    suite = check_wrapped_key(wrapped)
    hpke_suite = suite.value
    n_enc = hpke_suite.kem.n_enc
    private = keys.xwing if suite is WrapSuite.HYBRID else keys.x25519
    enc = wrapped[_PREFIX_SIZE : _PREFIX_SIZE + n_enc]
    try:
        context = hpke_suite.setup_recipient(enc, private, _info(envelope_header))
        return context.open(wrapped[:_PREFIX_SIZE], wrapped[_PREFIX_SIZE + n_enc :])
    except DecryptionFailed as exc:
        raise DecryptionFailed(
            "the document key could not be unwrapped: it is not for this recipient, "
            "not for this document, or it was modified"
        ) from exc
