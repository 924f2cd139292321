"""A reader's own wrapped keys replaced after a rotation (docs/PROTOCOL.md, 10.6): the
copies the former keys open are overwritten with the same document keys, wrapped again
on the reader's device to their current keys, so a thief of the former keys finds none
of them here any more."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.journal import ObjectKind
from uhealthsec.crypto.wrap import check_wrapped_key
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.errors import InvalidInput, NotFound
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.records.models import Document, DocumentVersion, PatientFile, Share


@dataclass(frozen=True)
class RewrappedKey:
    """One version's document key, wrapped again by its reader to their current keys."""

    document_id: uuid.UUID
    number: int
    wrapped_key: bytes


def rewrap_shares(db: Session, now: datetime, caller: Account, keys: Sequence[RewrappedKey]) -> int:
    """Replace the caller's own wrapped keys of the versions named; only their own,
    still usable, shares change; all or none. Returns how many were replaced.

    :raises InvalidInput: a version named twice, or a wrapped key malformed.
    :raises NotFound: a version the caller cannot read (no such document, version,
        or access): the same answer for each, and nothing is written.
    """
    wanted: dict[tuple[uuid.UUID, int], bytes] = {}
    for key in keys:
        if (key.document_id, key.number) in wanted:
            raise InvalidInput("each version appears once")
        try:
            check_wrapped_key(key.wrapped_key)
        except CryptoError as exc:
            raise InvalidInput(f"a wrapped key is malformed: {exc}") from exc
        wanted[(key.document_id, key.number)] = key.wrapped_key
    rows = db.execute(
        select(Share, DocumentVersion.number, PatientFile.patient_id, PatientFile.practice_id)
        .join(DocumentVersion, DocumentVersion.id == Share.version_id)
        .join(Document, Document.id == Share.document_id)
        .join(PatientFile, PatientFile.id == Document.patient_file_id)
        .where(
            Share.recipient_id == caller.id,
            Share.document_id.in_({document_id for document_id, _ in wanted}),
            Share.usable(now),
        )
        .with_for_update(of=Share)
    ).all()
    found = {
        (share.document_id, number): (share, patient, practice)
        for share, number, patient, practice in rows
    }
    for document_id, number in wanted:
        if (document_id, number) not in found:
            raise NotFound(
                f"document {document_id}, version {number}: no such version, or you "
                "have no access to it"
            )
    draft = current_draft()
    for place, wrapped_key in wanted.items():
        share, patient_id, practice_id = found[place]
        share.wrapped_key = wrapped_key
        draft.about_patient(patient_id, practice_id)
        draft.note(ObjectKind.DOCUMENT, share.document_id)
    db.flush()
    return len(wanted)


def forget_expired_keys(db: Session, now: datetime, account_id: uuid.UUID) -> int:
    """Erase the account's wrapped keys of shares that expired (they are served to no
    one, so no client re-wraps them). The share stays, with whoever granted it, who may
    grant it again (granting.py)."""
    result = db.execute(
        update(Share)
        .where(
            Share.recipient_id == account_id,
            Share.wrapped_key.is_not(None),
            Share.revoked_at.is_(None),
            Share.expires_at.is_not(None),
            Share.expires_at <= now,
        )
        .values(wrapped_key=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
