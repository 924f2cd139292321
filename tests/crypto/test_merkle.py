"""RFC 9162 Merkle trees against the reference vectors, and proofs for many tree sizes."""

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from uhealthsec.crypto import merkle
from uhealthsec.crypto.errors import InvalidProof

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "rfc9162.json").read_text())
LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(x) for x in VECTORS["roots"]]


class MemoryLog:
    """A log in memory: the stored perfect-subtree hashes, as a server keeps them."""

    def __init__(self) -> None:
        self.nodes: dict[merkle.Node, bytes] = {}
        self.frontier: list[bytes] = []
        self.size = 0

    def append(self, data: list[bytes]) -> None:
        created, self.frontier = merkle.append(
            self.size, self.frontier, [merkle.leaf_hash(d) for d in data]
        )
        self.nodes.update({(level, index): h for level, index, h in created})
        self.size += len(data)

    def root(self, size: int) -> bytes:
        return merkle.range_hash(0, size, self.nodes.__getitem__)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        ranges = merkle.inclusion_ranges(index, size)
        assert merkle.nodes_for(ranges) <= self.nodes.keys()
        return merkle.proof_from(ranges, self.nodes)

    def consistency(self, old: int, new: int) -> list[bytes]:
        return merkle.proof_from(merkle.consistency_ranges(old, new), self.nodes)


def reference_log() -> MemoryLog:
    log = MemoryLog()
    log.append(LEAVES)
    return log


def test_roots_of_every_prefix_match_the_reference():
    for size, root in enumerate(ROOTS):
        assert merkle.root_of([merkle.leaf_hash(x) for x in LEAVES[:size]]) == root
        assert reference_log().root(size) == root
    assert ROOTS[0] == merkle.EMPTY_ROOT


def _mth(leaf_hashes: list[bytes]) -> bytes:
    """RFC 6962 2.1 as written: split at the largest power of two below n."""
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    k = 1 << ((len(leaf_hashes) - 1).bit_length() - 1)
    return merkle.node_hash(_mth(leaf_hashes[:k]), _mth(leaf_hashes[k:]))


def test_the_folded_stack_of_subtree_roots_is_the_tree_hash_for_1_to_70_leaves():
    """The envelope digest folds leaves into at most log2(n) subtree roots, then folds
    those right to left: for every n that is the recursive MTH over the list."""
    builder = merkle.RootBuilder()
    leaves = [merkle.leaf_hash(bytes([n]) * n) for n in range(1, 71)]
    for n, leaf in enumerate(leaves, start=1):
        builder.add(leaf)
        assert len(builder.frontier) == n.bit_count() <= n.bit_length()
        assert builder.root() == _mth(leaves[:n]) == merkle.root_of(leaves[:n]), n


def test_appending_one_by_one_or_in_a_batch_gives_the_same_tree():
    one_by_one = MemoryLog()
    for leaf in LEAVES:
        one_by_one.append([leaf])
        assert merkle.root_from_frontier(one_by_one.frontier) == ROOTS[one_by_one.size]
    assert one_by_one.nodes == reference_log().nodes


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: c["case"])
def test_inclusion_vectors(case):
    args = (
        bytes.fromhex(case["leaf_hash"]),
        case["leaf_index"],
        case["tree_size"],
        [bytes.fromhex(p) for p in case["proof"]],
        bytes.fromhex(case["root"]),
    )
    if case["valid"]:
        merkle.verify_inclusion(*args)
    else:
        with pytest.raises(InvalidProof):
            merkle.verify_inclusion(*args)


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: c["case"])
def test_consistency_vectors(case):
    args = (
        case["size1"],
        case["size2"],
        bytes.fromhex(case["root1"]),
        bytes.fromhex(case["root2"]),
        [bytes.fromhex(p) for p in case["proof"]],
    )
    if case["valid"]:
        merkle.verify_consistency(*args)
    else:
        with pytest.raises(InvalidProof):
            merkle.verify_consistency(*args)


def test_generated_proofs_are_the_reference_proofs():
    log = reference_log()
    for case in VECTORS["inclusion"]:
        if case["valid"] and case["tree_size"] <= len(LEAVES):
            proof = log.inclusion(case["leaf_index"], case["tree_size"])
            assert [p.hex() for p in proof] == case["proof"]
    for case in VECTORS["consistency"]:
        if case["valid"] and 0 < case["size1"] <= case["size2"] <= len(LEAVES):
            proof = log.consistency(case["size1"], case["size2"])
            assert [p.hex() for p in proof] == case["proof"]


@given(st.integers(min_value=1, max_value=300), st.data())
def test_every_generated_proof_verifies_and_a_flipped_bit_does_not(size, data):
    log = MemoryLog()
    log.append([i.to_bytes(4, "big") for i in range(size)])
    root = log.root(size)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    leaf = merkle.leaf_hash(index.to_bytes(4, "big"))
    proof = log.inclusion(index, size)
    merkle.verify_inclusion(leaf, index, size, proof, root)
    if proof:
        at = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bad = [*proof]
        bad[at] = bytes([bad[at][0] ^ 1]) + bad[at][1:]
        with pytest.raises(InvalidProof):
            merkle.verify_inclusion(leaf, index, size, bad, root)
    with pytest.raises(InvalidProof):
        merkle.verify_inclusion(merkle.leaf_hash(b"other"), index, size, proof, root)

    old = data.draw(st.integers(min_value=1, max_value=size))
    consistency = log.consistency(old, size)
    merkle.verify_consistency(old, size, log.root(old), root, consistency)
    if old < size:
        forked = MemoryLog()
        forked.append([i.to_bytes(4, "big") for i in range(old - 1)] + [b"fork"])
        forked.append([i.to_bytes(4, "big") for i in range(old, size)])
        with pytest.raises(InvalidProof):
            merkle.verify_consistency(
                old, size, forked.root(old), root, forked.consistency(old, size)
            )
        with pytest.raises(InvalidProof):
            merkle.verify_consistency(
                old, size, log.root(old), forked.root(size), forked.consistency(old, size)
            )


def test_proofs_for_many_leaves_at_once_are_the_reference_proofs():
    log = reference_log()
    for size in range(1, len(LEAVES) + 1):
        plans = {i: merkle.inclusion_ranges(i, size) for i in range(size)}
        together = merkle.proofs_from(plans, log.nodes)
        assert together == {i: log.inclusion(i, size) for i in range(size)}


def test_proofs_need_only_logarithmically_many_stored_hashes():
    size = 1_000_003
    for index in (0, 1, size // 2, size - 1):
        assert len(merkle.nodes_for(merkle.inclusion_ranges(index, size))) <= 2 * 21
    assert len(merkle.nodes_for(merkle.consistency_ranges(999_999, size))) <= 2 * 21
