"""Signed checkpoints of a Merkle log, in the transparency-log ecosystem's formats.

A log's state is a C2SP ``tlog-checkpoint`` (origin line, size, root) carried in a
C2SP ``signed-note`` and signed by the log's Ed25519 key; a witness countersigns it
with a C2SP ``tlog-cosignature`` (version 1, Ed25519, timestamped). Anyone's verifier
of those formats accepts our checkpoints without our code (docs/PROTOCOL.md, 9.2).

Readers here are strict: one signature per known key, every known signature must
verify, no extension line in a checkpoint, canonical numbers and base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from uhealthsec.crypto.errors import MalformedInput, SignatureVerificationFailed
from uhealthsec.crypto.signing import SIGNATURE_SIZE, public_key

#: Signature type bytes of C2SP signed-note: a log's Ed25519 signature, a witness's
#: timestamped Ed25519 cosignature.
NOTE_ED25519 = 0x01
COSIGNATURE_ED25519 = 0x04

HASH_SIZE = 32
#: A note larger than this, or with more signature lines, is refused unread (the
#: format asks readers to accept at least 16 signatures).
MAX_NOTE_BYTES = 16_384
MAX_SIGNATURES = 64
MAX_NAME_LENGTH = 200
_COSIGNATURE_HEADER = b"cosignature/v1\n"
_MAX_TIMESTAMP = 2**63 - 1
_NAME = re.compile(rf"[!-*,-~]{{1,{MAX_NAME_LENGTH}}}")  # printable ASCII, no space, no "+"
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")
_EM_DASH = "\u2014"
#: The characters a key name MUST NOT hold besides "+": Unicode's White_Space (as Go's
#: unicode.IsSpace, the reference implementation's), the same set in every reader.
NAME_WHITE_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
)


def _check_name(name: str, what: str) -> None:
    if not _NAME.fullmatch(name):
        raise MalformedInput(
            f"a {what} is 1 to {MAX_NAME_LENGTH} printable ASCII characters without spaces or '+'"
        )


def key_id(name: str, signature_type: int, key: bytes) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || type || public key)[:4]."""
    return hashlib.sha256(name.encode("ascii") + b"\n" + bytes([signature_type]) + key).digest()[:4]


def verifier_key(name: str, key: bytes, signature_type: int = NOTE_ED25519) -> str:
    """The vkey string ``<name>+<hex key ID>+<base64(type || key)>`` that names a key."""
    _check_name(name, "key name")
    material = base64.b64encode(bytes([signature_type]) + key).decode("ascii")
    return f"{name}+{key_id(name, signature_type, key).hex()}+{material}"


def parse_verifier_key(vkey: str, signature_type: int = NOTE_ED25519) -> tuple[str, bytes]:
    """The (name, Ed25519 public key) a vkey names; its key ID must be the key's.

    :raises MalformedInput: not a vkey of this type, or a key ID that does not match.
    :raises InvalidPublicKey: a key no honest generation produces (docs/PROTOCOL.md, 4.1).
    """
    if not isinstance(vkey, str):
        raise MalformedInput("a verifier key is text")
    parts = vkey.split("+", 2)  # the base64 key may hold "+"
    if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
        raise MalformedInput("a verifier key is <name>+<8 hex digits>+<base64 key>")
    name, hex_id, material = parts
    _check_name(name, "key name")
    raw = _b64decode(material, "verifier key")
    if len(raw) != 33 or raw[0] != signature_type:
        raise MalformedInput("the verifier key is not an Ed25519 key of the expected type")
    key = raw[1:]
    public_key(key)
    if key_id(name, signature_type, key).hex() != hex_id:
        raise MalformedInput("the verifier key's ID does not match its name and key")
    return name, key


@dataclass(frozen=True)
class Checkpoint:
    """A log's state: its origin (the log's name), its size and its root."""

    origin: str
    size: int
    root: bytes

    def body(self) -> bytes:
        """The note text: three newline-terminated lines, no extension line.

        :raises MalformedInput: the origin, size or root is not one a checkpoint can hold.
        """
        _check_name(self.origin, "log origin")
        if not 0 <= self.size <= _MAX_TIMESTAMP:
            raise MalformedInput("a checkpoint's size is 0 to 2^63 - 1")
        if len(self.root) != HASH_SIZE:
            raise MalformedInput("a checkpoint's root is 32 bytes")
        root = base64.b64encode(self.root).decode("ascii")
        return f"{self.origin}\n{self.size}\n{root}\n".encode("ascii")

    @classmethod
    def parse(cls, body: bytes) -> Checkpoint:
        """A checkpoint from a note's text, refusing anything ``body()`` would not write.

        :raises MalformedInput: ``body`` is not a checkpoint in its canonical form.
        """
        lines = body.split(b"\n")
        if len(lines) != 4 or lines[3] != b"":
            raise MalformedInput(
                "a checkpoint is three lines (origin, size, root hash) with no extension line"
            )
        try:
            origin, size, root = (line.decode("ascii") for line in lines[:3])
        except UnicodeDecodeError as exc:
            raise MalformedInput("a checkpoint is ASCII") from exc
        _check_name(origin, "log origin")
        if not _SIZE.fullmatch(size) or int(size) > _MAX_TIMESTAMP:
            raise MalformedInput("a checkpoint's size is a decimal number without leading zeros")
        hash_bytes = _b64decode(root, "checkpoint root")
        if len(hash_bytes) != HASH_SIZE:
            raise MalformedInput("a checkpoint's root is 32 bytes")
        return cls(origin, int(size), hash_bytes)

    def sign(self, key: ed25519.Ed25519PrivateKey) -> str:
        """The signed note: this checkpoint signed by the log's key, named by its origin.

        :raises MalformedInput: the checkpoint cannot be written (see ``body``).
        """
        return sign_note(self.body(), self.origin, key)

    def cosignature_message(self, timestamp: int) -> bytes:
        """What a witness signs (tlog-cosignature v1): header, time line, note text.

        :raises MalformedInput: ``timestamp`` is out of range, or the checkpoint cannot be
            written.
        """
        if not 0 <= timestamp <= _MAX_TIMESTAMP:
            raise MalformedInput("a cosignature's time is 0 to 2^63 - 1")
        return _COSIGNATURE_HEADER + b"time %d\n" % timestamp + self.body()

    def cosign(self, witness_key: ed25519.Ed25519PrivateKey, timestamp: int) -> bytes:
        """A witness's Ed25519 signature that, at ``timestamp`` (seconds since 1970), this
        is the largest consistent checkpoint it has seen of the log.

        :raises MalformedInput: ``timestamp`` is out of range, or the checkpoint cannot be
            written.
        """
        return witness_key.sign(self.cosignature_message(timestamp))

    def verify_cosignature(self, witness_key: bytes, timestamp: int, signature: bytes) -> None:
        """Check a witness's cosignature of this checkpoint at ``timestamp``.

        :raises SignatureVerificationFailed: the witness did not sign this checkpoint
            at that time.
        :raises InvalidPublicKey: ``witness_key`` is refused (see ``signing.public_key``).
        :raises MalformedInput: ``witness_key`` is not 32 bytes, ``timestamp`` is out of
            range, or the checkpoint cannot be written.
        """
        _verify(witness_key, self.cosignature_message(timestamp), signature, "cosignature")


def cosignature_line(name: str, witness_key: bytes, timestamp: int, signature: bytes) -> str:
    """A witness's signature line, appended to a signed checkpoint's note.

    :raises MalformedInput: the name, time or signature cannot be written in a note.
    """
    _check_name(name, "witness name")
    if len(signature) != SIGNATURE_SIZE or not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise MalformedInput("a cosignature is a time and a 64-byte Ed25519 signature")
    identifier = key_id(name, COSIGNATURE_ED25519, witness_key)
    return _signature_line(name, identifier, struct.pack(">Q", timestamp) + signature)


def with_cosignatures(note: str, lines: list[str]) -> str:
    """A signed note with more signature lines appended."""
    return note + "".join(lines)


def sign_note(text: bytes, name: str, key: ed25519.Ed25519PrivateKey) -> str:
    """``text`` (newline-terminated) as a signed note, signed by ``key`` named ``name``.

    :raises MalformedInput: ``name`` is not a key name, or ``text`` does not end with a
        newline.
    """
    _check_name(name, "key name")
    if not text.endswith(b"\n"):
        raise MalformedInput("a note's text ends with a newline")
    identifier = key_id(name, NOTE_ED25519, key.public_key().public_bytes_raw())
    return text.decode("utf-8") + "\n" + _signature_line(name, identifier, key.sign(text))


def open_note(note: str, name: str, key: bytes) -> bytes:
    """The text of ``note`` once the signature of the key ``(name, key)`` verifies.

    Lines of other keys (a witness's cosignature) are ignored; every line with this
    key's name and key ID MUST verify, and there MUST be one.

    :raises MalformedInput: not a signed note, or ``key`` is not a usable Ed25519 key
        (InvalidPublicKey).
    :raises SignatureVerificationFailed: the key's signature is missing or does not verify.
    """
    text, signatures = split_note(note, {name})
    wanted = key_id(name, NOTE_ED25519, key)
    verified = False
    for line_name, blob in signatures:
        if line_name == name and blob[:4] == wanted:
            _verify(key, text, blob[4:], "note")
            verified = True
    if not verified:
        raise SignatureVerificationFailed(f"the note carries no signature by the key {name}")
    return text


def open_checkpoint(note: str, origin: str, log_key: bytes) -> Checkpoint:
    """The checkpoint in ``note`` once the log's signature (key name: its origin)
    verifies.

    :raises MalformedInput: not a signed note, not a checkpoint of ``origin``, or
        ``log_key`` is not a usable Ed25519 key (InvalidPublicKey).
    :raises SignatureVerificationFailed: the log's signature is missing or does not verify.
    """
    checkpoint = Checkpoint.parse(open_note(note, origin, log_key))
    if checkpoint.origin != origin:
        raise MalformedInput(f"the checkpoint is of log {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


def note_cosignatures(note: str, name: str, witness_key: bytes) -> list[tuple[int, bytes]]:
    """The (timestamp, signature) pairs that the witness ``(name, key)`` appended to a
    note, unverified: check each with ``Checkpoint.verify_cosignature``.

    :raises MalformedInput: not a signed note, or a cosignature line of this witness is
        malformed.
    """
    wanted = key_id(name, COSIGNATURE_ED25519, witness_key)
    found = []
    for line_name, blob in split_note(note, {name})[1]:
        if line_name == name and blob[:4] == wanted:
            if len(blob) != 4 + 8 + SIGNATURE_SIZE:
                raise MalformedInput("a cosignature is a time and a 64-byte Ed25519 signature")
            (timestamp,) = struct.unpack(">Q", blob[4:12])
            if timestamp > _MAX_TIMESTAMP:
                raise MalformedInput("a cosignature's time is 0 to 2^63 - 1")
            found.append((timestamp, blob[12:]))
    return found


def split_note(note: str, names: set[str]) -> tuple[bytes, list[tuple[str, bytes]]]:
    """A signed note's text (with its final newline), unverified, and the signature
    lines of the key names in ``names``, as (key name, decoded signature).

    Lines of other names are checked only for their shape (the format asks readers to
    ignore unknown keys): any name without spaces or "+", any base64.

    :raises MalformedInput: not a signed note, or a signature line is malformed.
    """
    if not isinstance(note, str):
        raise MalformedInput("a signed note is text")
    try:
        data = note.encode("utf-8")
    except UnicodeError as exc:  # a lone surrogate: not UTF-8 text
        raise MalformedInput("a signed note is UTF-8 text") from exc
    if len(data) > MAX_NOTE_BYTES:
        raise MalformedInput(f"a signed note is at most {MAX_NOTE_BYTES} bytes")
    if any(c < 0x20 and c != 0x0A for c in data):
        raise MalformedInput("a signed note holds no control character but newline")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise MalformedInput("a signed note is a text, a blank line and signature lines")
    text, block = note[: cut + 1], note[cut + 2 :]
    lines = block[:-1].split("\n")
    if not 1 <= len(lines) <= MAX_SIGNATURES:
        raise MalformedInput(f"a signed note has 1 to {MAX_SIGNATURES} signature lines")
    signatures = []
    for line in lines:
        parts = line.split(" ")
        if (
            len(parts) != 3
            or parts[0] != _EM_DASH
            or not parts[1]
            or not parts[2]
            or "+" in parts[1]
            or any(c in NAME_WHITE_SPACE for c in parts[1])
        ):
            raise MalformedInput("a signature line is '\u2014 <key name> <base64 signature>'")
        if parts[1] not in names:
            continue
        blob = _b64decode(parts[2], "note signature")
        if len(blob) < 5:
            raise MalformedInput("a note signature is a key ID and a signature")
        signatures.append((parts[1], blob))
    return data[: len(text.encode("utf-8"))], signatures


def _signature_line(name: str, identifier: bytes, signature: bytes) -> str:
    return f"{_EM_DASH} {name} {base64.b64encode(identifier + signature).decode('ascii')}\n"


def _verify(key: bytes, message: bytes, signature: bytes, what: str) -> None:
    verifier = public_key(key)
    if len(signature) != SIGNATURE_SIZE:
        raise SignatureVerificationFailed(f"a {what} signature is 64 bytes")
    try:
        verifier.verify(signature, message)
    except InvalidSignature as exc:
        raise SignatureVerificationFailed(
            f"the {what} signature does not verify for this key"
        ) from exc


def _b64decode(text: str, what: str) -> bytes:
    """Standard base64 (RFC 4648, section 4), padded, and only its canonical form."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput(f"the {what} is not standard base64") from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise MalformedInput(f"the {what} is not canonical base64")
    return data
