"""Does the key directory tell a patient's address by the time of its refusal?

    .venv/bin/python benchmarks/directory_timing.py [--samples 2000]

An outsider (a verified practitioner of no common practice) looks up, in turn, a
patient's address and addresses that have no keys; both are refused with the same
404 (docs/PROTOCOL.md, section 10.1). The refusal must cost the same: the rule runs
the same queries whether or not an entry exists. Samples are interleaved and the
medians compared, in process (``KeyDirectory.lookup`` on SQLite), where nothing but
the rule differs. A statistical timing test in the suite proved unreliable on a
shared machine (the gap it looks for is within its noise), hence a benchmark.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()

    from uhealthsec.crypto.keys import UserKeys
    from uhealthsec.server.accounts.models import (
        Account,
        AccountKind,
        AccountStatus,
        Membership,
        Practice,
        Role,
    )
    from uhealthsec.server.app import build_context
    from uhealthsec.server.errors import NotFound
    from uhealthsec.server.keys.service import KeyDirectory
    from uhealthsec.server.settings import Settings

    ctx = build_context(Settings(data_dir=Path(tempfile.mkdtemp(prefix="uhs-bench-dir-"))))
    now = ctx.now()

    def account(email: str, kind: AccountKind) -> Account:
        public = UserKeys.generate().public()
        return Account(
            email=email,
            display_name=email,
            kind=kind,
            status=AccountStatus.ACTIVE,
            password_hash="-",
            keystore=b"-",
            public_keys=public.encode(),
            key_fingerprint=public.fingerprint(),
            identity_verified_at=now if kind == AccountKind.PRACTITIONER else None,
        )

    with ctx.sessions.begin() as db:
        alice = account("alice@bench.example", AccountKind.PRACTITIONER)
        carol = account("carol@bench.example", AccountKind.PATIENT)
        mallory = account("mallory@bench.example", AccountKind.PRACTITIONER)
        practice = Practice(name="Cabinet")
        db.add_all([alice, carol, mallory, practice])
        db.flush()
        db.add_all(
            [
                Membership(practice_id=practice.id, account_id=alice.id, role=Role.ADMIN),
                Membership(practice_id=practice.id, account_id=carol.id, role=Role.PATIENT),
            ]
        )
        directory = KeyDirectory(db, ctx)
        for each in (alice, carol, mallory):
            directory.publish(each)
        size = directory.log.head_at(3).size
        mallory_id = mallory.id

    def refusal(email: str) -> float:
        with ctx.sessions() as db:
            viewer = db.get(Account, mallory_id)
            assert viewer is not None
            began = time.perf_counter()
            try:
                KeyDirectory(db, ctx).lookup(viewer, email, size)
            except NotFound:
                return time.perf_counter() - began
        raise AssertionError(f"{email} was shown to an outsider")

    patient, unknown = [], []
    for i in range(args.samples):
        patient.append(refusal("carol@bench.example"))
        unknown.append(refusal(f"nobody{i}@bench.example"))
    known_ms, unknown_ms = statistics.median(patient) * 1e3, statistics.median(unknown) * 1e3
    print(f"refusal of a patient's address:   {known_ms:.3f} ms (median of {args.samples})")
    print(f"refusal of an address without keys: {unknown_ms:.3f} ms")
    print(f"gap: {(known_ms - unknown_ms) / unknown_ms:+.1%}")
    ctx.close()


if __name__ == "__main__":
    main()
