"""Append-only Merkle trees as specified by RFC 9162 (Certificate Transparency 2.0), §2.1.

Hashes are SHA-256 with the RFC's domain separation: ``leaf = H(0x00 || data)``,
``node = H(0x01 || left || right)``, and the empty tree's root is ``H("")``.

A log holds, for every *perfect subtree* it has completed, the hash of that subtree,
addressed by ``(level, index)``: the subtree of ``2**level`` leaves that starts at leaf
``index * 2**level``. Every range the RFC's recursive definitions split a tree into
is a concatenation of such subtrees, so a proof for a tree of ``n`` leaves needs
O(log n) stored hashes, and appending a leaf stores one hash per completed level
(two on average). This module computes which hashes are needed and folds them; the
caller stores and fetches them. Verification follows the RFC's algorithms
(§2.1.3.2, §2.1.4.2) step by step and is checked against the reference vectors in
``tests/vectors/rfc9162.json``.

A log signs its state as a checkpoint (crypto/checkpoint.py, docs/PROTOCOL.md 9.2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from cryptography.hazmat.primitives import constant_time, hashes

from uhealthsec.crypto.errors import InvalidProof

HASH_SIZE = 32

#: Position of a perfect subtree: (level, index), covering leaves
#: [index << level, (index + 1) << level).
Node = tuple[int, int]
#: A half-open range of leaves [start, end).
LeafRange = tuple[int, int]


def _sha256(*parts: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    for part in parts:
        digest.update(part)
    return digest.finalize()


EMPTY_ROOT = _sha256(b"")


def _prefixed(prefix: bytes) -> hashes.Hash:
    state = hashes.Hash(hashes.SHA256())
    state.update(prefix)
    return state


# Verifying a log hashes every entry and every node once: starting each hash from a
# copy of a state that already holds its one-byte prefix halves the per-call cost.
_LEAF_STATE = _prefixed(b"\x00")
_NODE_STATE = _prefixed(b"\x01")


def leaf_hash(data: bytes) -> bytes:
    state = _LEAF_STATE.copy()
    state.update(data)
    return state.finalize()


def node_hash(left: bytes, right: bytes) -> bytes:
    state = _NODE_STATE.copy()
    state.update(left + right)
    return state.finalize()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2): where the RFC splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


# -- which subtrees make a range --------------------------------------------------------


def subtrees(start: int, end: int) -> list[Node]:
    """The perfect subtrees whose hashes fold into MTH(D[start:end]), left to right.

    Valid for every range that the RFC's recursion produces (``start`` is a multiple
    of a power of two at least ``end - start``, or the range is a right-hand part of
    such a split): their perfect pieces are aligned.
    """
    nodes: list[Node] = []
    while start < end:
        size = end - start
        level = size.bit_length() - 1
        if size == 1 << level and start % size == 0:
            nodes.append((level, start >> level))
            break
        k = _split(size)
        level = k.bit_length() - 1
        nodes.append((level, start >> level))
        start += k
    return nodes


def range_hash(start: int, end: int, node: Callable[[Node], bytes]) -> bytes:
    """MTH(D[start:end]) from the stored hashes of its perfect subtrees."""
    if start == end:
        return EMPTY_ROOT
    parts = [node(position) for position in subtrees(start, end)]
    result = parts[-1]
    for part in reversed(parts[:-1]):
        result = node_hash(part, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[LeafRange]:
    """The ranges whose MTHs make PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), in order.

    :raises ValueError: ``index`` is outside the tree (a caller's mistake, not a refusal).
    """
    if not 0 <= index < size:
        raise ValueError("the leaf index must be inside the tree")
    ranges: list[LeafRange] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[LeafRange]:
    """The ranges whose MTHs make PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1).

    :raises ValueError: the sizes do not satisfy 0 < old size <= new size (a caller's
        mistake).
    """
    if not 0 < old_size <= new_size:
        raise ValueError("a consistency proof needs 0 < old size <= new size")
    ranges: list[LeafRange] = []
    start, end, m, whole = 0, new_size, old_size, True
    while True:
        n = end - start
        if m == n:
            if not whole:
                ranges.append((start, end))
            break
        k = _split(n)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, whole = start + k, m - k, False
    ranges.reverse()
    return ranges


def nodes_for(ranges: Iterable[LeafRange]) -> set[Node]:
    """Every stored hash needed to compute the given ranges."""
    return {position for start, end in ranges for position in subtrees(start, end)}


def proof_from(ranges: Sequence[LeafRange], nodes: Mapping[Node, bytes]) -> list[bytes]:
    """The proof of ``ranges``, from the stored hashes ``nodes``.

    :raises KeyError: ``nodes`` lacks a hash the ranges need.
    """
    return [range_hash(start, end, nodes.__getitem__) for start, end in ranges]


def proofs_from(
    plans: Mapping[int, Sequence[LeafRange]], nodes: Mapping[Node, bytes]
) -> dict[int, list[bytes]]:
    """Several proofs at once; neighbouring leaves share most ranges, each computed once.

    :raises KeyError: ``nodes`` lacks a hash a plan needs.
    """
    computed: dict[LeafRange, bytes] = {}
    proofs: dict[int, list[bytes]] = {}
    for key, ranges in plans.items():
        proof = []
        for start, end in ranges:
            value = computed.get((start, end))
            if value is None:
                value = computed[start, end] = range_hash(start, end, nodes.__getitem__)
            proof.append(value)
        proofs[key] = proof
    return proofs


# -- appending --------------------------------------------------------------------------


def append(
    size: int, frontier: Sequence[bytes], leaf_hashes: Iterable[bytes]
) -> tuple[list[tuple[int, int, bytes]], list[bytes]]:
    """Append leaves to a tree of ``size`` leaves.

    ``frontier`` holds the hashes of ``subtrees(0, size)`` (one per set bit of ``size``,
    largest first). Returns the new perfect-subtree hashes to store, as
    ``(level, index, hash)``, and the new frontier.

    :raises ValueError: ``frontier`` does not match ``size`` (a caller's mistake).
    """
    if len(frontier) != size.bit_count():
        raise ValueError("the frontier does not match the tree size")
    border = list(frontier)
    created: list[tuple[int, int, bytes]] = []
    for leaf in leaf_hashes:
        current, level, index = leaf, 0, size
        created.append((0, index, current))
        while index & 1:
            current = node_hash(border.pop(), current)
            level, index = level + 1, index >> 1
            created.append((level, index, current))
        border.append(current)
        size += 1
    return created, border


class RootBuilder:
    """Roots of every prefix of a log, leaf by leaf, in O(log n) memory (verifiers)."""

    __slots__ = ("frontier", "size")

    def __init__(self) -> None:
        self.frontier: list[bytes] = []
        self.size = 0

    def add(self, leaf: bytes) -> None:
        current, index, frontier = leaf, self.size, self.frontier
        while index & 1:
            current = node_hash(frontier.pop(), current)
            index >>= 1
        frontier.append(current)
        self.size += 1

    def root(self) -> bytes:
        return root_from_frontier(self.frontier)


def root_from_frontier(frontier: Sequence[bytes]) -> bytes:
    if not frontier:
        return EMPTY_ROOT
    result = frontier[-1]
    for part in reversed(frontier[:-1]):
        result = node_hash(part, result)
    return result


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes held in memory (clients, tests)."""
    _, frontier = append(0, [], leaf_hashes)
    return root_from_frontier(frontier)


# -- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) --------------------------------------


def _check_hashes(*values: bytes) -> None:
    for value in values:
        if len(value) != HASH_SIZE:
            raise InvalidProof("a Merkle tree hash is 32 bytes")


def _equal(a: bytes, b: bytes) -> bool:
    return constant_time.bytes_eq(a, b)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise InvalidProof unless ``proof`` shows leaf hash ``leaf`` at ``index`` under ``root``.

    :raises InvalidProof: a hash is not 32 bytes, the index is outside the tree, or the
        proof does not lead to ``root``.
    """
    _check_hashes(leaf, *proof)
    if not 0 <= index < size:
        raise InvalidProof(f"leaf {index} is outside a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise InvalidProof("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or not _equal(r, root):
        raise InvalidProof(f"leaf {index} is not in the tree of {size} leaves with this root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise InvalidProof unless the tree with ``new_root`` extends the one with ``old_root``.

    :raises InvalidProof: a hash is not 32 bytes, the sizes cannot be consistent, or the
        proof does not lead from ``old_root`` to ``new_root``.
    """
    # Roots are only compared: a root of another length never matches a computed one.
    _check_hashes(*proof)
    if old_size <= 0 or new_size < old_size:
        raise InvalidProof(f"no consistency proof goes from {old_size} to {new_size} leaves")
    if old_size == new_size:
        if proof or not _equal(old_root, new_root):
            raise InvalidProof(f"two different trees claim the same size {old_size}")
        return
    path = list(proof)
    if not path:
        raise InvalidProof("the consistency proof is empty")
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise InvalidProof("the consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or not _equal(fr, old_root) or not _equal(sr, new_root):
        raise InvalidProof(
            f"the tree of {new_size} leaves does not extend the tree of {old_size} leaves"
        )


# -- checkpoints (signed in crypto/checkpoint.py) ---------------------------------------

#: Every log signs a head at each multiple of this many entries, besides one per batch
#: of appends: a verifier of a long log checks these instead of every batch's head.
CHECKPOINT_INTERVAL = 1024
