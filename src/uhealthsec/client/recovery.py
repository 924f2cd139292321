"""Showing and reading back the recovery key.

The 256-bit recovery key is written as 24 words of the BIP-39 English list
(the last word carries an 8-bit checksum, so a mistyped word is caught before
any decryption is tried) and as a QR code of the same words, for a printed
recovery sheet.
"""

from __future__ import annotations

import io
import re

import segno
from mnemonic import Mnemonic

from uhealthsec.crypto.errors import MalformedInput
from uhealthsec.crypto.keystore import RECOVERY_KEY_SIZE

_WORDS = Mnemonic("english")
WORD_COUNT = 24

#: What separates recovery words: spaces, tabs and line breaks.
_SEPARATORS = re.compile(r"[ \t\r\n]+")


def to_words(recovery_key: bytes) -> list[str]:
    if len(recovery_key) != RECOVERY_KEY_SIZE:
        raise MalformedInput(f"a recovery key is {RECOVERY_KEY_SIZE} bytes")
    return str(_WORDS.to_mnemonic(recovery_key)).split()


def from_words(text: str) -> bytes:
    """Read the words back, tolerating case, extra spaces, tabs and line breaks (ASCII
    ones only, as every reader of PROTOCOL 7.2 does)."""
    words = [w for w in _SEPARATORS.split(text.lower()) if w]
    if len(words) != WORD_COUNT:
        raise MalformedInput(f"a recovery key is {WORD_COUNT} words, got {len(words)}")
    unknown = [i for i, w in enumerate(words, 1) if w not in _WORDS.wordlist]
    if unknown:
        # Its position, not the word: a mistyped word is nearly one of the key's.
        raise MalformedInput(f"word {unknown[0]} is not a recovery word")
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
