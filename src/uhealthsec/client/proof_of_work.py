"""Solving the server's proof-of-work challenges (ALTCHA v2, Argon2id; docs/PROTOCOL.md 14).

At rest the server asks for none; under attack, or after failed attempts on an
address or from a network, a sign-in is answered 429 with a challenge, which the
client solves and sends back in the ``UHS-Proof-Of-Work`` header.

A challenge chooses what solving it costs: the client refuses, before deriving any
key, one whose Argon2id would take more than ``MAX_MEMORY_KIB`` of memory, more than
``MAX_TIME_COST`` passes or ``MAX_PARALLELISM`` lanes, and it stops after
``MAX_WORK_KIB`` of memory passes over all its tries: a hostile or broken server
cannot make it allocate gigabytes or loop for ever.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from typing import Any

from argon2.low_level import Type, hash_secret_raw

from uhealthsec.client.errors import UnsolvableChallenge

HEADER = "UHS-Proof-Of-Work"
ALGORITHM = "ARGON2ID"
#: 64 MiB: eight times what our server asks (8 MiB), the client's own password KDF's size.
MAX_MEMORY_KIB = 64 * 1024
MAX_TIME_COST = 4
MAX_PARALLELISM = 4
#: Memory passes (KiB x passes) over all tries of one challenge: 2,048 tries at our
#: server's parameters, eight times the most it asks (service.COSTS).
MAX_WORK_KIB = 2048 * 8192
#: Tries of one challenge, whatever its memory: a try costs a fixed time besides its
#: memory passes (about 0.6 ms at the smallest), which the work bound alone would let
#: a hostile server multiply into minutes.
MAX_TRIES = 2048
_HEX = re.compile(r"(?:[0-9a-f]{2}){1,64}")


def solve(challenge: dict[str, Any]) -> str:
    """The header value that answers ``challenge``: tries every counter in turn, one
    Argon2id each (argon2-cffi), until the derived key starts with ``keyPrefix``."""
    parameters = challenge.get("parameters") if isinstance(challenge, dict) else None
    if not isinstance(parameters, dict) or parameters.get("algorithm") != ALGORITHM:
        raise UnsolvableChallenge("the server asks for an unknown proof of work")
    memory = _integer(parameters, "memoryCost", 8, MAX_MEMORY_KIB)
    passes = _integer(parameters, "cost", 1, MAX_TIME_COST)
    lanes = _integer(parameters, "parallelism", 1, MAX_PARALLELISM)
    key_length = _integer(parameters, "keyLength", 16, 64)
    nonce, salt = _hex(parameters, "nonce"), _hex(parameters, "salt")
    prefix = _hex(parameters, "keyPrefix")
    if memory < 8 * lanes or len(salt) < 8 or len(prefix) > key_length:
        raise UnsolvableChallenge("the server's challenge has impossible parameters")
    for counter in range(min(MAX_TRIES, MAX_WORK_KIB // (memory * passes))):
        key = hash_secret_raw(
            secret=nonce + struct.pack(">I", counter),
            salt=salt,
            time_cost=passes,
            memory_cost=memory,
            parallelism=lanes,
            hash_len=key_length,
            type=Type.ID,
        )
        if key.startswith(prefix):
            payload = {
                "challenge": challenge,
                "solution": {"counter": counter, "derivedKey": key.hex()},
            }
            return base64.b64encode(json.dumps(payload).encode()).decode()
    raise UnsolvableChallenge("the server's challenge costs more than this client spends")


def _integer(parameters: dict[str, Any], name: str, low: int, high: int) -> int:
    value = parameters.get(name)
    if type(value) is not int:
        raise UnsolvableChallenge(f"the server's challenge has no integer {name}")
    if not low <= value <= high:
        raise UnsolvableChallenge(
            f"the server's challenge asks {name}={value}, this client accepts {low} to {high}"
        )
    return value


def _hex(parameters: dict[str, Any], name: str) -> bytes:
    value = parameters.get(name)
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise UnsolvableChallenge(f"the server's challenge has no hex {name}")
    return bytes.fromhex(value)
