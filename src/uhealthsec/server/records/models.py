"""Tables of patient files, documents, versions, blobs, shares, and the statements
readers sign when they give or end someone's access.

Nothing here is readable by the server: contents and titles are envelopes, and the
document keys exist only wrapped for each recipient.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
    and_,
    or_,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from uhealthsec.server.storage.db import Base
from uhealthsec.server.storage.types import UtcDateTime


class PatientFile(Base):
    """A patient's file (dossier) in one practice."""

    __tablename__ = "patient_files"
    __table_args__ = (
        UniqueConstraint("practice_id", "patient_id", name="uq_patient_files_practice_patient"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    practice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practices.id", ondelete="RESTRICT"))
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT"), index=True
    )
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Blob(Base):
    """An uploaded envelope. Unattached blobs are uploads not (yet) part of a version;
    they are visible to no one and removed by cleanup once old."""

    __tablename__ = "blobs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    attached_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    @property
    def key(self) -> str:
        return self.id.hex


class Document(Base):
    __tablename__ = "documents"

    #: Chosen by the author's client: it is part of what the author signs.
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    patient_file_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("patient_files.id", ondelete="RESTRICT"), index=True
    )
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    latest_version: Mapped[int] = mapped_column(Integer)


class DocumentRestriction(Base):
    """The patient restricted this document (R28, EHDS art. 8): while the row exists,
    only the patient and the document's author are served its keys and content; the
    others' shares are kept, not ended, and serve again once it is lifted
    (records/restriction.py, docs/PROTOCOL.md 11.8)."""

    __tablename__ = "document_restrictions"

    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DocumentVersion(Base):
    __tablename__ = "document_versions"
    __table_args__ = (
        UniqueConstraint("document_id", "number", name="uq_document_versions_document_number"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    blob_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("blobs.id", ondelete="RESTRICT"), unique=True
    )
    #: The content envelope's 78-byte header (public parameters; wrapped keys bind to it).
    envelope_header: Mapped[bytes] = mapped_column(LargeBinary(78))
    #: Title, file name and media type, as an envelope under the same document key.
    metadata_envelope: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    signer_key_index: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: The readers the author signed in the manifest (manifest.encode_readers); null
    #: for versions signed with a version 1 manifest, which named none.
    readers: Mapped[bytes | None] = mapped_column(LargeBinary)


#: What ``Share.active`` says, as the condition of a partial index.
ACTIVE_SHARE = "wrapped_key IS NOT NULL AND revoked_at IS NULL"


class Share(Base):
    """One recipient's access to one version: the document key wrapped for them."""

    __tablename__ = "shares"
    __table_args__ = (
        UniqueConstraint("version_id", "recipient_id", name="uq_shares_version_recipient"),
        # A reader's inbox (migration 0031): their active shares newest first, and
        # those of one document; read a page at a time, whatever the other rows.
        Index(
            "ix_shares_inbox",
            "recipient_id",
            "version_created_at",
            "document_id",
            sqlite_where=text(ACTIVE_SHARE),
            postgresql_where=text(ACTIVE_SHARE),
        ),
        Index(
            "ix_shares_recipient_document",
            "recipient_id",
            "document_id",
            "version_created_at",
            sqlite_where=text(ACTIVE_SHARE),
            postgresql_where=text(ACTIVE_SHARE),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("document_versions.id", ondelete="CASCADE")
    )
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT"), index=True
    )
    #: HPKE-wrapped document key; erased when the share is revoked.
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary(2048))
    granted_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: The patient's share only (R28): its key and content are not served before this
    #: time, which the author signed (migration 0047).
    available_from: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT")
    )
    #: Why it ended: "revoked" by a person, "objection" or "consent withdrawn" by the
    #: patient's directives.
    end_reason: Mapped[str | None] = mapped_column(String(40))
    #: When the version was written (its ``created_at``, which never changes): the
    #: inbox's order, read from an index of the reader's shares.
    version_created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: When the reader first said they opened this version (their read receipt, sent
    #: once the content decrypted and its signature verified); never moved after.
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    @classmethod
    def active(cls, share: Any = None) -> ColumnElement[bool]:
        """SQL condition: a share that still gives access (the caller adds the time);
        of ``share`` when given (an alias of this class)."""
        s = share if share is not None else cls
        return and_(s.wrapped_key.is_not(None), s.revoked_at.is_(None))

    @classmethod
    def usable(cls, at: datetime, share: Any = None) -> ColumnElement[bool]:
        """SQL condition: a share that gives access at ``at`` (active, not expired)."""
        s = share if share is not None else cls
        return and_(cls.active(s), or_(s.expires_at.is_(None), s.expires_at > at))

    def usable_at(self, at: datetime) -> bool:
        """``usable`` of this loaded share, in Python."""
        return (
            self.wrapped_key is not None
            and self.revoked_at is None
            and (self.expires_at is None or self.expires_at > at)
        )

    def end(self, at: datetime, by: uuid.UUID, reason: str) -> None:
        """End this access: the wrapped key is erased, so the server no longer holds
        anything that would let this person read the document."""
        self.wrapped_key = None
        self.revoked_at = at
        self.revoked_by = by
        self.end_reason = reason


class ShareStatementRecord(Base):
    """A reader's signed word that they gave a version's key to someone
    (manifest.ShareStatement): what lets the next author encrypt to that person."""

    __tablename__ = "share_statements"
    __table_args__ = (
        UniqueConstraint(
            "version_id", "recipient_id", name="uq_share_statements_version_recipient"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("document_versions.id", ondelete="CASCADE"), index=True
    )
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    #: The address the granter signed for the recipient.
    recipient_email: Mapped[str] = mapped_column(String(320))
    granter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    signer_key_index: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    #: Signed with it (statement format 2, migration 0047).
    available_from: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RevocationStatementRecord(Base):
    """Someone's signed word that they ended a reader's access from a version on
    (manifest.RevocationStatement): what keeps the next author from encrypting to that
    reader again, whoever the server lists."""

    __tablename__ = "revocation_statements"
    __table_args__ = (
        UniqueConstraint(
            "document_id",
            "version",
            "reader_id",
            "revoker_id",
            name="uq_revocation_statements_document_version_reader_revoker",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    #: The document's latest version when the access ended.
    version: Mapped[int] = mapped_column(Integer)
    reader_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    #: The address the revoker signed for the reader.
    reader_email: Mapped[str] = mapped_column(String(320))
    revoker_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    signer_key_index: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PendingShare(Base):
    """A version its sender wants a patient to read who has no account yet: the server
    knows the invitation and the sender's signed statement naming the patient's future
    account and address, never a key. Only the sender's client completes it, once the
    patient has joined and their keys are proven in the directory (records/pending.py,
    docs/PROTOCOL.md 11.6)."""

    __tablename__ = "pending_shares"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    invitation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("invitations.id", ondelete="CASCADE")
    )
    sender_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT"), index=True
    )
    #: The invited patient's account (AccountStatus.INVITED until they register).
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    #: The address the sender signed for the patient (the invitation's).
    patient_email: Mapped[str] = mapped_column(String(320))
    #: The sender's manifest.ShareStatement for the patient, signed when asking.
    signer_key_index: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: The invitation's expiry: a patient who never joins is never shared with.
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
