"""What the shield costs the server.

    .venv/bin/python benchmarks/shield.py [--requests 1000]

- Verifying a proof of work (ALTCHA v2: the payload parsed, two HMACs, constant-time
  compares, no key derivation): ``ChallengeBook.check`` on a solved challenge.
- Issuing one (the server's one Argon2id of 8 MiB per challenge): ``ChallengeBook.issue``.
- The shield's own CPU per rejected attempt: ``Shield.admit`` for an address backing
  off, which reads its state and answers with a fresh challenge (SQLite file).
- A whole rejected sign-in over HTTP: server process CPU (user + system, from
  /proc) per ``POST /auth/login`` answered 429, against one answered after the
  server's Argon2id check of the password, which is what the rejection saves.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchange import Accounts, start

from uhealthsec.client.proof_of_work import solve
from uhealthsec.crypto.keystore import derive_password_secrets
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode


def per_call(fn, calls: int, clock=time.perf_counter) -> float:  # type: ignore[no-untyped-def]
    """Median over 5 runs of the time per call, in seconds."""
    samples = []
    for _ in range(5):
        began = clock()
        for _ in range(calls):
            fn()
        samples.append((clock() - began) / calls)
    return statistics.median(samples)


def in_process(calls: int) -> tuple[float, float, float]:
    from uhealthsec.server.app import build_context
    from uhealthsec.server.settings import Settings
    from uhealthsec.server.shield.service import (
        BACKOFF_AFTER,
        COSTS,
        Attempt,
        ChallengeRequired,
        Shield,
    )

    ctx = build_context(Settings(data_dir=Path(tempfile.mkdtemp(prefix="uhs-bench-shield-"))))
    now = ctx.now()
    with ctx.sessions() as db:
        book = Shield(db, ctx).challenges
    subject = "5" * 32
    proof = solve(book.issue("login", subject, COSTS[2], now))
    verify = per_call(lambda: book.check(proof, "login", subject, now), calls)
    issue = per_call(lambda: book.issue("login", subject, COSTS[2], now), max(1, calls // 10))

    address = "backing-off@bench.example"
    with ctx.sessions.begin() as db:
        for _ in range(BACKOFF_AFTER):
            Shield(db, ctx).fail(address)
    attempt = Attempt("login", address, "192.0.2.1")

    def rejected() -> None:
        with ctx.sessions.begin() as db:
            try:
                Shield(db, ctx).admit(attempt)
            except ChallengeRequired:
                return
        raise AssertionError("the attempt was not rejected")

    admit = per_call(rejected, calls, clock=time.process_time)
    ctx.close()
    return verify, issue, admit


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def over_http(requests: int) -> tuple[float, float]:
    data_dir = Path(tempfile.mkdtemp(prefix="uhs-bench-shield-http-"))
    server, url = start("api", data_dir)
    try:
        http = httpx2.Client(base_url=url, timeout=60)
        accounts = Accounts(http, data_dir)
        accounts.register("owner@bench.example")
        params = http.post("/auth/prelogin", json={"email": "owner@bench.example"}).json()
        from uhealthsec.crypto.keystore import Argon2Params

        secret = derive_password_secrets(
            "wrong password for the bench",
            Argon2Params.decode(b64u_decode(params["argon2_params"])),
        ).auth_secret
        body = {"email": "owner@bench.example", "auth_secret": b64u_encode(secret)}

        def cpu_per_request(expected: int, count: int) -> float:
            began = server_cpu(server.pid)
            for _ in range(count):
                assert http.post("/auth/login", json=body).status_code == expected
            return (server_cpu(server.pid) - began) / count

        hashed = cpu_per_request(401, 5)  # the five failures before the backoff
        rejected = cpu_per_request(429, requests)
    finally:
        server.terminate()
    return rejected, hashed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )
    verify, issue, admit = in_process(args.requests)
    print(f"proof-of-work verification: {verify * 1e6:.0f} µs (median of 5 x {args.requests})")
    print(f"proof-of-work challenge issued (one Argon2id): {issue * 1e3:.2f} ms")
    print(f"shield CPU per rejected attempt (admit, SQLite): {admit * 1e3:.2f} ms")
    rejected, hashed = over_http(args.requests)
    print(
        f"server CPU per sign-in over HTTP: rejected by the shield (429) {rejected * 1e3:.2f} ms, "
        f"checked by Argon2id (401) {hashed * 1e3:.1f} ms -> x{rejected / hashed:.3f}"
    )


if __name__ == "__main__":
    main()
