"""What a key rotation costs a reader (docs/PROTOCOL.md, 10.6 and 7.5).

    .venv/bin/python benchmarks/key_rotation.py [--lengths 1 2 5 10] [--runs 7]

For an account with ``n`` entries: verifying its chain of rotations (every entry
decoded, two Ed25519 signatures per rotation), beside the baseline of an account that
never rotated (its one entry decoded, as every lookup already does); and opening the
former key sets of a version 2 keystore holding ``n - 1`` of them (one AES-GCM and
the keys parsed). In process, no I/O: the inclusion proofs of the chain's entries come
on top (about 10 µs each, benchmarks/directory_map.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uhealthsec.crypto import key_rotation, keystore
from uhealthsec.crypto.directory import AccountKindCode, DirectoryEntry
from uhealthsec.crypto.keys import UserKeys


def _median(action, runs: int, repeat: int = 50) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(repeat):
            action()
        times.append((time.perf_counter() - start) / repeat)
    return statistics.median(times)


def measure(length: int, runs: int) -> tuple[float, float, float]:
    """Seconds: one entry decoded (baseline), the chain verified, the former keys opened."""
    account = uuid.uuid4()
    keys = [UserKeys.generate() for _ in range(length)]
    entries = [
        DirectoryEntry(
            account, v + 1, AccountKindCode.PATIENT, "a@example.org", k.public().encode()
        )
        for v, k in enumerate(keys)
    ]
    leaves = [e.encode() for e in entries]
    statements: list[bytes | None] = [None] + [
        key_rotation.sign_rotation(
            entries[v - 1], entries[v], b"keystore", keys[v - 1].signing, keys[v].signing
        ).encode()
        for v in range(1, length)
    ]
    baseline = _median(lambda: DirectoryEntry.decode(leaves[-1]), runs)
    chain = _median(lambda: key_rotation.verify_chain(leaves, statements), runs)
    former = [keystore.FormerKeys(v + 1, k) for v, k in enumerate(keys[:-1])]
    params = keystore.Argon2Params(keystore.Argon2Params.MIN_MEMORY_KIB, 2, 1, bytes(16))
    made = keystore.create_keystore(
        "benchmark", keys=keys[-1], params=params, key_version=length, former=former
    )
    opened = _median(lambda: keystore.open_former_keys(made.keystore, keys[-1]), runs)
    return baseline, chain, opened


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1, 2, 5, 10])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print("| entries | one entry (baseline) | chain verified | x baseline | former keys opened |")
    print("|---|---|---|---|---|")
    for length in args.lengths:
        baseline, chain, opened = measure(length, args.runs)
        print(
            f"| {length} | {baseline * 1e3:.2f} ms | {chain * 1e3:.2f} ms | "
            f"{chain / baseline:.1f} | {opened * 1e3:.3f} ms |"
        )


if __name__ == "__main__":
    main()
