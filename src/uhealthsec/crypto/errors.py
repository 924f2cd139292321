"""Exceptions of the cryptographic core.

Messages name what failed and where, never a key, a password or plaintext.
"""

from __future__ import annotations


class CryptoError(ValueError):
    """Base class: the input could not be processed safely."""


class MalformedInput(CryptoError):
    """A structure does not follow its format (bad magic, length or field)."""


class UnsupportedVersion(MalformedInput):
    """A version or algorithm identifier that this implementation does not know."""


class HeaderAuthenticationFailed(CryptoError):
    """An envelope header does not authenticate: it was modified, or the key is wrong."""


class ChunkAuthenticationFailed(CryptoError):
    """A payload chunk does not authenticate at its position."""

    def __init__(self, index: int) -> None:
        super().__init__(
            f"chunk {index} failed authentication: the ciphertext was modified, "
            "reordered or taken from another envelope"
        )
        self.index = index


class TruncatedEnvelope(CryptoError):
    """The envelope ends before its final chunk."""


class TrailingData(CryptoError):
    """Bytes follow the final chunk of an envelope."""


class DecryptionFailed(CryptoError):
    """An AEAD or KEM operation failed (wrong key or modified ciphertext)."""


class InvalidSignature(CryptoError):
    """A signature does not verify for the given key and content."""


class WrongPassword(CryptoError):
    """A keystore slot could not be opened with the given password or recovery key."""


class WeakParameters(CryptoError):
    """Key-derivation parameters below the accepted minimum, or above the accepted maximum."""
