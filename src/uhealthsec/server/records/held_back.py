"""A patient's copy held back (R28): an author may make the patient's share of a result
available later, to explain it first, at most 30 days on (PROTOCOL 11.7)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from uhealthsec.crypto.journal import SIGNATURE_FRESHNESS
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.errors import Conflict, Forbidden, InvalidInput
from uhealthsec.server.records.granting import ShareGrant
from uhealthsec.server.records.models import Document, DocumentVersion, PatientFile, Share

#: How long an author may hold a patient's copy back, to explain a result first.
MAX_PATIENT_DELAY = timedelta(days=30)


def check_delays(
    document: Document,
    patient_file: PatientFile,
    grants: Sequence[ShareGrant],
    by: Account,
    now: datetime,
) -> None:
    """A share held back is the patient's, given by the author, signed, in whole
    seconds, from after now to 30 days on.

    :raises InvalidInput: on another share, unsigned, or at another time.
    :raises Forbidden: given by someone else than the author.
    """
    for grant in grants:
        when = grant.available_from
        if when is None:
            continue
        if grant.recipient_id != patient_file.patient_id:
            raise InvalidInput("only the patient's copy can be made available later")
        if by.id != document.author_id:
            raise Forbidden("only the author can make the patient's copy available later")
        if grant.statement is None:
            raise InvalidInput(
                "sign a share statement with the time the patient's copy becomes available"
            )
        if when.microsecond:
            raise InvalidInput("the time the patient's copy becomes available is in seconds")
        if when <= now:
            raise InvalidInput("the time the patient's copy becomes available is past")
        # A device counting 30 days from its own clock, a little ahead, is not refused.
        if when > now + MAX_PATIENT_DELAY + SIGNATURE_FRESHNESS:
            raise InvalidInput(
                "the patient's copy becomes available at most 30 days after it is sent "
                f"(here before {(now + MAX_PATIENT_DELAY).isoformat(timespec='seconds')})"
            )


def refuse_moved_delay(
    db: Session, version: DocumentVersion, grants: Sequence[ShareGrant], now: datetime
) -> None:
    """A date asked for a copy the patient already holds of this version is not
    dropped in silence: refused, since a share once granted stays as it is.

    :raises Conflict: the patient's share of this version is granted with another time.
    """
    for grant in grants:
        if grant.available_from is None:
            continue
        share = db.scalar(
            select(Share).where(
                Share.version_id == version.id, Share.recipient_id == grant.recipient_id
            )
        )
        if (
            share is not None
            and share.usable_at(now)
            and share.available_from != grant.available_from
        ):
            held = share.available_from
            when = "now" if held is None or held <= now else held.isoformat(timespec="seconds")
            raise Conflict(
                f"the patient already has this version, available from {when}: its date "
                "does not change; write a new version to give it another date"
            )


def carry_delay(
    db: Session,
    patient_file: PatientFile,
    previous: DocumentVersion,
    grants: dict[uuid.UUID, ShareGrant],
    now: datetime,
) -> dict[uuid.UUID, ShareGrant]:
    """A new version does not give the patient early what any version before it still
    holds back (whoever writes it: a colleague's version must not release the author's
    result): their share of it waits as long, unless its author set a time."""
    grant = grants.get(patient_file.patient_id)
    if grant is None or grant.available_from is not None:
        return grants
    held = db.scalar(
        select(func.max(Share.available_from)).where(
            Share.document_id == previous.document_id,
            Share.recipient_id == patient_file.patient_id,
            Share.available_from > now,
        )
    )
    if held is None:
        return grants
    return {**grants, grant.recipient_id: replace(grant, available_from=held)}


def refuse_held_back(share: Share, now: datetime) -> None:
    """Nothing of a share its author holds back is served before its time.

    :raises Forbidden: it is held back, with the time (``available_from``).
    """
    if share.available_from is not None and share.available_from > now:
        when = share.available_from.isoformat(timespec="seconds")
        raise Forbidden(
            f"this document is available to you from {when}: its author holds it back "
            "until then, to explain it to you first",
            extra={"available_from": when},
        )


def signed_seconds(when: datetime | None) -> int | None:
    """A signed time: whole seconds since the epoch."""
    return None if when is None else int(when.timestamp())
