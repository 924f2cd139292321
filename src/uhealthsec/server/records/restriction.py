"""A document its patient restricts (R28, EHDS art. 8): while restricted, only the
patient and the document's author are served its keys and content, and no one else is
given a share of it. The others' shares are kept, so that lifting the restriction gives
them back what they were granted (docs/PROTOCOL.md 11.8).

The server can hold back only what it still serves: a reader who decrypted a copy
before keeps it (end-to-end encryption), which the patient is told.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, select
from sqlalchemy.orm import Session

from uhealthsec.server.errors import DocumentRestricted, Forbidden
from uhealthsec.server.records.models import Document, DocumentRestriction, PatientFile, Share

#: The refusal every other reader gets: it names the patient's choice, nothing else of
#: the document (not a 404, which would tell them it is gone).
REFUSAL = (
    "the patient restricted this document: only they and its author can read it now; "
    "your access comes back if they lift the restriction"
)


def restricted_since(db: Session, document_id: uuid.UUID) -> datetime | None:
    """When the patient restricted the document; None if it is not restricted."""
    return db.scalar(
        select(DocumentRestriction.created_at).where(DocumentRestriction.document_id == document_id)
    )


def may_read_restricted(
    document: Document, patient_file: PatientFile, account_id: uuid.UUID
) -> bool:
    """The patient restricted it from others, and the author wrote it."""
    return account_id in (patient_file.patient_id, document.author_id)


def refuse_restricted(
    db: Session, document: Document, patient_file: PatientFile, caller_id: uuid.UUID
) -> None:
    """Nothing of a restricted document for anyone but its patient and author.

    :raises DocumentRestricted: the document is restricted and the caller is another.
    """
    if may_read_restricted(document, patient_file, caller_id):
        return
    if restricted_since(db, document.id) is not None:
        raise DocumentRestricted(REFUSAL)


def refuse_restricted_grants(
    db: Session, document: Document, patient_file: PatientFile, recipients: Iterable[uuid.UUID]
) -> None:
    """No new share of a restricted document but to its patient (and the author's own
    copy of a new version they write).

    :raises DocumentRestricted: a recipient is someone else.
    """
    others = {r for r in recipients if not may_read_restricted(document, patient_file, r)}
    if others and restricted_since(db, document.id) is not None:
        raise DocumentRestricted(
            "the patient restricted this document: it can be shared with no one else "
            f"until they lift the restriction ({len(others)} recipient(s) refused)"
        )


def restricted_from(caller_id: uuid.UUID) -> ColumnElement[bool]:
    """Whether a listing's share is of a document restricted from the caller, for the
    listing to leave out: one lookup by the row's document (the restriction's key), not
    a scan of every restriction."""
    return exists(
        select(DocumentRestriction.document_id)
        .join(Document, Document.id == DocumentRestriction.document_id)
        .join(PatientFile, PatientFile.id == Document.patient_file_id)
        .where(
            DocumentRestriction.document_id == Share.document_id,
            Document.author_id != caller_id,
            PatientFile.patient_id != caller_id,
        )
        .correlate(Share)
    )


def set_restriction(
    db: Session,
    caller_id: uuid.UUID,
    document: Document,
    patient_file: PatientFile,
    restricted: bool,
    now: datetime,
) -> datetime | None:
    """The patient restricts the document or lifts it; either twice is once. Returns
    when it was restricted (None once lifted).

    :raises Forbidden: the caller is not the patient of the document's file.
    """
    if caller_id != patient_file.patient_id:
        raise Forbidden("only the patient of this document's file can restrict it or lift that")
    since = restricted_since(db, document.id)
    if not restricted:
        db.execute(
            delete(DocumentRestriction).where(DocumentRestriction.document_id == document.id)
        )
        return None
    if since is None:
        since = now
        db.add(DocumentRestriction(document_id=document.id, created_at=now))
        db.flush()
    return since
