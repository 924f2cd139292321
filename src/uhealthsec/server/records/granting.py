"""Shares given: who receives a version's key, checked and written for all recipients
at once (a constant number of statements, whatever their number)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from uhealthsec.server.accounts.models import Account
from uhealthsec.server.errors import Forbidden
from uhealthsec.server.records.models import Document, DocumentVersion, Share


@dataclass(frozen=True)
class SignedShare:
    """The sharer's signature of a manifest.ShareStatement for one recipient."""

    recipient_email: str
    signer_key_index: int
    signature: bytes


@dataclass(frozen=True)
class ShareGrant:
    recipient_id: uuid.UUID
    wrapped_key: bytes
    expires_at: datetime | None = None
    #: Required when sharing with someone the version's author did not sign as reader.
    statement: SignedShare | None = None
    #: The patient's share held back until then (R28), as signed in ``statement``.
    available_from: datetime | None = None


def grant_shares(
    db: Session,
    now: datetime,
    document: Document,
    version: DocumentVersion,
    grants: Sequence[ShareGrant],
    by: Account,
) -> None:
    """New shares. A share once granted is never replaced by another grant: a usable
    one stays as it is (its key, grantor and expiry), so a reader cannot swap the
    author's or the patient's key for garbage; one that ended is granted anew only by
    the author or by whoever ended it (expired: whoever granted it). The existing
    shares are read in one statement, the new ones written in one."""
    existing = {
        share.recipient_id: share
        for share in db.scalars(
            select(Share).where(
                Share.version_id == version.id,
                Share.recipient_id.in_([g.recipient_id for g in grants]),
            )
        )
    }
    for grant in grants:
        share = existing.get(grant.recipient_id)
        if share is None:
            db.add(
                Share(
                    document_id=document.id,
                    version_id=version.id,
                    recipient_id=grant.recipient_id,
                    wrapped_key=grant.wrapped_key,
                    granted_by=by.id,
                    created_at=now,
                    expires_at=grant.expires_at,
                    available_from=grant.available_from,
                    version_created_at=version.created_at,
                    # Whoever wrote the version has read it: never new to them.
                    read_at=now if grant.recipient_id == version.author_id else None,
                )
            )
            continue
        if share.usable_at(now):
            continue  # already readable: the original grant stays untouched
        ended_by = share.revoked_by if share.revoked_at is not None else share.granted_by
        if by.id not in (document.author_id, ended_by):
            raise Forbidden(
                "this person's access to this version was ended by someone else; "
                "only the author or whoever ended it can give it again"
            )
        share.wrapped_key = grant.wrapped_key
        share.granted_by = by.id
        share.created_at = now
        share.expires_at = grant.expires_at
        share.available_from = grant.available_from
        share.revoked_at = share.revoked_by = share.end_reason = None
