"""Tables of federated professional login."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime, utcnow


class FederatedIdentity(Base):
    """A provider's subject linked to one account (made only by a signed-in, MFA-proven
    session)."""

    __tablename__ = "federated_identities"
    __table_args__ = (
        UniqueConstraint("issuer", "subject", name="uq_federated_identities_subject"),
        UniqueConstraint("issuer", "account_id", name="uq_federated_identities_account"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    #: The RPPS number the provider vouched for, when it gave one.
    rpps: Mapped[str | None] = mapped_column(String(11))
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class FederatedRequest(Base):
    """One round trip to the provider, from our redirect to its callback, used once.

    ``purpose`` is "login" (the callback ends in an authorization code for the client
    that asked) or "link" (the callback ends in a link code that only the signed-in
    session that started it can redeem).
    """

    __tablename__ = "federated_requests"

    state_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(10))
    #: Our nonce and PKCE verifier towards the provider, sealed with the server key.
    secrets_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    #: The client's own OAuth request (JSON): where and how to answer it.
    client_request: Mapped[str] = mapped_column(Text)
    #: For a link: the session that started it.
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    returned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: For a link, after the provider's answer was verified: the proven identity and the
    #: hash of the one-time link code handed to the client.
    subject: Mapped[str | None] = mapped_column(String(255))
    rpps: Mapped[str | None] = mapped_column(String(11))
    link_code_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    redeemed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
