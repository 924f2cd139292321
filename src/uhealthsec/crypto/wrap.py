"""Wrapping a document key for each recipient with HPKE (RFC 9180, base mode).

The default suite is hybrid: X-Wing (ML-KEM-768 + X25519), HKDF-SHA256,
AES-256-GCM, so a recording of today's traffic stays confidential over the
20-year retention even against a future quantum computer, as long as either
ML-KEM-768 or X25519 holds. The classical suite, DHKEM(X25519), is kept for
interoperability. The suite identifiers travel in every wrapped key, so new
suites can be added without breaking old ones.

The HPKE ``info`` binds a wrapped key to one envelope header: a server that
moves a wrapped key onto another document gets a decryption failure.

Every wrapped key written is version 2, sealed and opened by ``cryptography``'s
HPKE: its 7-byte prefix (version and suite) is bound through ``info``, because
that API takes no AAD. Version 1 bound the prefix as the AEAD's AAD; stored
keys of version 1 are still opened, by our own HPKE (``hpke.py``), never
written.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hpke as pyca_hpke
from cryptography.hazmat.primitives.asymmetric import x25519

from uhealthsec.crypto import envelope, hpke, xwing
from uhealthsec.crypto.errors import DecryptionFailed, MalformedInput, UnsupportedVersion
from uhealthsec.crypto.keys import PublicKeys, UserKeys

WRAP_VERSION = 0x02  # the only version written
WRAP_VERSION_V1 = 0x01  # read only: stored keys of this version exist
_INFO_LABELS = {
    WRAP_VERSION_V1: b"uhealthsec/v1/document-key\x00",
    WRAP_VERSION: b"uhealthsec/v2/document-key\x00",
}
PREFIX_SIZE = 7  # version (1) + kem id (2) + kdf id (2) + aead id (2)
_SEALED_KEY_SIZE = envelope.DOCUMENT_KEY_SIZE + 16


@dataclass(frozen=True)
class SuiteIds:
    """An HPKE suite by its RFC 9180 identifiers, as a wrapped key's prefix carries them."""

    kem_id: int
    kdf_id: int
    aead_id: int


class WrapSuite(Enum):
    HYBRID = SuiteIds(0x647A, 0x0001, 0x0002)  # X-Wing, HKDF-SHA256, AES-256-GCM
    CLASSICAL = SuiteIds(0x0020, 0x0001, 0x0002)  # DHKEM(X25519, HKDF-SHA256), idem

    @property
    def pyca_suite(self) -> pyca_hpke.Suite:
        return _PYCA_SUITES[self]

    @property
    def enc_size(self) -> int:
        return _PYCA_KEMS[self].enc_length()

    @property
    def wrapped_key_size(self) -> int:
        return PREFIX_SIZE + self.enc_size + _SEALED_KEY_SIZE


_PYCA_KEMS = {
    WrapSuite.HYBRID: pyca_hpke.KEM.MLKEM768_X25519,
    WrapSuite.CLASSICAL: pyca_hpke.KEM.X25519,
}
_PYCA_SUITES = {
    suite: pyca_hpke.Suite(kem, pyca_hpke.KDF.HKDF_SHA256, pyca_hpke.AEAD.AES_256_GCM)
    for suite, kem in _PYCA_KEMS.items()
}

DEFAULT_SUITE = WrapSuite.HYBRID


def _prefix(suite: WrapSuite) -> bytes:
    ids = suite.value
    return (
        bytes([WRAP_VERSION])
        + ids.kem_id.to_bytes(2, "big")
        + ids.kdf_id.to_bytes(2, "big")
        + ids.aead_id.to_bytes(2, "big")
    )


def _info(prefix: bytes, envelope_header: bytes) -> bytes:
    if len(envelope_header) != envelope.HEADER_SIZE:
        raise MalformedInput("an envelope header is required to bind the wrapped key")
    digest = hashes.Hash(hashes.SHA256())
    digest.update(envelope_header)
    version = prefix[0]
    # Version 1 binds the prefix as the AAD instead (see _open_v1).
    bound_prefix = prefix if version == WRAP_VERSION else b""
    return _INFO_LABELS[version] + bound_prefix + digest.finalize()


def wrap_document_key(
    document_key: bytes,
    recipient: PublicKeys,
    envelope_header: bytes,
    suite: WrapSuite = DEFAULT_SUITE,
) -> bytes:
    """Wrap ``document_key`` for ``recipient`` as a version 2 wrapped key.

    :raises MalformedInput: ``document_key`` is not 32 bytes, or the recipient's key cannot
        be encrypted to.
    """
    if len(document_key) != envelope.DOCUMENT_KEY_SIZE:
        raise MalformedInput(f"a document key is {envelope.DOCUMENT_KEY_SIZE} bytes")
    prefix = _prefix(suite)
    info = _info(prefix, envelope_header)
    public_key: pyca_hpke.MLKEM768X25519PublicKey | x25519.X25519PublicKey
    if suite is WrapSuite.HYBRID:
        public_key = xwing.XWingPublicKey(recipient.xwing).pyca_hpke_key()
    else:
        public_key = x25519.X25519PublicKey.from_public_bytes(recipient.x25519)
    try:
        # Single-shot base mode: the output is enc || ciphertext, as RFC 9180 lays it out.
        sealed = suite.pyca_suite.encrypt(document_key, public_key, info)
    except ValueError as exc:
        # X25519 refuses a recipient key of small order (an all-zero shared secret).
        raise MalformedInput("the recipient's public key cannot be encrypted to") from exc
    return prefix + sealed


def _read_prefix(wrapped: bytes) -> tuple[int, WrapSuite]:
    if len(wrapped) < PREFIX_SIZE:
        raise MalformedInput("wrapped key too short")
    if wrapped[0] not in _INFO_LABELS:
        raise UnsupportedVersion(f"unsupported wrapped key version {wrapped[0]}")
    ids = SuiteIds(
        int.from_bytes(wrapped[1:3], "big"),
        int.from_bytes(wrapped[3:5], "big"),
        int.from_bytes(wrapped[5:7], "big"),
    )
    for candidate in WrapSuite:
        if candidate.value == ids:
            return wrapped[0], candidate
    raise UnsupportedVersion("this HPKE suite is not accepted for document keys")


def wrapped_key_version(wrapped: bytes) -> int:
    """The format version of a wrapped key (1 or 2).

    :raises MalformedInput: too short to hold a prefix.
    :raises UnsupportedVersion: a version or HPKE suite not accepted for document keys.
    """
    return _read_prefix(wrapped)[0]


def wrapped_key_suite(wrapped: bytes) -> WrapSuite:
    """The HPKE suite of a wrapped key.

    :raises MalformedInput: too short to hold a prefix.
    :raises UnsupportedVersion: a version or HPKE suite not accepted for document keys.
    """
    return _read_prefix(wrapped)[1]


def check_wrapped_key(wrapped: bytes) -> WrapSuite:
    """The suite of a wrapped key whose layout is valid (no key needed: servers use it).

    :raises MalformedInput: too short, or the wrong length for its suite.
    :raises UnsupportedVersion: a version or HPKE suite not accepted for document keys.
    """
    suite = wrapped_key_suite(wrapped)
    if len(wrapped) != suite.wrapped_key_size:
        raise MalformedInput("wrapped key has the wrong length for its suite")
    return suite


def _open_v1(wrapped: bytes, suite: WrapSuite, keys: UserKeys, info: bytes) -> bytes:
    """Version 1: the prefix is the AEAD's AAD, which ``cryptography``'s HPKE cannot take."""
    ids = suite.value
    reference = hpke.Suite.from_ids(ids.kem_id, ids.kdf_id, ids.aead_id)
    private = keys.xwing if suite is WrapSuite.HYBRID else keys.x25519
    enc_end = PREFIX_SIZE + suite.enc_size
    context = reference.setup_recipient(wrapped[PREFIX_SIZE:enc_end], private, info)
    return context.open(wrapped[:PREFIX_SIZE], wrapped[enc_end:])


def unwrap_document_key(wrapped: bytes, keys: UserKeys, envelope_header: bytes) -> bytes:
    """Open a wrapped key of version 2 or 1 for ``keys`` and the envelope it belongs to.

    :raises MalformedInput: the wrapped key's layout is not valid (UnsupportedVersion for an
        unknown version or suite).
    :raises DecryptionFailed: the key is not for this recipient, not for this document, or
        was modified.
    """
    suite = check_wrapped_key(wrapped)
    info = _info(wrapped[:PREFIX_SIZE], envelope_header)
    try:
        if wrapped[0] == WRAP_VERSION_V1:
            return _open_v1(wrapped, suite, keys, info)
        private: pyca_hpke.MLKEM768X25519PrivateKey | x25519.X25519PrivateKey = (
            keys.xwing.pyca_hpke_key() if suite is WrapSuite.HYBRID else keys.x25519
        )
        return suite.pyca_suite.decrypt(wrapped[PREFIX_SIZE:], private, info)
    except (InvalidTag, DecryptionFailed) as exc:
        # One error for every failure of Decap and Open (docs/PROTOCOL.md 6.3).
        raise DecryptionFailed(
            "the document key could not be unwrapped: it is not for this recipient, "
            "not for this document, or it was modified"
        ) from exc
