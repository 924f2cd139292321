"""Wrapped keys sealed from the text of docs/PROTOCOL.md 6.3, with our reference HPKE.

The library seals with ``cryptography``'s HPKE, which draws the ephemeral key
itself; our HPKE takes ``ikmE``, so the classical vectors are reproduced byte
for byte here. It also writes version 1, which the library only reads. The
prefix and ``info`` are spelled out from the protocol text, not taken from
``crypto/wrap.py``, so that the vectors check that module rather than repeat it.
"""

from __future__ import annotations

import hashlib

from uhealthsec.crypto import hpke

_LABELS = {1: b"uhealthsec/v1/document-key", 2: b"uhealthsec/v2/document-key"}


def seal_wrapped_key(
    version: int,
    suite: hpke.Suite,
    recipient_public_key: bytes,
    envelope_header: bytes,
    document_key: bytes,
    ikm_e: bytes | None = None,
) -> bytes:
    """prefix || enc || ciphertext; v1 binds the prefix as AAD, v2 through ``info``."""
    prefix = (
        bytes([version])
        + suite.kem_id.to_bytes(2, "big")
        + suite.kdf_id.to_bytes(2, "big")
        + suite.aead_id.to_bytes(2, "big")
    )
    header_digest = hashlib.sha256(envelope_header).digest()
    if version == 1:
        info, aad = _LABELS[1] + b"\x00" + header_digest, prefix
    else:
        info, aad = _LABELS[2] + b"\x00" + prefix + header_digest, b""
    enc, context = suite.setup_sender(recipient_public_key, info, ikm_e=ikm_e)
    return prefix + enc + context.seal(aad, document_key)
