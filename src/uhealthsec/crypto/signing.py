"""Ed25519 signatures over domain-separated digests.

A signature never covers raw application bytes: it covers
``"uhealthsec/v1/signature" || 0x00 || len(purpose) || purpose || len(digest) || digest``
so that a signature made for one purpose (a document) can never be replayed as
another (a request, a keystore change). Documents are signed over the envelope's
content digest (``envelope.content_digest``: a SHA-256 tree over the header and every
chunk): the author is bound to exactly the bytes every reader downloads.

Verification follows one rule (docs/PROTOCOL.md, section 4.1): OpenSSL's
RFC 8032 verification, which refuses ``S >= L`` and compares the encoding of
``[S]B - [k]A`` with ``R`` (so ``R`` must be canonical), after our own check of
the public key. OpenSSL decodes ``A`` leniently (any ``y``, any small-order
point), and with the identity as ``A`` one fixed signature verifies for every
message; ``public_key`` closes that gap by decoding ``A`` as RFC 8032 §5.1.3
does and refusing the points no honest key generation produces.
"""

from __future__ import annotations

import functools
from enum import Enum
from typing import ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from uhealthsec.crypto.errors import InvalidPublicKey, MalformedInput, SignatureVerificationFailed

SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32
_CONTEXT = b"uhealthsec/v1/signature"

# edwards25519 (RFC 8032 §5.1): the field prime and the curve constant d. This integer
# arithmetic only validates an encoding; signing and verifying stay in OpenSSL.
_P = 2**255 - 19
_D = -121665 * pow(121666, -1, _P) % _P
_SQRT_MINUS_ONE = pow(2, (_P - 1) // 4, _P)
_IDENTITY = (0, 1)


class Purpose(Enum):
    """What a signature vouches for; each value is its own domain."""

    DOCUMENT = b"document"
    MESSAGE = b"message"
    REQUEST = b"request"
    #: The owner's consent to a re-sealed keystore (a password change).
    KEYSTORE_CHANGE = b"keystore-change"
    #: The owner's consent to a change of the account's second factors.
    FACTOR_CHANGE = b"factor-change"
    #: The owner's replacement of the account's keys, signed by the old and new keys.
    KEY_ROTATION = b"key-rotation"


def _decode_point(data: bytes) -> tuple[int, int]:
    """RFC 8032 §5.1.3 point decoding, which also refuses a ``y`` at or above p."""
    encoded = int.from_bytes(data, "little")
    x_sign = encoded >> 255
    y = encoded & ((1 << 255) - 1)
    if y >= _P:
        raise InvalidPublicKey("the Ed25519 public key is not canonically encoded (y >= p)")
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    if v * x * x % _P == (-u) % _P:
        x = x * _SQRT_MINUS_ONE % _P
    if v * x * x % _P != u:
        raise InvalidPublicKey("the Ed25519 public key is not a point on the curve")
    if x == 0 and x_sign == 1:
        raise InvalidPublicKey("the Ed25519 public key is not canonically encoded (x = 0, sign 1)")
    if x & 1 != x_sign:
        x = _P - x
    return x, y


def _double(point: tuple[int, int]) -> tuple[int, int]:
    # The complete addition law of edwards25519 (a = -1), applied to point + point.
    x, y = point
    t = _D * x * x * y * y % _P
    return (2 * x * y * pow(1 + t, -1, _P) % _P, (y * y + x * x) * pow(1 - t, -1, _P) % _P)


def public_key(data: bytes) -> ed25519.Ed25519PublicKey:
    """Decode an Ed25519 public key, refusing a non-canonical encoding, a point off the
    curve and the eight points of small order (those for which [8]A is the identity).

    :raises InvalidPublicKey: not canonical, off the curve or of small order.
    :raises MalformedInput: not 32 bytes (InvalidPublicKey is a MalformedInput too).
    """
    if len(data) != PUBLIC_KEY_SIZE:
        raise MalformedInput("an Ed25519 public key is 32 bytes")
    return _checked_public_key(bytes(data))


@functools.lru_cache(maxsize=4096)
def _checked_public_key(data: bytes) -> ed25519.Ed25519PublicKey:
    """``public_key`` of 32 bytes, kept: the small-order check is arithmetic in Python
    (about half a millisecond), and a server checks one signer's key once per signed
    statement of a share, a client one author's key once per signed item. A key
    refused raises each time (exceptions are not kept)."""
    point = _decode_point(data)
    for _ in range(3):
        point = _double(point)
    if point == _IDENTITY:
        raise InvalidPublicKey("the Ed25519 public key is a point of small order")
    return ed25519.Ed25519PublicKey.from_public_bytes(data)


def signed_message(purpose: Purpose, digest: bytes) -> bytes:
    """The exact bytes signed for ``digest`` under ``purpose`` (section 4).

    :raises MalformedInput: ``digest`` is not 16 to 64 bytes.
    """
    if not 16 <= len(digest) <= 64:
        raise MalformedInput("a signed digest is 16 to 64 bytes")
    label = purpose.value
    return _CONTEXT + b"\x00" + bytes([len(label)]) + label + bytes([len(digest)]) + digest


def sign(private_key: ed25519.Ed25519PrivateKey, purpose: Purpose, digest: bytes) -> bytes:
    """Sign ``digest`` for ``purpose`` with ``private_key``.

    :raises MalformedInput: ``digest`` is not 16 to 64 bytes.
    """
    return private_key.sign(signed_message(purpose, digest))


def verify(author_key: bytes, purpose: Purpose, digest: bytes, signature: bytes) -> None:
    """Check that ``signature`` is the signature of ``digest`` for ``purpose`` by the
    Ed25519 key ``author_key``.

    :raises SignatureVerificationFailed: the signature is not 64 bytes or does not verify
        for this key and content.
    :raises InvalidPublicKey: ``author_key`` is refused (see ``public_key``).
    :raises MalformedInput: ``author_key`` is not 32 bytes, or ``digest`` is not 16 to 64
        bytes.
    """
    key = public_key(author_key)
    if len(signature) != SIGNATURE_SIZE:
        raise SignatureVerificationFailed("an Ed25519 signature is 64 bytes")
    try:
        key.verify(signature, signed_message(purpose, digest))
    except InvalidSignature as exc:
        raise SignatureVerificationFailed(
            f"the {purpose.value.decode()} signature does not verify for this author key"
        ) from exc


class OwnerStatement:
    """A statement an account's owner signs with the signing key its keystore holds:
    its ``digest()`` under ``purpose``. Subclasses are frozen dataclasses of the fields."""

    #: What the statement is, for messages ("the signature does not match this ...").
    what: ClassVar[str]
    purpose: ClassVar[Purpose]

    def digest(self) -> bytes:
        raise NotImplementedError

    def sign(self, key: ed25519.Ed25519PrivateKey) -> bytes:
        """The account key's Ed25519 signature of this statement."""
        return sign(key, self.purpose, self.digest())

    def verify(self, public_key: bytes, signature: bytes) -> None:
        """Check that ``public_key`` signed exactly this statement.

        :raises SignatureVerificationFailed: the signature is not 64 bytes or does not
            verify for this key and content.
        :raises InvalidPublicKey: ``public_key`` is refused (see ``signing.public_key``).
        :raises MalformedInput: ``public_key`` is not 32 bytes.
        """
        verify(public_key, self.purpose, self.digest(), signature)
