"""What relates a viewer to the owner of a directory entry, read from documents and
threads: the key directory's reach rule (keys/service.py, ``_may_see``) asks it
through ``keys.interfaces.Acquaintances``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, exists
from sqlalchemy.orm import aliased

from uhealthsec.server.messaging.models import Message, MessageKey, ThreadParticipant
from uhealthsec.server.records.models import (
    Document,
    DocumentVersion,
    PatientFile,
    RevocationStatementRecord,
    Share,
    ShareStatementRecord,
)


class DirectoryReach:
    """Implements ``keys.interfaces.Acquaintances``."""

    def reads_files_of(
        self, viewer_id: uuid.UUID, patient_id: uuid.UUID | ColumnElement[uuid.UUID], at: datetime
    ) -> ColumnElement[bool]:
        """Shared with her consent: the viewer must be able to write a new version or
        share to her."""
        return exists().where(
            Share.recipient_id == viewer_id,
            Share.usable(at),
            Share.document_id == Document.id,
            Document.patient_file_id == PatientFile.id,
            PatientFile.patient_id == patient_id,
        )

    def shares_a_thread(
        self, viewer_id: uuid.UUID, owner_id: uuid.UUID | ColumnElement[uuid.UUID]
    ) -> ColumnElement[bool]:
        # One level of tables, no IN subquery: the owner may be a column of the query
        # this condition sits in (a batched lookup), which only one level correlates to.
        theirs = aliased(ThreadParticipant)
        return exists().where(
            ThreadParticipant.account_id == viewer_id,
            theirs.thread_id == ThreadParticipant.thread_id,
            theirs.account_id == owner_id,
        )

    def received_signed_with(
        self, viewer_id: uuid.UUID, index: int
    ) -> Sequence[ColumnElement[bool]]:
        """A document version, a share or revocation statement (section 11.3) or a
        message signed with this key."""
        document = exists().where(
            Share.recipient_id == viewer_id,
            Share.document_id == DocumentVersion.document_id,
            DocumentVersion.signer_key_index == index,
        )
        statement = exists().where(
            Share.recipient_id == viewer_id,
            Share.document_id == DocumentVersion.document_id,
            ShareStatementRecord.version_id == DocumentVersion.id,
            ShareStatementRecord.signer_key_index == index,
        )
        revocation = exists().where(
            Share.recipient_id == viewer_id,
            Share.document_id == RevocationStatementRecord.document_id,
            RevocationStatementRecord.signer_key_index == index,
        )
        message = exists().where(
            MessageKey.recipient_id == viewer_id,
            MessageKey.message_id == Message.id,
            Message.signer_key_index == index,
        )
        return [document, statement, revocation, message]
