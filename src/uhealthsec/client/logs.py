"""What a device remembers of a server's Merkle log, and how it accepts a new head.

The first head a device sees pins the log's signing key, its size and its root. Every
later head must be signed by that key and come with an RFC 9162 consistency proof
from the pinned one; then the pin moves forward. A log that was rewritten, forked or
rolled back fails one of these checks, and the device says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from uhealthsec.crypto import merkle
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode


class LogRefused(Exception):
    """A log could not prove what it said; nothing it served was trusted."""


@dataclass
class LogPin:
    log_key: str = ""
    size: int = 0
    root: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"log_key": self.log_key, "size": self.size, "root": self.root}


def accept_head(
    body: dict[str, Any], pin: LogPin, log_name: str, what: str
) -> tuple[merkle.TreeHead, LogPin]:
    """Check a ``{log_key, head, consistency}`` answer against the pin; return the head
    and the pin to keep. ``what`` names the log in messages ("the key directory")."""
    log_key = b64u_decode(body["log_key"])
    if pin.log_key and b64u_decode(pin.log_key) != log_key:
        raise LogRefused(
            f"{what} is signed by another key than before: this is not the one this device trusted"
        )
    head = parse_head(body["head"])
    try:
        if head.log != log_name:
            raise CryptoError("wrong log")
        head.verify(log_key, b64u_decode(body["head"]["signature"]))
    except CryptoError as exc:
        raise LogRefused(f"{what}'s tree head is not validly signed") from exc
    if pin.size:
        proof = [b64u_decode(p) for p in body["consistency"]]
        try:
            merkle.verify_consistency(pin.size, head.size, b64u_decode(pin.root), head.root, proof)
        except merkle.InvalidProof as exc:
            raise LogRefused(
                f"{what} (now {head.size} entries) does not extend the one this device saw "
                f"({pin.size} entries): the server may be showing different logs to "
                "different people"
            ) from exc
    return head, LogPin(b64u_encode(log_key), head.size, b64u_encode(head.root))


def parse_head(raw: dict[str, Any]) -> merkle.TreeHead:
    return merkle.TreeHead(
        raw["log"], int(raw["size"]), b64u_decode(raw["root"]), int(raw["timestamp_ms"])
    )
