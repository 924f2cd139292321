"""Sign-in costs: PASETO v4.local access tokens issued and verified per second, and the
latency of a whole sign-in (client Argon2id, server Argon2id, TOTP, code + PKCE).

    .venv/bin/python benchmarks/auth.py [--rounds N]

Runs in process against a fresh SQLite database (FastAPI TestClient, no network), so
the figures are the server's and the client's CPU work, not a network's.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyotp
from fastapi.testclient import TestClient
from timing import median_seconds

from uhealthsec.client.api import AuthClient
from uhealthsec.crypto.keystore import Argon2Params, derive_password_secrets
from uhealthsec.server.app import build_context, create_app
from uhealthsec.server.security.secret_hasher import SecretHasher
from uhealthsec.server.settings import Settings

PASSWORD = "plum orchard violin tundra harbour"


def per_second(fn, seconds: float = 2.0) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="uhs-bench-"))
    settings = Settings(data_dir=data_dir, issuer="http://127.0.0.1:8000")
    ctx = build_context(settings)
    now = datetime.now(UTC)

    def issue() -> str:
        token, _ = ctx.keyring.issue(
            account_id=uuid.uuid4(),
            session_id=uuid.uuid4(),
            client_id="uhs-cli",
            auth_time=now,
            amr=("pwd", "otp"),
            scope="api",
            issuer=settings.issuer,
            now=now,
        )
        return token

    token = issue()
    issue_rate = per_second(issue)
    verify_rate = per_second(lambda: ctx.keyring.verify(token, now))

    client_params = Argon2Params.default()
    client_kdf = 1000 * median_seconds(
        lambda: derive_password_secrets(PASSWORD, client_params), args.rounds
    )
    hasher = SecretHasher(settings.server_argon2_memory_kib, settings.server_argon2_time_cost)
    stored = hasher.hash(b"\x01" * 32)
    server_verify = 1000 * median_seconds(lambda: hasher.verify(stored, b"\x01" * 32), args.rounds)

    http = TestClient(create_app(ctx=ctx), base_url=settings.issuer)
    sdk = AuthClient(http)
    outbox = settings.outbox_dir
    sdk.register("bench@example.org", PASSWORD, "Dr Bench", "practitioner")
    code = next(outbox.glob("*.eml")).read_text().split("confirmation code: ")[1].split()[0]
    sdk.verify_email(code, "bench@example.org", PASSWORD)
    login = sdk.start_login("bench@example.org", PASSWORD)
    secret = sdk.enrol_totp(login)["secret"]
    sdk.confirm_totp(login, pyotp.TOTP(secret).now())
    sdk.authorize(login)

    step = [int(time.time()) // 30]

    def full_sign_in() -> None:
        step[0] += 1  # a fresh step each round: codes are single-use
        login = sdk.start_login("bench@example.org", PASSWORD)
        sdk.second_factor(login, totp_code=pyotp.TOTP(secret).at(step[0] * 30))
        sdk.authorize(login)

    # The server accepts one step of drift only; pretend each round is 30 s later.
    ctx.clock = lambda: datetime.fromtimestamp(step[0] * 30, UTC)
    sign_in = 1000 * median_seconds(full_sign_in, args.rounds)

    print(
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    print(f"client Argon2id m={client_params.memory_kib} KiB t={client_params.iterations} p=1")
    print(
        f"server Argon2id m={settings.server_argon2_memory_kib} KiB "
        f"t={settings.server_argon2_time_cost} p=1"
    )
    print(f"access tokens issued:   {issue_rate:8.0f} /s (one core)")
    print(f"access tokens verified: {verify_rate:8.0f} /s (one core)")
    print(f"client key derivation:  {client_kdf:8.1f} ms (median of {args.rounds})")
    print(f"server secret check:    {server_verify:8.1f} ms (median of {args.rounds})")
    print(
        f"whole sign-in:          {sign_in:8.1f} ms (median of {args.rounds}: "
        "prelogin, login, TOTP, authorize, token)"
    )


if __name__ == "__main__":
    main()
