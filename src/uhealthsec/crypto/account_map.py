"""The key directory's map: for each account, its one entry in the log.

An inclusion proof shows that an entry is *in* the key directory, not that it is its
account's only one: alone, it lets a server append keys of its own under an account's
id and have a reader accept, by index, a document or a message "signed by" that
account. The map closes that gap. It is a sparse Merkle tree (Laurie and Kasper,
"Revocation Transparency", 2012) over 256-bit keys ``SHA256(label || account id)``; a
key's value names the account's newest entry and how many entries it has had. The
server appends the map's root to the log after every entry (a *commitment*, a leaf of
the log itself), so every reader of a head sees the same map, and a monitor that
replays the log recomputes every root.

The map is keyed by account, not by address: a position computed from an address
anyone can write would let anyone test, from the shape of their own proofs, whether
an address is registered (docs/PROTOCOL.md 10.4).

Hashing, with ``EMPTY`` = 32 zero bytes for a subtree without keys:

- a subtree holding exactly one key ``k`` with value ``v``:
  ``SHA256(0x00 || k || v)``, at whatever depth it is (the shortcut of Dahlberg,
  Pulls and Peeters, "Efficient Sparse Merkle Trees", 2016, keeps proofs short);
- a subtree holding two keys or more: ``SHA256(0x01 || left || right)``.

A proof for ``k`` gives the depth ``D`` at which ``k``'s subtree holds ``k`` alone, and
the ``D`` sibling hashes from that depth up to the root (empty ones only as a bit).
"""

from __future__ import annotations

import bisect
import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes

from uhealthsec.crypto.errors import InvalidProof, MalformedInput, UnsupportedVersion
from uhealthsec.crypto.merkle import HASH_SIZE

KEY_BITS = 256
EMPTY = bytes(HASH_SIZE)
_KEY_LABEL = b"uhealthsec/v1/directory-map\x00"
_LEAF, _NODE = b"\x00", b"\x01"

VALUE_SIZE = 8 + HASH_SIZE + 4
COMMITMENT_MAGIC = b"UHSM"
COMMITMENT_VERSION = 0x01
COMMITMENT_SIZE = 5 + 8 + HASH_SIZE


def _sha256(*parts: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    for part in parts:
        digest.update(part)
    return digest.finalize()


def map_key(account_id: uuid.UUID) -> bytes:
    """The map key of an account."""
    return _sha256(_KEY_LABEL, account_id.bytes)


@dataclass(frozen=True)
class MapValue:
    """What the map holds for an account: its newest entry and its number of entries."""

    index: int
    leaf_hash: bytes
    count: int

    def encode(self) -> bytes:
        """The 44 bytes the map holds for this value.

        :raises MalformedInput: a field is out of range, or the leaf hash is not 32 bytes.
        """
        if len(self.leaf_hash) != HASH_SIZE or not 0 <= self.index < 1 << 64:
            raise MalformedInput("a map value names one log leaf")
        if not 1 <= self.count < 1 << 32:
            raise MalformedInput("an account in the map has 1 entry or more")
        return struct.pack(">Q", self.index) + self.leaf_hash + struct.pack(">I", self.count)

    @classmethod
    def decode(cls, data: bytes) -> MapValue:
        """The value encoded in ``data``.

        :raises MalformedInput: not 44 bytes, or a count of 0.
        """
        if len(data) != VALUE_SIZE:
            raise MalformedInput("a map value is 44 bytes")
        (index,) = struct.unpack(">Q", data[:8])
        (count,) = struct.unpack(">I", data[8 + HASH_SIZE :])
        if count == 0:
            raise MalformedInput("an account in the map has 1 entry or more")
        return cls(index, bytes(data[8 : 8 + HASH_SIZE]), count)


@dataclass(frozen=True)
class MapCommitment:
    """The log leaf that commits to the map of the ``entries`` leaves before it."""

    entries: int
    root: bytes

    def encode(self) -> bytes:
        """The log leaf of this commitment.

        :raises MalformedInput: the size is out of range or the root is not 32 bytes.
        """
        if len(self.root) != HASH_SIZE or not 0 <= self.entries < 1 << 64:
            raise MalformedInput("a map commitment holds a size and a 32-byte root")
        return (
            COMMITMENT_MAGIC
            + bytes([COMMITMENT_VERSION])
            + struct.pack(">Q", self.entries)
            + self.root
        )

    @classmethod
    def decode(cls, data: bytes) -> MapCommitment:
        """The commitment encoded in a log leaf.

        :raises MalformedInput: not a map commitment, or of a version this code does not
            know.
        """
        if len(data) != COMMITMENT_SIZE or data[:4] != COMMITMENT_MAGIC:
            raise MalformedInput("not a key directory map commitment")
        if data[4] != COMMITMENT_VERSION:
            raise UnsupportedVersion(f"unsupported map commitment version {data[4]}")
        (entries,) = struct.unpack(">Q", data[5:13])
        return cls(entries, bytes(data[13:]))

    @staticmethod
    def is_one(data: bytes) -> bool:
        return data[:4] == COMMITMENT_MAGIC


@dataclass(frozen=True)
class MapProof:
    """``depth`` and the non-empty siblings from that depth up; ``present`` has one bit
    per depth (the deepest first, most significant bit first), set for a non-empty
    sibling."""

    depth: int
    present: bytes
    siblings: tuple[bytes, ...]


def _interior(left: bytes, right: bytes) -> bytes:
    return _sha256(_NODE, left, right)


def _leaf(key: bytes, value: bytes) -> bytes:
    return _sha256(_LEAF, key, value)


def _bit(key: int, depth: int) -> int:
    """The branch (0 left, 1 right) taken from depth ``depth - 1`` to ``depth``."""
    return (key >> (KEY_BITS - depth)) & 1


def verify(root: bytes, key: bytes, value: bytes, proof: MapProof) -> None:
    """Check that the map of ``root`` gives ``key`` the value ``value``.

    :raises InvalidProof: the proof is malformed or does not lead to ``root``.
    """
    depth = proof.depth
    if len(key) != HASH_SIZE or not 0 <= depth <= KEY_BITS:
        raise InvalidProof("a map proof has a depth of 0 to 256")
    if len(proof.present) != (depth + 7) // 8:
        raise InvalidProof("a map proof has one bit per depth")
    flags = [(proof.present[i // 8] >> (7 - i % 8)) & 1 for i in range(len(proof.present) * 8)]
    if any(flags[depth:]) or sum(flags) != len(proof.siblings):
        raise InvalidProof("a map proof's bits do not match its siblings")
    if depth and not flags[0]:
        # The key would be alone one level up: a canonical proof starts there.
        raise InvalidProof("a map proof must start where the key is alone")
    if any(len(s) != HASH_SIZE or s == EMPTY for s in proof.siblings):
        raise InvalidProof("a map proof's siblings are 32-byte, non-empty hashes")
    k = int.from_bytes(key, "big")
    node, siblings = _leaf(key, value), iter(proof.siblings)
    for i in range(depth):
        sibling = next(siblings) if flags[i] else EMPTY
        node = _interior(sibling, node) if _bit(k, depth - i) else _interior(node, sibling)
    if node != root:
        raise InvalidProof("the map proof does not lead to the committed root")


class AccountMap:
    """A map that can be changed, with its root and proofs (server, monitors, tests).

    Subtree hashes are kept once computed; a change forgets only those on its key's
    path, so a monitor replaying a log recomputes about 256 hashes per entry.
    """

    def __init__(self, items: Iterable[tuple[bytes, bytes]] = ()) -> None:
        """A map holding ``items``, (key, value) pairs.

        :raises MalformedInput: a key is not 32 bytes.
        """
        self._values: dict[int, bytes] = {}
        for key, value in items:
            self._values[self._key(key)] = value
        self._keys = sorted(self._values)
        self._hashes: dict[tuple[int, int], bytes] = {}

    @staticmethod
    def _key(key: bytes) -> int:
        if len(key) != HASH_SIZE:
            raise MalformedInput("a map key is 32 bytes")
        return int.from_bytes(key, "big")

    def __len__(self) -> int:
        return len(self._keys)

    def copy(self) -> AccountMap:
        """An independent copy that keeps the hashes already computed."""
        other = AccountMap()
        other._values = dict(self._values)
        other._keys = list(self._keys)
        other._hashes = dict(self._hashes)
        return other

    def get(self, key: bytes) -> bytes | None:
        """The value of ``key``, or None.

        :raises MalformedInput: ``key`` is not 32 bytes.
        """
        return self._values.get(self._key(key))

    def set(self, key: bytes, value: bytes) -> None:
        """Give ``key`` the value ``value``.

        :raises MalformedInput: ``key`` is not 32 bytes.
        """
        k = self._key(key)
        if k not in self._values:
            bisect.insort(self._keys, k)
        self._values[k] = value
        for depth in range(KEY_BITS + 1):
            self._hashes.pop((depth, k >> (KEY_BITS - depth)), None)

    def root(self) -> bytes:
        return self._subtree(0, 0)

    def prove(self, key: bytes) -> MapProof:
        """The proof of ``key``'s value (the key must be in the map).

        :raises MalformedInput: ``key`` is not 32 bytes.
        :raises KeyError: ``key`` is not in the map.
        """
        k = self._key(key)
        if k not in self._values:
            raise KeyError("no such key in the map")
        depth = 0
        while self._count(depth, k >> (KEY_BITS - depth)) > 1:
            depth += 1
        siblings, present = [], bytearray((depth + 7) // 8)
        for i in range(depth):
            level = depth - i
            sibling = self._subtree(level, (k >> (KEY_BITS - level)) ^ 1)
            if sibling != EMPTY:
                siblings.append(sibling)
                present[i // 8] |= 0x80 >> (i % 8)
        return MapProof(depth, bytes(present), tuple(siblings))

    def _range(self, depth: int, prefix: int) -> tuple[int, int]:
        shift = KEY_BITS - depth
        return (
            bisect.bisect_left(self._keys, prefix << shift),
            bisect.bisect_left(self._keys, (prefix + 1) << shift),
        )

    def _count(self, depth: int, prefix: int) -> int:
        lo, hi = self._range(depth, prefix)
        return hi - lo

    def _subtree(self, depth: int, prefix: int) -> bytes:
        cached = self._hashes.get((depth, prefix))
        if cached is not None:
            return cached
        lo, hi = self._range(depth, prefix)
        if lo == hi:
            value = EMPTY
        elif hi - lo == 1:
            k = self._keys[lo]
            value = _leaf(k.to_bytes(HASH_SIZE, "big"), self._values[k])
        else:
            value = _interior(
                self._subtree(depth + 1, prefix << 1), self._subtree(depth + 1, prefix << 1 | 1)
            )
        self._hashes[(depth, prefix)] = value
        return value
