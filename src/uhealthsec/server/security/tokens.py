"""Access tokens: PASETO v4.local, short-lived, audience-bound, one ``jti`` each.

v4.local encrypts and authenticates the claims (XChaCha20 + BLAKE2b), so a token reveals
nothing to whoever holds it and cannot be altered. The footer names the key (its PASERK
id), which lets several keys live side by side while one is rotated out.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyseto
from pyseto import Key
from pyseto.token import Token
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from uhealthsec.protocol.oauth import AUDIENCE
from uhealthsec.server.errors import NotAuthenticated
from uhealthsec.server.security.models import TokenKey
from uhealthsec.server.server_key import ServerKey

_PURPOSE = "token-key"
_MAX_TOKEN_LENGTH = 4096
#: How often a process re-reads the key table, so a rotation done elsewhere is seen.
_RELOAD_SECONDS = 30.0
#: A process may issue with a key for up to one reload period after it was retired.
_RELOAD_GRACE = timedelta(seconds=2 * _RELOAD_SECONDS)


@dataclass(frozen=True)
class AccessClaims:
    account_id: uuid.UUID
    session_id: uuid.UUID
    client_id: str
    jti: str
    issued_at: datetime
    expires_at: datetime
    auth_time: datetime
    amr: tuple[str, ...]
    scope: str


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: object) -> datetime:
    if not isinstance(text, str):
        raise ValueError("time claim is not a string")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("time claim has no zone")
    return moment


@dataclass(frozen=True)
class _LoadedKey:
    kid: str
    key: Key
    created_at: datetime
    retired_at: datetime | None


class TokenKeyring:
    """The PASETO keys, sealed at rest by the server key and cached per process."""

    def __init__(
        self, sessions: sessionmaker[Session], server_key: ServerKey, lifetime_seconds: int
    ) -> None:
        self._sessions = sessions
        self._server_key = server_key
        self.lifetime = timedelta(seconds=lifetime_seconds)
        self._keys: dict[str, _LoadedKey] = {}
        self._loaded_at = -_RELOAD_SECONDS
        self._lock = threading.Lock()

    def _load(self, force: bool = False) -> None:
        with self._lock:
            if not force and time.monotonic() - self._loaded_at < _RELOAD_SECONDS:
                return
            with self._sessions() as db:
                rows = db.scalars(select(TokenKey)).all()
            keys = {}
            for row in rows:
                raw = self._server_key.open(_PURPOSE, row.key_sealed, row.kid.encode())
                key = Key.new(version=4, purpose="local", key=raw)
                keys[row.kid] = _LoadedKey(row.kid, key, row.created_at, row.retired_at)
            self._keys = keys
            self._loaded_at = time.monotonic()

    def rotate(self, db: Session, now: datetime) -> str:
        """Add a new current key and retire the others; tokens they made stay valid
        until they expire."""
        raw = secrets.token_bytes(32)
        kid = Key.new(version=4, purpose="local", key=raw).to_paserk_id()
        for row in db.scalars(select(TokenKey).where(TokenKey.retired_at.is_(None))):
            row.retired_at = now
        db.add(
            TokenKey(
                kid=kid,
                key_sealed=self._server_key.seal(_PURPOSE, raw, kid.encode()),
                created_at=now,
            )
        )
        db.flush()
        self._loaded_at = -_RELOAD_SECONDS
        return kid

    def ensure_key(self, db: Session, now: datetime) -> None:
        if db.scalar(select(TokenKey.kid).where(TokenKey.retired_at.is_(None)).limit(1)) is None:
            self.rotate(db, now)

    def current(self) -> _LoadedKey:
        self._load()
        active = [k for k in self._keys.values() if k.retired_at is None]
        if not active:
            self._load(force=True)
            active = [k for k in self._keys.values() if k.retired_at is None]
        if not active:
            raise RuntimeError("no token key: run the migrations and start the server once")
        return max(active, key=lambda k: k.created_at)

    def find(self, kid: str) -> _LoadedKey | None:
        self._load()
        if kid not in self._keys:
            self._load(force=True)
        return self._keys.get(kid)

    def issue(
        self,
        *,
        account_id: uuid.UUID,
        session_id: uuid.UUID,
        client_id: str,
        auth_time: datetime,
        amr: tuple[str, ...],
        scope: str,
        issuer: str,
        now: datetime,
        audience: str = AUDIENCE,
    ) -> tuple[str, AccessClaims]:
        key = self.current()
        jti = secrets.token_urlsafe(16)
        expires = now + self.lifetime
        payload = {
            "iss": issuer,
            "aud": audience,
            "sub": str(account_id),
            "sid": str(session_id),
            "cid": client_id,
            "jti": jti,
            "iat": _iso(now),
            "nbf": _iso(now),
            "exp": _iso(expires),
            "auth_time": _iso(auth_time),
            "amr": list(amr),
            "scope": scope,
        }
        token = pyseto.encode(key.key, payload, footer={"kid": key.kid}, serializer=json)
        claims = AccessClaims(
            account_id, session_id, client_id, jti, now, expires, auth_time, amr, scope
        )
        return token.decode("ascii"), claims

    def verify(self, token: str, now: datetime, audience: str = AUDIENCE) -> AccessClaims:
        """Open and check a token; every refusal is the same 401 for the caller."""
        refused = NotAuthenticated(
            "the access token is invalid or has expired; sign in again or refresh it",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
        if len(token) > _MAX_TOKEN_LENGTH or not token.startswith("v4.local."):
            raise refused
        try:
            footer = json.loads(Token.new(token).footer or b"{}")
        except Exception as exc:  # any malformed token: the same refusal
            raise refused from exc
        kid = footer.get("kid") if isinstance(footer, dict) else None
        # Outside the catch-all: a database that cannot be reached while the keys are
        # loaded is the server's failure (a 503), not an invalid token.
        loaded = self.find(kid) if isinstance(kid, str) else None
        if loaded is None:
            raise refused
        try:
            # Claims are checked below against the server's clock, not by pyseto.
            claims = json.loads(pyseto.decode(loaded.key, token).payload)
            if not isinstance(claims, dict) or claims.get("aud") != audience:
                raise refused
            issued = _parse_iso(claims["iat"])
            expires = _parse_iso(claims["exp"])
            not_before = _parse_iso(claims["nbf"])
            if not (not_before <= now < expires) or expires - issued > self.lifetime:
                raise refused
            # A retired key opens only tokens it made before it was retired.
            if loaded.retired_at is not None and issued > loaded.retired_at + _RELOAD_GRACE:
                raise refused
            return AccessClaims(
                account_id=uuid.UUID(claims["sub"]),
                session_id=uuid.UUID(claims["sid"]),
                client_id=str(claims["cid"]),
                jti=str(claims["jti"]),
                issued_at=issued,
                expires_at=expires,
                auth_time=_parse_iso(claims["auth_time"]),
                amr=tuple(str(m) for m in claims["amr"]),
                scope=str(claims.get("scope", "")),
            )
        except NotAuthenticated:
            raise
        except Exception as exc:  # any malformed or forged token: same refusal
            raise refused from exc
