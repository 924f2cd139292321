"""What the key directory's map costs (docs/PROTOCOL.md, section 10.4).

    .venv/bin/python benchmarks/directory_map.py [--sizes 1000 10000 100000] [--runs 5]

For maps of each size: building the map and its root from the entry of every
account (what a server process does once per new directory size, and what a monitor
spreads over the whole log), a lookup's proof from a built map, and a reader's
verification of it, beside the RFC 9162 inclusion proof every lookup already had.
In process, no I/O: the server's database read of the entries comes on top.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uhealthsec.crypto import account_map, merkle
from uhealthsec.crypto.account_map import AccountMap, MapValue


def _median(action, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(size: int, runs: int) -> tuple[float, float, float, float, float]:
    """Seconds: build and root; copy and one more entry (a publication, from the map
    kept); one proof; one map proof verified; one inclusion proof verified (in a log of
    entries and commitments)."""
    items = [
        (account_map.map_key(uuid.uuid4()), MapValue(2 * i, os.urandom(32), 1).encode())
        for i in range(size)
    ]
    build = _median(lambda: AccountMap(items).root(), runs)
    tree = AccountMap(items)
    root = tree.root()
    newcomer = (account_map.map_key(uuid.uuid4()), MapValue(0, bytes(32), 1).encode())

    def publish() -> None:
        grown = tree.copy()
        grown.set(*newcomer)
        grown.root()

    update = _median(publish, runs)
    keys = [items[i][0] for i in range(0, size, max(1, size // 200))]
    proofs = [(k, tree.get(k) or b"", tree.prove(k)) for k in keys]
    prove = _median(lambda: [tree.prove(k) for k in keys], runs) / len(keys)

    def verify_all() -> None:
        for key, value, proof in proofs:
            account_map.verify(root, key, value, proof)

    verify = _median(verify_all, runs) / len(keys)
    leaves = [merkle.leaf_hash(v) for _, v in items] * 2
    index = len(leaves) // 3
    ranges = merkle.inclusion_ranges(index, len(leaves))
    nodes = {
        (level, i): merkle.root_of(leaves[i << level : (i + 1) << level])
        for level, i in merkle.nodes_for(ranges)
    }
    path, log_root = merkle.proof_from(ranges, nodes), merkle.root_of(leaves)

    def verify_inclusion() -> None:
        for _ in range(200):
            merkle.verify_inclusion(leaves[index], index, len(leaves), path, log_root)

    return build, update, prove, verify, _median(verify_inclusion, runs) / 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("| accounts | build + root | one more entry | proof | verify map proof | inclusion |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        build, update, prove, verify, inclusion = measure(size, args.runs)
        print(
            f"| {size:,} | {build * 1000:.0f} ms | {update * 1000:.1f} ms | "
            f"{prove * 1e6:.0f} µs | "
            f"{verify * 1e6:.0f} µs | {inclusion * 1e6:.0f} µs |"
        )


if __name__ == "__main__":
    main()
