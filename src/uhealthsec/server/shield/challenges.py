"""Proof-of-work challenges in the ALTCHA format (v1: SHA-256 over salt || number).

The server picks a secret number in [0, cost] and publishes SHA-256(salt || number)
with its HMAC; the client finds the number by trying them, on average cost / 2
hashes, and the server checks a solution with one hash and one HMAC. The salt carries
the challenge's expiry, endpoint, subject (the HMAC of the address) and cost, so a
solution is good for one endpoint and one address, for a few minutes, and once.
Nothing is read from the device and no cookie is set.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta

import altcha

ALGORITHM = "SHA-256"
#: A solution's payload is a few hundred bytes; anything longer is refused unread.
MAX_PAYLOAD = 2048
#: Above any cost the shield asks for (a number is at most the challenge's cost).
MAX_NUMBER = 2**53
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_SALT = re.compile(r"[\x21-\x7e]{1,1024}")


class ChallengeRefused(Exception):
    """A solution that is malformed, forged, expired, for something else, or too cheap."""


@dataclass(frozen=True)
class Solved:
    signature: str  # identifies the challenge, to refuse a second use
    expires_at: float
    cost: int


class ChallengeBook:
    def __init__(self, key: bytes, ttl: timedelta = timedelta(minutes=5)) -> None:
        self._key = key
        self._ttl = ttl

    def issue(self, endpoint: str, subject: str, cost: int, now: datetime) -> dict[str, object]:
        """A challenge as the ALTCHA widget and our clients expect it."""
        challenge = altcha.create_challenge_v1(
            algorithm=ALGORITHM,
            max_number=cost,
            hmac_key=self._key,
            expires=now + self._ttl,
            params={"endpoint": endpoint, "subject": subject, "cost": str(cost)},
        )
        return {
            "algorithm": challenge.algorithm,
            "challenge": challenge.challenge,
            "maxnumber": challenge.max_number,
            "salt": challenge.salt,
            "signature": challenge.signature,
        }

    def check(self, payload: str, endpoint: str, subject: str, now: datetime) -> Solved:
        """The solved challenge, if ``payload`` (base64 JSON, as ALTCHA sends it) is a
        genuine solution for this endpoint and subject that has not expired."""
        if len(payload) > MAX_PAYLOAD:
            raise ChallengeRefused("the proof of work is too long")
        number, salt, claimed, signature = _parse(payload)
        # altcha's own check compares with ==; the signature is compared in constant time.
        expected = altcha.hash_hex(ALGORITHM, (_delimited(salt) + str(number)).encode())
        expected_signature = altcha.hmac_hex(ALGORITHM, expected.encode(), self._key)
        if not (
            hmac.compare_digest(expected, claimed)
            and hmac.compare_digest(expected_signature, signature)
        ):
            raise ChallengeRefused("the proof of work does not solve a challenge we issued")
        params = dict(urllib.parse.parse_qsl(salt.partition("?")[2]))
        try:
            expires_at, cost = float(params["expires"]), int(params["cost"])
        except (KeyError, ValueError) as exc:
            raise ChallengeRefused("the proof of work is not one of ours") from exc
        if params.get("endpoint") != endpoint or params.get("subject") != subject:
            raise ChallengeRefused("the proof of work was issued for another request")
        if expires_at <= now.timestamp():
            raise ChallengeRefused("the proof of work has expired: solve the new challenge")
        return Solved(signature, expires_at, cost)


def _parse(payload: str) -> tuple[int, str, str, str]:
    """``number, salt, challenge, signature`` of a solution, each checked for its exact
    shape (JSON integer in range, printable ASCII salt, 64 lowercase hex digits), so
    that whatever else a client sends is refused here rather than failing later."""
    try:
        data = json.loads(base64.b64decode(payload, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise ChallengeRefused("the proof of work is not a valid ALTCHA payload") from exc
    if not isinstance(data, dict):
        raise ChallengeRefused("the proof of work is not a valid ALTCHA payload")
    number, salt = data.get("number"), data.get("salt")
    claimed, signature = data.get("challenge"), data.get("signature")
    if (
        data.get("algorithm") != ALGORITHM
        # bool is an int in Python; a JSON 1e400 or 1.0 is a float: neither is a number here.
        or type(number) is not int
        or not 0 <= number <= MAX_NUMBER
        or not isinstance(salt, str)
        or not _SALT.fullmatch(salt)
        or not isinstance(claimed, str)
        or not _HEX_DIGEST.fullmatch(claimed)
        or not isinstance(signature, str)
        or not _HEX_DIGEST.fullmatch(signature)
    ):
        raise ChallengeRefused("the proof of work is not a valid ALTCHA payload")
    return number, salt, claimed, signature


def _delimited(salt: str) -> str:
    # As the ALTCHA format hashes it: a trailing "&" keeps parameters from splicing.
    return salt if salt.endswith("&") else salt + "&"
