"""Proof-of-work challenges in the ALTCHA v2 format, with Argon2id (memory-hard).

The server picks a secret counter in [cost / 2, cost], derives
Argon2id(nonce || uint32_be(counter), salt) once, and publishes the first half of
that key (``keyPrefix``) and its HMAC (``keySignature``): the client tries counters
from 0, one Argon2id each, until a derived key starts with the prefix. Each try
fills and reads ``MEMORY_KIB`` of memory, so a GPU or native code does not get the
lead over a phone's browser that it has on SHA-256 (BENCHMARKS.md).

The server checks a solution with HMACs only, never with Argon2id: the challenge's
signature over its parameters (expiry, endpoint, subject, cost, all signed), then
the key's signature. A forged, expired, replayed or garbled solution costs the
server nothing but parsing; the one Argon2id a challenge costs is spent when it is
issued. Nothing is read from the device and no cookie is set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from altcha import v2 as altcha

ALGORITHM = "ARGON2ID"
#: Argon2id per try: 8 MiB, one pass, one lane (``memoryCost``, ``cost``,
#: ``parallelism`` in ALTCHA v2 terms). About 4 ms in native code, 13 ms in desktop
#: Chromium (hash-wasm), 54 ms assumed on a phone (BENCHMARKS.md).
MEMORY_KIB = 8192
TIME_COST = 1
PARALLELISM = 1
KEY_LENGTH = 32
#: The published prefix: the first half of the key, as ALTCHA's deterministic mode.
PREFIX_LENGTH = KEY_LENGTH // 2
#: A solution's payload is under 1 KiB; anything longer is refused unread.
MAX_PAYLOAD = 2048
#: Largest ``time`` (milliseconds) the ALTCHA widget may report with a solution.
MAX_TIME_MS = 86_400_000
#: The cost (largest counter) the shield may ask: far above any level (service.COSTS).
MAX_COST = 2**16
#: Endpoints named in a challenge (the callers of shield/http.py's attempt_of).
_ENDPOINT = re.compile(r"[a-z][a-z-]{0,31}")
_SUBJECT = re.compile(r"[0-9a-f]{32}")
_HEX_16 = re.compile(r"[0-9a-f]{32}")
_HEX_32 = re.compile(r"[0-9a-f]{64}")
_PARAMETER_KEYS = frozenset(
    {
        "algorithm",
        "cost",
        "data",
        "expiresAt",
        "keyLength",
        "keyPrefix",
        "keySignature",
        "memoryCost",
        "nonce",
        "parallelism",
        "salt",
    }
)


class ChallengeRefused(Exception):
    """A solution that is malformed, forged, expired, for something else, or too cheap."""


@dataclass(frozen=True)
class Solved:
    signature: str  # identifies the challenge, to refuse a second use
    expires_at: float
    cost: int


def key_signature_secret(key: bytes) -> bytes:
    """The HMAC key of ``keySignature``, apart from the one that signs parameters."""
    return hmac.new(key, b"uhealthsec altcha v2 key signature", hashlib.sha256).digest()


def canonical(parameters: dict[str, Any]) -> bytes:
    """The bytes ALTCHA v2 signs: JSON with sorted keys and no spaces. Equal to
    altcha-lib's ``canonicalJSON`` for what ``_parse`` lets through (ASCII strings of
    letters, digits and hyphens; integers below 2^53; one nested object)."""
    return json.dumps(parameters, sort_keys=True, separators=(",", ":")).encode()


class ChallengeBook:
    def __init__(self, key: bytes, ttl: timedelta = timedelta(minutes=5)) -> None:
        self._key = key
        self._key_secret = key_signature_secret(key)
        self._ttl = ttl

    def issue(self, endpoint: str, subject: str, cost: int, now: datetime) -> dict[str, Any]:
        """A challenge as the ALTCHA widget and our clients expect it. Costs the
        server one Argon2id (``MEMORY_KIB``), with the counter it picks."""
        if not 1 <= cost <= MAX_COST:
            raise ValueError(f"a proof-of-work cost is between 1 and {MAX_COST}")
        counter = cost // 2 + secrets.randbelow(cost - cost // 2 + 1)
        challenge = altcha.create_challenge(
            algorithm=ALGORITHM,
            cost=TIME_COST,
            counter=counter,
            key_length=KEY_LENGTH,
            key_prefix_length=PREFIX_LENGTH,
            memory_cost=MEMORY_KIB,
            parallelism=PARALLELISM,
            expires_at=math.ceil((now + self._ttl).timestamp()),
            data={"endpoint": endpoint, "subject": subject, "cost": cost},
            hmac_secret=self._key,
            hmac_key_secret=self._key_secret,
        )
        return challenge.to_dict()

    def check(self, payload: str, endpoint: str, subject: str, now: datetime) -> Solved:
        """The solved challenge, if ``payload`` (base64 JSON, as ALTCHA sends it) is a
        genuine solution for this endpoint and subject that has not expired. HMACs
        only: no key derivation, whatever the payload."""
        if len(payload) > MAX_PAYLOAD:
            raise ChallengeRefused("the proof of work is too long")
        parameters, signature, derived_key = _parse(payload)
        expected = hmac.new(self._key, canonical(parameters), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise ChallengeRefused("the proof of work does not solve a challenge we issued")
        data = parameters["data"]
        if data["endpoint"] != endpoint or data["subject"] != subject:
            raise ChallengeRefused("the proof of work was issued for another request")
        if parameters["expiresAt"] <= now.timestamp():
            raise ChallengeRefused("the proof of work has expired: solve the new challenge")
        key_signature = hmac.new(self._key_secret, derived_key, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(key_signature, parameters["keySignature"]):
            raise ChallengeRefused("the proof of work does not solve a challenge we issued")
        return Solved(signature, float(parameters["expiresAt"]), data["cost"])


def _parse(payload: str) -> tuple[dict[str, Any], str, bytes]:
    """``parameters, signature, derived key`` of a solution, each field checked for
    its exact type and shape (JSON integers, not floats or booleans, in range; hex of
    the exact length; no key missing or unknown), so that whatever else a client
    sends is refused here rather than failing later. A v1 payload is refused here."""
    try:
        data = json.loads(base64.b64decode(payload, validate=True), parse_constant=_no_constant)
    except (ValueError, binascii.Error, RecursionError) as exc:
        raise ChallengeRefused("the proof of work is not a valid ALTCHA v2 payload") from exc
    if not (
        _is_object(data, {"challenge", "solution"})
        and _is_object(data["challenge"], {"parameters", "signature"})
        and _hex(data["challenge"]["signature"], _HEX_32)
        and _is_object(data["solution"], {"counter", "derivedKey"}, optional=frozenset({"time"}))
    ):
        raise ChallengeRefused("the proof of work is not a valid ALTCHA v2 payload")
    parameters, solution = data["challenge"]["parameters"], data["solution"]
    if not (_valid_parameters(parameters) and _valid_solution(solution)):
        raise ChallengeRefused("the proof of work is not a valid ALTCHA v2 payload")
    return parameters, data["challenge"]["signature"], bytes.fromhex(solution["derivedKey"])


def _valid_parameters(parameters: object) -> bool:
    if not _is_object(parameters, _PARAMETER_KEYS):
        return False
    assert isinstance(parameters, dict)
    data = parameters["data"]
    return (
        parameters["algorithm"] == ALGORITHM
        and _integer(parameters["cost"], 1, 2**32 - 1)
        and _integer(parameters["memoryCost"], 8, 2**32 - 1)
        and _integer(parameters["parallelism"], 1, 2**24 - 1)
        and _integer(parameters["keyLength"], KEY_LENGTH, KEY_LENGTH)
        and _integer(parameters["expiresAt"], 0, 2**53)
        and _hex(parameters["keyPrefix"], _HEX_16)
        and _hex(parameters["keySignature"], _HEX_32)
        and _hex(parameters["nonce"], _HEX_16)
        and _hex(parameters["salt"], _HEX_16)
        and _is_object(data, {"endpoint", "subject", "cost"})
        and isinstance(data["endpoint"], str)
        and _ENDPOINT.fullmatch(data["endpoint"]) is not None
        and _hex(data["subject"], _SUBJECT)
        and _integer(data["cost"], 1, MAX_COST)
    )


def _valid_solution(solution: dict[str, Any]) -> bool:
    time = solution.get("time", 0)
    return (
        _integer(solution["counter"], 0, 2**32 - 1)
        and _hex(solution["derivedKey"], _HEX_32)
        # The widget reports its solving time in (fractional) milliseconds: unused.
        and type(time) in (int, float)
        and 0 <= time <= MAX_TIME_MS
    )


def _is_object(
    value: object, keys: set[str] | frozenset[str], optional: frozenset[str] = frozenset()
) -> bool:
    return isinstance(value, dict) and keys <= value.keys() <= keys | optional


def _integer(value: object, low: int, high: int) -> bool:
    # bool is an int in Python; a JSON 1e3 or 1.0 is a float: neither is an integer here.
    return type(value) is int and low <= value <= high


def _hex(value: object, shape: re.Pattern[str]) -> bool:
    return isinstance(value, str) and shape.fullmatch(value) is not None


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")
