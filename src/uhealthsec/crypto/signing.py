"""Ed25519 signatures over domain-separated digests.

A signature never covers raw application bytes: it covers
``"uhealthsec/v1/signature" || 0x00 || len(purpose) || purpose || len(digest) || digest``
so that a signature made for one purpose (a document) can never be replayed as
another (a request, a tree head). Documents are signed over the SHA-256 of the
whole envelope (header and ciphertext): the author is bound to exactly the
bytes every reader downloads.
"""

from __future__ import annotations

from enum import Enum

from cryptography.exceptions import InvalidSignature as _LibraryInvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from uhealthsec.crypto.errors import InvalidSignature, MalformedInput

SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32
_CONTEXT = b"uhealthsec/v1/signature"


class Purpose(Enum):
    """What a signature vouches for; each value is its own domain."""

    DOCUMENT = b"document"
    MESSAGE = b"message"
    REQUEST = b"request"
    TREE_HEAD = b"tree-head"
    #: A witness's countersignature of a log's tree head.
    COSIGNATURE = b"tree-head-cosignature"
    #: The owner's consent to a re-sealed keystore (a password change).
    KEYSTORE_CHANGE = b"keystore-change"


def signed_message(purpose: Purpose, digest: bytes) -> bytes:
    if not 16 <= len(digest) <= 64:
        raise MalformedInput("a signed digest is 16 to 64 bytes")
    label = purpose.value
    return _CONTEXT + b"\x00" + bytes([len(label)]) + label + bytes([len(digest)]) + digest


def sign(private_key: ed25519.Ed25519PrivateKey, purpose: Purpose, digest: bytes) -> bytes:
    return private_key.sign(signed_message(purpose, digest))


def verify(public_key: bytes, purpose: Purpose, digest: bytes, signature: bytes) -> None:
    """Raise InvalidSignature unless ``signature`` is the key's signature of ``digest``."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise MalformedInput("an Ed25519 public key is 32 bytes")
    if len(signature) != SIGNATURE_SIZE:
        raise InvalidSignature("an Ed25519 signature is 64 bytes")
    try:
        key = ed25519.Ed25519PublicKey.from_public_bytes(public_key)
        key.verify(signature, signed_message(purpose, digest))
    except (_LibraryInvalidSignature, ValueError) as exc:
        raise InvalidSignature(
            f"the {purpose.value.decode()} signature does not verify for this author key"
        ) from exc
