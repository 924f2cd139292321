"""What a reader is shown of documents (``RecordsService.view``, ``inbox``): plain rows
of the columns a view shows, read in one statement per part whatever the number of
documents."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from uhealthsec.server.accounts.models import Account
from uhealthsec.server.records.models import (
    Blob,
    Document,
    DocumentRestriction,
    DocumentVersion,
    PatientFile,
    RevocationStatementRecord,
    Share,
    ShareStatementRecord,
)


@dataclass(frozen=True)
class VersionView:
    #: The version's columns (``VERSION_COLUMNS``), named as DocumentVersion's.
    version: Row[Any]
    size: int
    #: The caller's wrapped key for this version; None for a version they cannot
    #: read, served for its signed manifest (a reader checks the chain of versions).
    wrapped_key: bytes | None
    #: SHA-256 of the content envelope, so that a reader can check the signed
    #: manifest (and its readers) before downloading the content.
    content_digest: bytes = b""
    #: Rows of ShareStatementRecord's columns.
    statements: Sequence[Row[Any]] = ()
    #: When the caller first opened this version (their read receipt); None if never.
    read_at: datetime | None = None
    #: The caller's share is held back until then (R28): ``wrapped_key`` is None.
    available_from: datetime | None = None


@dataclass(frozen=True, slots=True)
class DocumentHead:
    """What a view says of the document itself and of its patient file."""

    id: uuid.UUID
    patient_file_id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    author_id: uuid.UUID
    created_at: datetime
    latest_version: int

    @classmethod
    def of(cls, document: Document, patient_file: PatientFile) -> DocumentHead:
        return cls(
            document.id,
            document.patient_file_id,
            patient_file.practice_id,
            patient_file.patient_id,
            document.author_id,
            document.created_at,
            document.latest_version,
        )


#: DocumentHead's columns, in its order, for reading heads as plain rows.
DOCUMENT_HEAD_COLUMNS = (
    Document.id,
    Document.patient_file_id,
    PatientFile.practice_id,
    PatientFile.patient_id,
    Document.author_id,
    Document.created_at,
    Document.latest_version,
)

#: What a view shows of a version (VersionView.version).
VERSION_COLUMNS = (
    DocumentVersion.id,
    DocumentVersion.document_id,
    DocumentVersion.number,
    DocumentVersion.author_id,
    DocumentVersion.envelope_header,
    DocumentVersion.metadata_envelope,
    DocumentVersion.signature,
    DocumentVersion.signer_key_index,
    DocumentVersion.created_at,
    DocumentVersion.readers,
)


@dataclass(frozen=True)
class DocumentView:
    """A document as its reader sees it. The parts are plain rows, not ORM objects:
    an inbox walk reads tens of thousands of them, and loading each as an object cost
    most of its time."""

    document: DocumentHead
    #: The author's ``id``, ``email`` and ``display_name``.
    author: Row[Any]
    versions: list[VersionView]
    #: Who can read the latest version: their ``account_id``, ``email``,
    #: ``display_name``, ``kind``, and their share's ``granted_by`` and ``expires_at``.
    recipients: Sequence[Row[Any]]
    #: Every signed end of someone's access, oldest version first (rows of
    #: RevocationStatementRecord's columns).
    revocations: Sequence[Row[Any]] = ()
    #: Since when its patient restricted it (R28); only they and its author see it.
    restricted_at: datetime | None = None


def document_views(
    db: Session, caller_id: uuid.UUID, documents: Sequence[DocumentHead], now: datetime
) -> list[DocumentView]:
    """The views of documents the caller may read, in their order: one statement
    for each part of a view, whatever the number of documents, each read as plain
    rows of the columns the view shows."""
    if not documents:
        return []
    ids = [document.id for document in documents]
    # Every version's signed manifest, with the caller's key where they hold one:
    # the next author checks who wrote each version after whom (PROTOCOL 11.4).
    mine = (
        select(Share.version_id, Share.wrapped_key, Share.read_at, Share.available_from)
        .where(Share.recipient_id == caller_id, Share.usable(now))
        .subquery()
    )
    rows = db.execute(
        select(
            *VERSION_COLUMNS,
            mine.c.wrapped_key,
            mine.c.read_at,
            mine.c.available_from,
            Blob.size,
            Blob.sha256,
        )
        .outerjoin(mine, mine.c.version_id == DocumentVersion.id)
        .join(Blob, Blob.id == DocumentVersion.blob_id)
        .where(DocumentVersion.document_id.in_(ids))
        .order_by(DocumentVersion.document_id, DocumentVersion.number)
    ).all()
    statements: dict[uuid.UUID, list[Row[Any]]] = {}
    for record in db.execute(
        select(
            ShareStatementRecord.version_id,
            ShareStatementRecord.granter_id,
            ShareStatementRecord.signer_key_index,
            ShareStatementRecord.recipient_id,
            ShareStatementRecord.recipient_email,
            ShareStatementRecord.signature,
            ShareStatementRecord.available_from,
        )
        .where(ShareStatementRecord.version_id.in_([row.id for row in rows]))
        .order_by(ShareStatementRecord.created_at)
    ):
        statements.setdefault(record.version_id, []).append(record)
    versions: dict[uuid.UUID, list[VersionView]] = {}
    latest: list[uuid.UUID] = []
    for row in rows:
        # A share held back (R28) is listed with its date, not its key.
        held = row.available_from if row.available_from and row.available_from > now else None
        versions.setdefault(row.document_id, []).append(
            VersionView(
                row,
                row.size,
                None if held else row.wrapped_key,
                row.sha256,
                statements.get(row.id, ()),
                row.read_at,
                held,
            )
        )
    for document in documents:
        latest += [
            v.version.id
            for v in versions[document.id]
            if v.version.number == document.latest_version
        ]
    recipients: dict[uuid.UUID, list[Row[Any]]] = {}
    for recipient in db.execute(
        select(
            Share.document_id,
            Account.id.label("account_id"),
            Account.email,
            Account.display_name,
            Account.kind,
            Share.granted_by,
            Share.expires_at,
        )
        .join(Share, Share.recipient_id == Account.id)
        .where(Share.version_id.in_(latest), Share.usable(now))
        .order_by(Account.display_name)
    ):
        recipients.setdefault(recipient.document_id, []).append(recipient)
    authors = {
        author.id: author
        for author in db.execute(
            select(Account.id, Account.email, Account.display_name).where(
                Account.id.in_({d.author_id for d in documents})
            )
        )
    }
    revocations: dict[uuid.UUID, list[Row[Any]]] = {}
    for revocation in db.execute(
        select(
            RevocationStatementRecord.document_id,
            RevocationStatementRecord.revoker_id,
            RevocationStatementRecord.signer_key_index,
            RevocationStatementRecord.version,
            RevocationStatementRecord.reader_id,
            RevocationStatementRecord.reader_email,
            RevocationStatementRecord.signature,
        )
        .where(RevocationStatementRecord.document_id.in_(ids))
        .order_by(RevocationStatementRecord.version, RevocationStatementRecord.created_at)
    ):
        revocations.setdefault(revocation.document_id, []).append(revocation)
    restricted = {
        row.document_id: row.created_at
        for row in db.execute(
            select(DocumentRestriction.document_id, DocumentRestriction.created_at).where(
                DocumentRestriction.document_id.in_(ids)
            )
        )
    }
    return [
        DocumentView(
            document,
            authors[document.author_id],
            versions[document.id],
            recipients.get(document.id, ()),
            revocations.get(document.id, ()),
            restricted.get(document.id),
        )
        for document in documents
    ]
