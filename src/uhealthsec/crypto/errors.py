"""Exceptions of the cryptographic core.

Messages name what failed and where, never a key, a password or plaintext.
Each class carries the identifier that the test vectors and docs/PROTOCOL.md
(section 8.1) use for it, so that another implementation can name the same
refusal the same way.
"""

from __future__ import annotations

from typing import ClassVar


class CryptoError(ValueError):
    """Base class: the input could not be processed safely."""

    identifier: ClassVar[str] = "crypto_error"


class MalformedInput(CryptoError):
    """A structure does not follow its format (bad magic, length or field)."""

    identifier = "malformed"


class UnsupportedVersion(MalformedInput):
    """A version or algorithm identifier that this implementation does not know."""

    identifier = "unsupported"


class InvalidPublicKey(MalformedInput):
    """A public key that is not a usable point: non-canonical, off the curve or of small order."""

    identifier = "invalid_public_key"


class HeaderAuthenticationFailed(CryptoError):
    """An envelope header does not authenticate: it was modified, or the key is wrong."""

    identifier = "header_authentication"


class ChunkAuthenticationFailed(CryptoError):
    """A payload chunk does not authenticate at its position."""

    identifier = "chunk_authentication"

    def __init__(self, index: int) -> None:
        super().__init__(
            f"chunk {index} failed authentication: the ciphertext was modified, "
            "reordered or taken from another envelope"
        )
        self.index = index


class TruncatedEnvelope(CryptoError):
    """The envelope ends before its final chunk."""

    identifier = "truncated"


class TrailingData(CryptoError):
    """Bytes follow the final chunk of an envelope."""

    identifier = "trailing_data"


class DecryptionFailed(CryptoError):
    """An AEAD or KEM operation failed (wrong key or modified ciphertext)."""

    identifier = "decryption_failed"


class SignatureVerificationFailed(CryptoError):
    """A signature does not verify for the given key and content, or is not a signature.

    Not ``cryptography.exceptions.InvalidSignature``: this one is a ``CryptoError``,
    raised by our checks, with the identifier the vectors use.
    """

    identifier = "invalid_signature"


class InvalidProof(CryptoError):
    """A Merkle inclusion or consistency proof does not lead to the claimed root, or is
    malformed; a verifiable map's proof does not open the value it claims."""

    identifier = "invalid_proof"


class WrongPassword(CryptoError):
    """A keystore slot could not be opened with the given password or recovery key."""

    identifier = "wrong_password"


class WeakParameters(CryptoError):
    """Key-derivation parameters below the accepted minimum."""

    identifier = "weak_parameters"


class ParametersAboveBudget(CryptoError):
    """Key-derivation parameters that would cost a client more than its written budget."""

    identifier = "parameters_above_budget"


def error_identifier(error: CryptoError) -> str:
    """The identifier of a refusal as the vectors write it; a chunk failure names its index."""
    if isinstance(error, ChunkAuthenticationFailed):
        return f"{error.identifier}:{error.index}"
    return error.identifier


class SearchStateRefused(CryptoError):
    """A search state or a document's keyword list that does not open under the index's
    key, or was sealed for another index, version or document (PROTOCOL 18.3)."""

    identifier = "search_state_refused"
