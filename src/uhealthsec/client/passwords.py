"""Password rules, applied on the device: the server never sees the password (R6).

The server receives only a secret derived from the password by Argon2id, so it cannot
check the password itself; every client of ours (this module for the SDK and the CLI,
web/src/client/passwords.ts for the browser) refuses weak ones before deriving, with
the same rule, checked against the same vectors (tests/vectors/passwords.json):

1. at least 12 characters, and neither the person's address nor name in it;
2. at least MIN_ENTROPY_BITS by the counting of CNIL deliberation 2022-100 (see
   ``cnil_entropy_bits``);
3. not in the shipped list of leaked passwords (breached_passwords.txt);
4. zxcvbn, which knows common passwords, words, names and keyboard patterns, rates it
   3 or 4 out of 4, taking the address and the name into account; its advice is given
   with the refusal.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

from zxcvbn import zxcvbn

MIN_LENGTH = 12
#: CNIL deliberation 2022-100, case 2 ("mot de passe et restriction d'accès au compte"):
#: 50 bits when the service limits guessing. Our sign-ins always need a second factor
#: and are throttled, so case 2 applies, not case 1's 80 bits. The keystore sealed under
#: the password is guessed offline without throttling by a hostile server; Argon2id's
#: cost, the 12-character floor and zxcvbn's rating are what stand there.
MIN_ENTROPY_BITS = 50.0
#: The deliberation's character sets: its "caractères spéciaux" are "à choisir dans une
#: liste d'au moins 37 caractères spéciaux possibles"; any character other than an
#: ASCII digit or letter counts as one of them.
DIGITS, LOWERCASE, UPPERCASE, SPECIALS = 10, 26, 26, 37
#: The deliberation's passphrase example (case 1, example 3): "une phrase de passe ...
#: composée d'au minimum 7 mots" for its 80 bits, i.e. 80/7 bits a word, words drawn
#: from a dictionary of 2^(80/7), about 2,760, words. 50 bits thus take 5 words.
WORD_BITS = 80 / 7
#: What separates the words of a passphrase, spelled out (not \s, whose members differ
#: between Python and JavaScript); NFKC has already made other spaces plain ones.
_WORD_SEPARATORS = re.compile(r"[ \t._-]+")
#: zxcvbn's lowest acceptable score.
MIN_SCORE = 3
#: The fewest different characters a new password may have (the browser's worker, which
#: holds no word lists, refuses these too).
MIN_DISTINCT_CHARACTERS = 5
#: zxcvbn's cost grows with length, and zxcvbn 4.5 refuses (ValueError) more than 72
#: characters: a longer password is rated by its first 72, and is strong anyway.
_RATED_PREFIX = 72
#: The breached-password list: SHA-256 prefixes of this many bytes.
BREACHED_PREFIX_BYTES = 4
BREACHED_FILE = "breached_passwords.txt"

#: Why a password is refused, saying what to do (the browser's are in web/src/app/i18n.ts).
PROBLEM_MESSAGES = {
    "too_short": f"use at least {MIN_LENGTH} characters; a few unrelated words work well",
    "contains_identity": "do not use your address or your name in it",
    "too_repetitive": "this password is too easy to guess: use a few unrelated words",
    "too_weak": "this password is too easy to guess: add two or three unrelated words",
    "breached": (
        "this password is in lists of leaked passwords: choose another one, "
        "for example a few unrelated words"
    ),
}


@dataclass(frozen=True)
class PasswordVerdict:
    acceptable: bool
    reason: str
    #: None when accepted; a key of PROBLEM_MESSAGES, or "guessable" (zxcvbn).
    problem: str | None = None


def _character_bits(text: str) -> float:
    """Length x log2 of the size of the character sets `text` uses."""
    alphabet = 0
    if any("0" <= c <= "9" for c in text):
        alphabet += DIGITS
    if any("a" <= c <= "z" for c in text):
        alphabet += LOWERCASE
    if any("A" <= c <= "Z" for c in text):
        alphabet += UPPERCASE
    if any(not ("0" <= c <= "9" or "a" <= c <= "z" or "A" <= c <= "Z") for c in text):
        alphabet += SPECIALS
    return len(text) * math.log2(alphabet) if alphabet else 0.0


def cnil_entropy_bits(password: str) -> float:
    """The password's entropy as CNIL deliberation 2022-100 counts it.

    A password without separators counts its length x log2 of the size of the character
    sets it uses (digits 10, lowercase 26, uppercase 26, specials 37). Words separated by
    spaces, dots, dashes or underscores are read as a passphrase: each word made only of
    letters counts WORD_BITS (or its characters' count if that is less: "le" is not a
    dictionary draw), any other part its characters' count, and separators count
    nothing, so that "correct horse" is two words, not 13 characters.
    """
    parts = [part for part in _WORD_SEPARATORS.split(password) if part]
    if parts == [password]:
        return _character_bits(password)
    bits = 0.0
    for part in parts:
        counted = _character_bits(part)
        bits += min(WORD_BITS, counted) if part.isalpha() else counted
    return bits


@cache
def _breached_prefixes() -> frozenset[bytes]:
    text = resources.files("uhealthsec.client").joinpath(BREACHED_FILE).read_text("ascii")
    lines = (line.strip() for line in text.splitlines())
    return frozenset(bytes.fromhex(line) for line in lines if line and not line.startswith("#"))


def breached_key(password: str) -> bytes:
    """The list's key of a password: the first bytes of SHA-256 of its lowercase UTF-8."""
    digest = hashlib.sha256(password.lower().encode("utf-8")).digest()
    return digest[:BREACHED_PREFIX_BYTES]


def is_breached(password: str) -> bool:
    """Whether the password (in any case) is in the shipped list of leaked passwords."""
    return breached_key(password) in _breached_prefixes()


def _refused(problem: str) -> PasswordVerdict:
    return PasswordVerdict(False, PROBLEM_MESSAGES[problem], problem)


def rule_problem(password: str, user_inputs: tuple[str, ...] = ()) -> str | None:
    """Why the rule without zxcvbn refuses `password` (the browser's worker applies it too)."""
    # Judged as the key derivation reads it (NFKC, docs/PROTOCOL.md): full-width
    # "qwerty123456" typed in full-width letters is the leaked one, not 12 specials.
    password = unicodedata.normalize("NFKC", password)
    if len(password) < MIN_LENGTH:
        return "too_short"
    lowered = password.lower()
    for value in user_inputs:
        whole = value.strip().lower()
        for part in {whole, whole.split("@")[0], *re.split(r"[\s@.]+", whole)}:
            if len(part) >= 4 and part in lowered:
                return "contains_identity"
    if len(set(lowered)) < MIN_DISTINCT_CHARACTERS:
        return "too_repetitive"
    if cnil_entropy_bits(password) < MIN_ENTROPY_BITS:
        return "too_weak"
    if is_breached(password):
        return "breached"
    return None


def check_new_password(password: str, user_inputs: tuple[str, ...] = ()) -> PasswordVerdict:
    problem = rule_problem(password, user_inputs)
    if problem is not None:
        return _refused(problem)
    password = unicodedata.normalize("NFKC", password)
    inputs = [part for value in user_inputs for part in value.replace("@", " ").split() if part]
    result = zxcvbn(password[:_RATED_PREFIX], user_inputs=inputs)
    if result["score"] < MIN_SCORE:
        warning = result["feedback"].get("warning") or "this password is too easy to guess"
        hint = " ".join(result["feedback"].get("suggestions") or [])
        return PasswordVerdict(False, f"{warning.rstrip('.')}. {hint}".strip(), "guessable")
    return PasswordVerdict(True, "")
