"""Tables of the accounts domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.protocol.accounts import AccountKind
from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime, utcnow


class AccountStatus(StrEnum):
    #: Registered, e-mail address not yet confirmed: cannot sign in.
    PENDING = "pending"
    ACTIVE = "active"
    DISABLED = "disabled"
    #: A patient invited by a practice that opened their file before they registered:
    #: an address and nothing else (no password, no keys), which cannot sign in; their
    #: registration by invitation fills this row in, so the file is theirs.
    INVITED = "invited"
    #: Deleted by its owner (consent/erasure.py): no name, no address, no way to sign
    #: in; the row stays because what must be kept (a file inside its retention, the
    #: journal, the key directory) names the account by its id.
    DELETED = "deleted"


class IdentityProof(StrEnum):
    """How a practitioner's professional identity was verified: until it is, the account
    may not act on health data (docs/PROTOCOL.md, section 10)."""

    #: The RPPS number was proven by signing in with e-CPS (federation/).
    E_CPS = "e-cps"
    #: A practice admin, themselves verified, vouched for the member.
    PRACTICE_ADMIN = "practice-admin"
    #: The server's operator, with ``uhs-server verify-practitioner``, where no e-CPS provider
    #: is configured.
    OPERATOR = "operator"


class Role(StrEnum):
    """A member's role in a practice (R10: least privilege)."""

    ADMIN = "admin"
    PRACTITIONER = "practitioner"
    #: Organises the practice; never reads clinical content unless granted.
    SECRETARY = "secretary"
    PATIENT = "patient"


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    #: Normalised (trimmed, lower-cased) address; the sign-in identifier.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=AccountStatus.PENDING)
    #: RPPS number (11 digits, Luhn) proven with e-CPS: one account per number.
    rpps: Mapped[str | None] = mapped_column(String(11), unique=True)
    #: The number declared at registration, not proven: the numbers are public, so a
    #: declaration claims nothing and several accounts may declare the same one.
    declared_rpps: Mapped[str | None] = mapped_column(String(11))
    #: Argon2id PHC string of the client-derived authentication secret, never the password.
    password_hash: Mapped[str] = mapped_column(String(255))
    #: The user's sealed keystore, opaque to the server (crypto/keystore.py).
    keystore: Mapped[bytes] = mapped_column(LargeBinary)
    #: The public-key bundle, as found in the keystore; SHA-256 of it is the fingerprint.
    public_keys: Mapped[bytes] = mapped_column(LargeBinary)
    key_fingerprint: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    email_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: When and how a practitioner's professional identity was verified (IdentityProof);
    #: a declared RPPS number alone proves nothing.
    identity_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    identity_proof: Mapped[str | None] = mapped_column(String(20))
    #: The admin who vouched, for IdentityProof.PRACTICE_ADMIN.
    identity_verified_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )


def may_act_on_health_data(account: Account) -> bool:
    """Patients act on their own data, practitioners once their professional identity
    is verified."""
    return account.kind == AccountKind.PATIENT or account.identity_verified_at is not None


class EmailVerification(Base):
    """A single-use code mailed to confirm an address at registration."""

    __tablename__ = "email_verifications"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Practice(Base):
    __tablename__ = "practices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("practice_id", "account_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    practice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: When an admin of this practice vouched for this member's professional identity
    #: (a record of the vouching; what counts is the account's identity_verified_at).
    identity_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    identity_verified_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )


class Invitation(Base):
    __tablename__ = "invitations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    practice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    invited_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
