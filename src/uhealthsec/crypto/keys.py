"""A user's key pairs and the public bundle published in the key directory.

Every account holds three key pairs: Ed25519 for signatures, X-Wing for the
default (hybrid post-quantum) key wrapping, and X25519 for the classical
suite. They are independent: no key is used for two algorithms.
"""

from __future__ import annotations

import hmac as _constant_time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from uhealthsec.crypto import signing as signatures
from uhealthsec.crypto import xwing
from uhealthsec.crypto.errors import MalformedInput, UnsupportedVersion

PUBLIC_BUNDLE_MAGIC = b"UHSP"
PUBLIC_BUNDLE_VERSION = 0x01
PUBLIC_BUNDLE_SIZE = 4 + 1 + 32 + xwing.PUBLIC_KEY_SIZE + 32  # 1285
PRIVATE_KEYS_VERSION = 0x01
PRIVATE_KEYS_SIZE = 1 + 32 + xwing.SEED_SIZE + 32  # 97


@dataclass(frozen=True)
class PublicKeys:
    """The public half: what others need to verify this user and to share with them."""

    signing: bytes
    xwing: bytes
    x25519: bytes

    def encode(self) -> bytes:
        return (
            PUBLIC_BUNDLE_MAGIC
            + bytes([PUBLIC_BUNDLE_VERSION])
            + self.signing
            + self.xwing
            + self.x25519
        )

    @classmethod
    def decode(cls, data: bytes) -> PublicKeys:
        """The bundle encoded in ``data``, each key parsed.

        :raises MalformedInput: not a public key bundle, or a key in it is not valid
            (InvalidPublicKey for a refused signing key).
        :raises UnsupportedVersion: a bundle version this code does not know.
        """
        if len(data) != PUBLIC_BUNDLE_SIZE or data[:4] != PUBLIC_BUNDLE_MAGIC:
            raise MalformedInput("not a U-HealthSec public key bundle")
        if data[4] != PUBLIC_BUNDLE_VERSION:
            raise UnsupportedVersion(f"unsupported public key bundle version {data[4]}")
        signing_key = bytes(data[5:37])
        xwing_key = bytes(data[37 : 37 + xwing.PUBLIC_KEY_SIZE])
        x25519_key = bytes(data[37 + xwing.PUBLIC_KEY_SIZE :])
        # Parse each key once so that a malformed bundle is refused at the door: a signing
        # key no honest key generation produces (section 4.1) is refused here, not at use.
        signatures.public_key(signing_key)
        try:
            x25519.X25519PublicKey.from_public_bytes(x25519_key)
        except ValueError as exc:
            raise MalformedInput("invalid key in public key bundle") from exc
        xwing.XWingPublicKey(xwing_key)
        return cls(signing_key, xwing_key, x25519_key)

    def fingerprint(self) -> bytes:
        """SHA-256 of the encoded bundle: names this exact set of keys."""
        digest = hashes.Hash(hashes.SHA256())
        digest.update(self.encode())
        return digest.finalize()

    def same_as(self, other: PublicKeys) -> bool:
        return _constant_time.compare_digest(self.encode(), other.encode())


class UserKeys:
    """The private half. Exists only on the user's device, unsealed from the keystore."""

    __slots__ = ("signing", "x25519", "xwing")

    def __init__(
        self,
        signing: ed25519.Ed25519PrivateKey,
        xwing_key: xwing.XWingPrivateKey,
        x25519_key: x25519.X25519PrivateKey,
    ) -> None:
        self.signing = signing
        self.xwing = xwing_key
        self.x25519 = x25519_key

    @classmethod
    def generate(cls) -> UserKeys:
        return cls(
            ed25519.Ed25519PrivateKey.generate(),
            xwing.XWingPrivateKey.generate(),
            x25519.X25519PrivateKey.generate(),
        )

    def public(self) -> PublicKeys:
        return PublicKeys(
            self.signing.public_key().public_bytes_raw(),
            self.xwing.public_key().public_bytes(),
            self.x25519.public_key().public_bytes_raw(),
        )

    def encode(self) -> bytes:
        """The secret seeds, for sealing into a keystore only."""
        return (
            bytes([PRIVATE_KEYS_VERSION])
            + self.signing.private_bytes_raw()
            + self.xwing.seed()
            + self.x25519.private_bytes_raw()
        )

    @classmethod
    def decode(cls, data: bytes) -> UserKeys:
        """The private keys sealed in a keystore.

        :raises MalformedInput: the wrong length.
        :raises UnsupportedVersion: a private key set version this code does not know.
        """
        if len(data) != PRIVATE_KEYS_SIZE:
            raise MalformedInput("sealed private keys have the wrong length")
        if data[0] != PRIVATE_KEYS_VERSION:
            raise UnsupportedVersion(f"unsupported private key set version {data[0]}")
        return cls(
            ed25519.Ed25519PrivateKey.from_private_bytes(data[1:33]),
            xwing.XWingPrivateKey(data[33:65]),
            x25519.X25519PrivateKey.from_private_bytes(data[65:97]),
        )

    def __repr__(self) -> str:
        return f"UserKeys(public fingerprint={self.public().fingerprint().hex()[:16]}…)"
