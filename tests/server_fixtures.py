"""Fixtures for the server and its clients: a migrated database on SQLite and on
PostgreSQL, the application with a controllable clock, a mail outbox, signed-in users."""

from __future__ import annotations

import contextlib
import email
import hashlib
import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tests.postgres import PostgresServer
from tests.serving import ServerThread
from uhealthsec.client.api import AuthClient, LoginState, Tokens
from uhealthsec.client.errors import ApiError
from uhealthsec.client.exchange import ExchangeClient
from uhealthsec.client.exchange.session import SIGNATURE_HEADER, ExchangeSession
from uhealthsec.client.logs import LogPin
from uhealthsec.client.transport import (
    CONTENT_DIGEST_HEADER,
    ServerClock,
    content_digest,
)
from uhealthsec.client.transport import (
    IDEMPOTENCY_KEY_HEADER as IDEMPOTENCY_KEY,
)
from uhealthsec.client.transport import idempotency_key as idempotency_key_value
from uhealthsec.crypto.keystore import Argon2Params, unlock_with_password
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.app import build_context, create_app
from uhealthsec.server.context import AppContext
from uhealthsec.server.settings import Settings
from uhealthsec.server.storage import migrate
from uhealthsec.server.storage.db import make_engine

BASE_URL = "http://127.0.0.1:8000"
ORIGIN = "http://localhost:8000"
#: The cheapest client parameters the keystore accepts, so that tests run quickly.
FAST_ARGON2 = Argon2Params(memory_kib=19456, iterations=2, parallelism=1, salt=b"\0" * 16)
PASSWORD = "plum orchard violin tundra harbour"

DATABASES = os.environ.get("UHS_TEST_DATABASES", "sqlite,postgresql").split(",")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        engine = create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE DATABASE uhs_template"))
        engine.dispose()
        template = make_engine(server.url("uhs_template"))
        migrate.upgrade(template)
        template.dispose()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@contextmanager
def fresh_database(request: pytest.FixtureRequest, kind: str, directory: Path) -> Iterator[str]:
    """A fresh, migrated database of ``kind`` (sqlite, postgresql), dropped afterwards."""
    if kind == "sqlite":
        path = directory / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"t_{uuid.uuid4().hex}"
    admin = create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE uhs_template'))
    try:
        yield server.url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    with fresh_database(request, request.param, tmp_path) as url:
        yield url


class Clock:
    """The server's clock in tests: starts now, moves only when told."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_settings(tmp_path: Path, database_url: str, **extra: object) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        issuer=BASE_URL,
        webauthn_rp_id="localhost",
        webauthn_origins=[ORIGIN],
        **extra,
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def ctx(settings: Settings, clock: Clock) -> Iterator[AppContext]:
    context = build_context(settings, clock=clock, migrate_schema=False)
    yield context
    context.close()


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx=ctx), base_url=BASE_URL) as test_client:
        yield test_client


@pytest.fixture
def sdk(client: TestClient) -> AuthClient:
    return AuthClient(client)


class Outbox:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def messages(self, to: str) -> list[email.message.Message]:
        if not self.directory.exists():
            return []
        found = []
        for path in sorted(self.directory.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
            message = email.message_from_bytes(path.read_bytes())
            if message["To"] == to:
                found.append(message)
        return found

    def last_code(self, to: str, label: str = "code") -> str:
        body = self.messages(to)[-1].get_payload(decode=True).decode()
        match = re.search(rf"{label}: (\S+)", body, re.IGNORECASE)
        assert match, body
        return match.group(1)


@pytest.fixture
def outbox(settings: Settings) -> Outbox:
    return Outbox(settings.outbox_dir)


def oathtool(secret: str, at: datetime) -> str:
    """A TOTP code from the reference implementation, for the given instant."""
    stamp = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    result = subprocess.run(
        ["oathtool", "--totp", "-b", "--now", stamp, secret],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    )
    return result.stdout.strip()


def device(http: Any, users: Users | None, user: User, pin: LogPin | None = None) -> ExchangeClient:
    """An SDK client holding the user's unlocked keys (``user.tokens`` may be replaced)."""
    keys = unlock_with_password(AuthClient(http).keystore(user.tokens), PASSWORD)
    client = ExchangeClient(http, lambda: user.tokens.access_token, keys, pin)
    if users is not None:
        # The device's clock is the server's, however far tests moved it.
        client.clock = ServerClock(users.clock)
    return client


def signed_headers(
    exchange: ExchangeSession,
    token: str,
    method: str,
    target: str,
    body: bytes = b"",
    idempotency_key: str | None = None,
    signed_at_ms: int | None = None,
) -> dict[str, str]:
    """The headers of a request sent raw (not through the SDK) as ``exchange``'s user:
    their access token, a change's Idempotency-Key (``idempotency_key`` or a fresh one)
    and their signature of it (R3), the body's SHA-256 declared in ``Content-Digest`` as
    an upload streams it."""
    sha256 = hashlib.sha256(body).digest()
    change = method.upper() not in ("GET", "HEAD")
    key = (idempotency_key or idempotency_key_value()) if change else ""
    nonce = key.strip('"')
    return {
        "Authorization": f"Bearer {token}",
        **({IDEMPOTENCY_KEY: key} if change else {}),
        SIGNATURE_HEADER: exchange.request_signature(method, target, sha256, nonce, signed_at_ms),
        **declared(body),
    }


def send_signed(
    http: Any,
    exchange: ExchangeSession,
    token: str,
    method: str,
    target: str,
    *,
    json_body: object = None,
    content: bytes = b"",
    headers: dict[str, str] | None = None,
) -> Any:
    """A raw request (``http``: a TestClient or an httpx client) signed by
    ``exchange``'s user (R3), with exactly the bytes signed: ``json_body`` as JSON, or
    ``content``; the Idempotency-Key of ``headers`` if they give one. Its answer,
    whatever its status."""
    body = content if json_body is None else json.dumps(json_body).encode()
    typed = {} if json_body is None else {"Content-Type": "application/json"}
    given = {k.lower(): v for k, v in (headers or {}).items()}
    key = given.get(IDEMPOTENCY_KEY.lower())
    signed = signed_headers(exchange, token, method, target, body, key)
    sent = {**signed, **typed, **(headers or {})}
    return http.request(method, target, content=body, headers=sent)


def declared(body: bytes) -> dict[str, str]:
    """The ``Content-Digest`` of an upload of ``body``, over which the SDK signs it."""
    return {CONTENT_DIGEST_HEADER: content_digest(hashlib.sha256(body).digest())}


@dataclass
class User:
    email: str
    password: str
    totp_secret: str
    recovery_codes: list[str]
    tokens: Tokens
    account_id: str = ""
    #: The keystore's recovery key (the 24 words shown at registration).
    recovery_key: bytes = field(default=b"", repr=False)


class Users:
    """Creates users through the real API, as a client would."""

    def __init__(
        self, sdk: AuthClient, outbox: Outbox, clock: Clock, ctx: AppContext | None = None
    ) -> None:
        self.sdk = sdk
        self.outbox = outbox
        self.clock = clock
        #: The server's context, for what its operator does (``uhs-server verify-practitioner``).
        self.ctx = ctx

    def register(self, email_address: str, kind: str = "practitioner", **extra: str) -> bytes:
        """Register and confirm the address; returns the account's recovery key. A
        patient registering by invitation is shown the practice's information notice
        first, as the CLI and the web show it, and names its version (R11)."""
        notice = None
        if invitation := extra.get("invitation"):
            # A test of a refused invitation sees its refusal from the registration.
            with contextlib.suppress(ApiError):
                notice = self.sdk.invitation_notice(invitation)
        new = self.sdk.register(
            email_address,
            PASSWORD,
            "Dr " + email_address.split("@")[0].title(),
            kind,
            params=FAST_ARGON2.with_new_salt(),
            notice_version=notice.version if notice is not None and notice.for_patient else None,
            **extra,
        )
        if "invitation" not in extra:
            self.sdk.verify_email(self.outbox.last_code(email_address), email_address, PASSWORD)
        return new.recovery_key

    def next_totp(self, secret: str) -> str:
        """A code for a fresh 30-second step (each code is accepted only once)."""
        self.clock.advance(seconds=30)
        return oathtool(secret, self.clock.now)

    def signed_in(
        self,
        email_address: str,
        kind: str = "practitioner",
        *,
        verified: bool | None = None,
        **extra: str,
    ) -> User:
        """A signed-in user. A practitioner is verified by the operator unless
        ``verified=False`` (by default, also not where an e-CPS provider is configured:
        the operator cannot vouch there)."""
        recovery_key = self.register(email_address, kind, **extra)
        login = self.sdk.start_login(email_address, PASSWORD)
        assert login.enrolment_required
        secret = self.sdk.enrol_totp(login)["secret"]
        codes = self.sdk.confirm_totp(login, oathtool(secret, self.clock.now))
        tokens = self.sdk.authorize(login, device_name="tests")
        me = self.sdk.http.get("/accounts/me", headers=self.sdk.bearer(tokens)).json()
        if verified is None:
            verified = self.ctx is not None and not self.ctx.settings.oidc_issuer
        if kind == "practitioner" and verified:
            self.verify_practitioner(email_address)
        return User(email_address, PASSWORD, secret, codes, tokens, me["id"], recovery_key)

    def verify_practitioner(self, email_address: str) -> None:
        """What ``uhs-server verify-practitioner`` does."""
        assert self.ctx is not None, "verifying a practitioner needs the server's context"
        with self.ctx.sessions.begin() as db:
            AccountService(db, self.ctx).verify_practitioner_by_operator(email_address)

    def join_practice(
        self, admin: User, practice_id: str, member: User, role: str = "patient"
    ) -> None:
        """``member`` accepts an invitation of ``admin``'s practice, through the API (a
        practice reaches a patient only once the patient accepted). A patient's client
        shows the practice's information notice first and names the version it showed,
        which records the patient as informed (R11), as the SDK and the web do."""
        invited = self.sdk.http.post(
            f"/practices/{practice_id}/invitations",
            json={"email": member.email, "role": role},
            headers=self.sdk.bearer(admin.tokens),
        )
        assert invited.status_code == 201, invited.text
        code = self.outbox.last_code(member.email, "invitation code")
        acceptance: dict[str, object] = {"code": code}
        notice = self.sdk.invitation_notice(code)
        if notice.for_patient:
            acceptance["notice_version"] = notice.version
        accepted = self.sdk.http.post(
            "/practices/invitations/accept",
            json=acceptance,
            headers=self.sdk.bearer(member.tokens),
        )
        assert accepted.status_code == 200, accepted.text

    def completed_login(self, user: User) -> LoginState:
        """Password and TOTP proven: ready for the authorization endpoint."""
        login = self.sdk.start_login(user.email, user.password)
        self.sdk.second_factor(login, totp_code=self.next_totp(user.totp_secret))
        return login

    def sign_in_again(self, user: User) -> Tokens:
        return self.sdk.authorize(self.completed_login(user))


@pytest.fixture
def users(sdk: AuthClient, outbox: Outbox, clock: Clock, ctx: AppContext) -> Users:
    return Users(sdk, outbox, clock, ctx)


@pytest.fixture
def live_server(ctx: AppContext) -> Iterator[str]:
    """The same application served over real HTTP on loopback, for separate processes."""
    serving = ServerThread(create_app(ctx=ctx), ctx.settings).start()
    yield serving.url
    serving.stop()
