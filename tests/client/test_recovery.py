import pytest

from uhealthsec.client import recovery
from uhealthsec.crypto.errors import MalformedInput
from uhealthsec.crypto.keystore import generate_recovery_key


def test_words_round_trip():
    key = generate_recovery_key()
    words = recovery.to_words(key)
    assert len(words) == 24
    assert recovery.from_words("  " + "\n".join(words).upper() + " ") == key


def test_known_encoding():
    # BIP-39: 256 zero bits are 23 times "abandon" then the checksum word "art".
    assert recovery.to_words(bytes(32)) == ["abandon"] * 23 + ["art"]


def test_mistyped_word_is_caught():
    words = recovery.to_words(generate_recovery_key())
    words[5] = "abandon" if words[5] != "abandon" else "ability"
    with pytest.raises(MalformedInput, match="mistyped"):
        recovery.from_words(" ".join(words))


def test_unknown_word_and_wrong_count():
    with pytest.raises(MalformedInput, match="not a recovery word"):
        recovery.from_words(" ".join(["abandon"] * 23 + ["zzz"]))
    with pytest.raises(MalformedInput, match="24 words"):
        recovery.from_words("abandon art")


def test_qr_code_encodes_the_words():
    key = generate_recovery_key()
    assert recovery.qr_code(key).error == "M"
    assert len(recovery.qr_for_terminal(key).splitlines()) > 10
