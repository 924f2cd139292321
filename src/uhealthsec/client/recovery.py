"""Showing and reading back the recovery key.

The 256-bit recovery key is written as 24 words of the BIP-39 English list
(the last word carries an 8-bit checksum, so a mistyped word is caught before
any decryption is tried) and as a QR code of the same words, for a printed
recovery sheet.
"""

from __future__ import annotations

import io

import segno
from mnemonic import Mnemonic

from uhealthsec.crypto.errors import MalformedInput
from uhealthsec.crypto.keystore import RECOVERY_KEY_SIZE

_WORDS = Mnemonic("english")
WORD_COUNT = 24


def to_words(recovery_key: bytes) -> list[str]:
    if len(recovery_key) != RECOVERY_KEY_SIZE:
        raise MalformedInput(f"a recovery key is {RECOVERY_KEY_SIZE} bytes")
    return str(_WORDS.to_mnemonic(recovery_key)).split()


def from_words(text: str) -> bytes:
    """Read the words back, tolerating case, extra spaces and line breaks."""
    words = text.lower().split()
    if len(words) != WORD_COUNT:
        raise MalformedInput(f"a recovery key is {WORD_COUNT} words, got {len(words)}")
    unknown = [w for w in words if w not in _WORDS.wordlist]
    if unknown:
        raise MalformedInput(f"not a recovery word: {unknown[0]!r}")
    phrase = " ".join(words)
    if not _WORDS.check(phrase):
        raise MalformedInput("the recovery words do not check out: one of them is mistyped")
    return bytes(_WORDS.to_entropy(phrase))


def qr_code(recovery_key: bytes) -> segno.QRCode:
    return segno.make(" ".join(to_words(recovery_key)), error="m")


def qr_for_terminal(recovery_key: bytes) -> str:
    out = io.StringIO()
    qr_code(recovery_key).terminal(out=out, compact=True)
    return out.getvalue()
