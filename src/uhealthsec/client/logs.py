"""What a device remembers of a server's Merkle log, and how it accepts a new checkpoint.

The first checkpoint a device sees pins the log's origin, its signing key, its size
and its root. Every later checkpoint must carry that origin, be signed by that key
and come with an RFC 9162 consistency proof from the pinned one; then the pin moves
forward. A log that was rewritten, forked or rolled back fails one of these checks,
and the device says so. Pins kept before checkpoints had an origin (no ``origin``)
take the first origin served with the pinned key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from uhealthsec.client.errors import LogRefused
from uhealthsec.crypto import merkle
from uhealthsec.crypto.checkpoint import Checkpoint, open_checkpoint, parse_verifier_key
from uhealthsec.crypto.errors import CryptoError, InvalidProof
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode
from uhealthsec.protocol.logs import LogHeadOut


@dataclass
class LogPin:
    log_key: str = ""
    size: int = 0
    root: str = ""
    #: The log's origin line (e.g. ``sante.example.fr/keys``).
    origin: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "log_key": self.log_key,
            "size": self.size,
            "root": self.root,
            "origin": self.origin,
        }

    def key(self) -> LogKey:
        """The pinned log's key and origin."""
        return LogKey(self.origin, b64u_decode(self.log_key))


@dataclass(frozen=True)
class LogKey:
    """A log's verified identity: the origin its checkpoints carry and its key."""

    origin: str
    key: bytes

    def open(self, note: str, what: str) -> Checkpoint:
        """The checkpoint in a signed note of this log.

        :raises LogRefused: not a checkpoint of this log signed by its key."""
        try:
            return open_checkpoint(note, self.origin, self.key)
        except CryptoError as exc:
            raise LogRefused(f"{what}'s checkpoint is not validly signed") from exc


def log_key(vkey: str, pin: LogPin, log_name: str, what: str) -> LogKey:
    """The log's key as served (a C2SP verifier key), checked against the pin: the
    same key and origin as before, and an origin that names this log."""
    try:
        origin, key = parse_verifier_key(vkey)
    except CryptoError as exc:
        raise LogRefused(f"{what}'s key is not a valid verifier key") from exc
    if pin.log_key and b64u_decode(pin.log_key) != key:
        raise LogRefused(
            f"{what} is signed by another key than before: this is not the one this device trusted"
        )
    if pin.origin and pin.origin != origin:
        raise LogRefused(
            f"{what} now calls itself {origin!r}, not {pin.origin!r} as before: this is not "
            "the log this device trusted"
        )
    # One key signs all of a server's logs: the origin tells them apart.
    if not origin.endswith(f"/{log_name}"):
        raise LogRefused(f"{what}'s checkpoints are those of another log ({origin!r})")
    return LogKey(origin, key)


def accept_head(
    body: LogHeadOut, pin: LogPin, log_name: str, what: str
) -> tuple[Checkpoint, LogPin]:
    """Check a served head against the pin; return the checkpoint and the pin to keep.
    ``what`` names the log in messages ("the key directory")."""
    key = log_key(body.log_key, pin, log_name, what)
    head = key.open(body.checkpoint, what)
    if pin.size:
        try:
            merkle.verify_consistency(
                pin.size, head.size, b64u_decode(pin.root), head.root, body.consistency
            )
        except InvalidProof as exc:
            raise LogRefused(
                f"{what} (now {head.size} entries) does not extend the one this device saw "
                f"({pin.size} entries): the server may be showing different logs to "
                "different people"
            ) from exc
    return head, LogPin(b64u_encode(key.key), head.size, b64u_encode(head.root), key.origin)
