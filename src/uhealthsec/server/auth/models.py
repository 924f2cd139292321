"""Tables of the authentication domain. Every secret is stored hashed or sealed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime, utcnow


class TotpCredential(Base):
    __tablename__ = "totp_credentials"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    #: The shared secret, sealed with the server key (it must be usable, so not hashed).
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: The last 30-second step accepted: a code of this step or an earlier one is a replay.
    last_used_step: Mapped[int] = mapped_column(BigInteger, default=-1)


class WebAuthnCredential(Base):
    __tablename__ = "webauthn_credentials"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"

    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class FactorBudget(Base):
    """The failure budget every second-factor check of an account draws on (sign-in,
    step-up, enrolment, recovery codes): spent, the account's factors lock for a time
    that doubles with each lock, so a guesser gets a few tries a day at most."""

    __tablename__ = "factor_budgets"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    #: Wrong answers since the last accepted one or the last lock.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    #: Locks since the last accepted answer: the next lock lasts twice as long.
    locks: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuthenticatorUnblock(Base):
    """A link mailed to the owner of an authenticator blocked after 100 failures in a
    row (R7, auth/unblocking.py): its token is stored hashed and serves once."""

    __tablename__ = "authenticator_unblocks"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    #: "password" or "factors" (the codes: TOTP and recovery codes).
    authenticator: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebAuthnChallenge(Base):
    """A challenge handed to an authenticator, valid once and briefly."""

    __tablename__ = "webauthn_challenges"

    challenge_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    #: "register", "authenticate" or "factor-change" (a nonce for a signed change).
    purpose: Mapped[str] = mapped_column(String(20))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LoginFlow(Base):
    """A sign-in in progress: password checked, second factor pending or done.

    The client holds the ticket; the server keeps only its hash. A flow is short-lived and
    is consumed by the authorization endpoint, so it can be used once.
    """

    __tablename__ = "login_flows"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    ticket_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Space-separated RFC 8176 method references proven so far ("pwd", "otp", "hwk"...).
    amr: Mapped[str] = mapped_column(String(100), default="pwd")
    mfa_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: Wrong second-factor codes in this flow; the flow ends after a few (guessing).
    mfa_failures: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PasswordRecovery(Base):
    """A forgotten password being replaced (auth/recovery.py): the code mailed to the
    address, then, once the code and a second factor are proven, the nonce the new
    keystore's statement signs. Both are stored hashed; a row serves once."""

    __tablename__ = "password_recoveries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: The code's end, and after the proof the nonce's.
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Wrong codes and wrong second factors given with this code: it dies after a few.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    proven_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    nonce_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OAuthClient(Base):
    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: JSON list of the exact redirect URIs accepted.
    redirect_uris: Mapped[str] = mapped_column(Text)
    #: Public clients (CLI, web) have no secret and must use PKCE; confidential ones
    #: (resource servers using introspection) authenticate with a secret.
    secret_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    #: Space-separated grant types the client may use.
    grant_types: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(200), default="")
    #: Loopback clients (RFC 8252 §7.3) may use any port on their registered loopback URI.
    loopback_any_port: Mapped[bool] = mapped_column(Boolean, default=False)


class AuthorizationCode(Base):
    __tablename__ = "authorization_codes"

    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.client_id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(200), default="")
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    auth_time: Mapped[datetime] = mapped_column(UtcDateTime)
    amr: Mapped[str] = mapped_column(String(100))
    device_name: Mapped[str] = mapped_column(String(100), default="")
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: The session the code was exchanged for: a second exchange revokes it (RFC 6749 §4.1.2).
    session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class Session(Base):
    """One signed-in device: a family of refresh tokens sharing a fate."""

    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.client_id"))
    device_name: Mapped[str] = mapped_column(String(100), default="")
    scope: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: When a second factor was last proven in this session (sign-in or step-up).
    auth_time: Mapped[datetime] = mapped_column(UtcDateTime)
    amr: Mapped[str] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(40))


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    generation: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: Set when the token was exchanged; presenting it again is reuse.
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
