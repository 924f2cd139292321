"""Password rules, applied on the device: the server never sees the password (R6).

The server receives only a secret derived from the password by Argon2id, so it cannot
check the password itself; every client of ours refuses weak ones before deriving.
Rules (CNIL 2022-100 and NIST SP 800-63B, stricter reading): at least 12 characters, no
composition rules, and not guessable: zxcvbn, which ships lists of the most common
passwords, words and names, must rate it 3 or 4 out of 4, taking the user's own
address and name into account.
"""

from __future__ import annotations

from dataclasses import dataclass

from zxcvbn import zxcvbn

MIN_LENGTH = 12
MIN_SCORE = 3
#: zxcvbn's cost grows with length; a longer password is strong anyway.
_RATED_PREFIX = 100


@dataclass(frozen=True)
class PasswordVerdict:
    acceptable: bool
    reason: str


def check_new_password(password: str, user_inputs: tuple[str, ...] = ()) -> PasswordVerdict:
    if len(password) < MIN_LENGTH:
        return PasswordVerdict(
            False, f"use at least {MIN_LENGTH} characters; a few words work well"
        )
    lowered = password.lower()
    for value in user_inputs:
        for part in {value.lower(), value.lower().split("@")[0]}:
            if len(part) >= 4 and part in lowered:
                return PasswordVerdict(False, "do not use your address or your name in it")
    inputs = [part for value in user_inputs for part in value.replace("@", " ").split() if part]
    result = zxcvbn(password[:_RATED_PREFIX], user_inputs=inputs)
    if result["score"] < MIN_SCORE:
        warning = result["feedback"].get("warning") or "this password is too easy to guess"
        hint = " ".join(result["feedback"].get("suggestions") or [])
        return PasswordVerdict(False, f"{warning.rstrip('.')}. {hint}".strip())
    return PasswordVerdict(True, "")
