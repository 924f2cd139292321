"""TOTP (RFC 6238): 6 digits, 30-second steps, ±1 step of clock drift, no replay.

pyotp computes the codes; the replay rule is ours: the server keeps the last step it
accepted and refuses that step and every earlier one.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno

STEP_SECONDS = 30
DIGITS = 6
#: One step either side: a phone clock off by up to 30 s still works.
DRIFT_STEPS = 1


def new_secret() -> str:
    """160 random bits in base32, the size RFC 4226 recommends."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii")


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str


def enrolment(secret: str, account_label: str, issuer: str) -> Enrolment:
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account_label, issuer_name=issuer
    )
    qr = segno.make(uri, error="m")
    return Enrolment(secret, uri, qr.svg_inline(scale=4))


def matching_step(secret: str, code: str, now: datetime, last_used_step: int) -> int | None:
    """The step whose code equals ``code`` and which was not used before, else None."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        expected = totp.generate_otp(step)
        # Compare every candidate so the time taken does not depend on which matched.
        if hmac.compare_digest(expected.encode(), code.encode()) and step > last_used_step:
            found = step
    return found
