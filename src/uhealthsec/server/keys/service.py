"""The key directory: every account's public keys as entries of a verifiable log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar, Protocol

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from uhealthsec.crypto.directory import AccountKindCode, DirectoryEntry
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.keys import PublicKeys
from uhealthsec.server.accounts.models import Account, AccountKind, Membership, Role
from uhealthsec.server.audit.middleware import current_draft
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import InvalidInput, NotFound
from uhealthsec.server.keys.models import DirectoryRecord
from uhealthsec.server.messaging.models import Message, MessageKey
from uhealthsec.server.records.models import DocumentVersion, Share, ShareStatementRecord
from uhealthsec.server.storage.merkle_log import (
    KEY_DIRECTORY_LOG,
    MerkleLog,
)

_KIND_CODES = {
    AccountKind.PRACTITIONER: AccountKindCode.PRACTITIONER,
    AccountKind.PATIENT: AccountKindCode.PATIENT,
}


class SignedByAccount(Protocol):
    """A manifest (crypto/manifest.py) that a user signs."""

    what: ClassVar[str]

    def verify(self, signing_key: bytes, signature: bytes) -> None: ...


@dataclass(frozen=True)
class ProvenEntry:
    record: DirectoryRecord
    tree_size: int
    proof: list[bytes]


class KeyDirectory:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx
        self.log = MerkleLog(db, KEY_DIRECTORY_LOG, ctx.log_key, int(ctx.now().timestamp() * 1000))

    def publish(self, account: Account) -> DirectoryRecord:
        """Append the account's current keys to the log (at activation, at key rotation)."""
        versions = self.db.scalar(
            select(func.count()).where(DirectoryRecord.account_id == account.id)
        )
        entry = DirectoryEntry(
            account_id=account.id,
            key_version=(versions or 0) + 1,
            kind=_KIND_CODES[AccountKind(account.kind)],
            email=account.email,
            bundle=account.public_keys,
        ).encode()
        index = self.log.append([entry])
        record = DirectoryRecord(
            log_index=index,
            account_id=account.id,
            key_version=(versions or 0) + 1,
            email=account.email,
            entry=entry,
            created_at=self.ctx.now(),
        )
        self.db.add(record)
        self.db.flush()
        self.log.sign_head()
        return record

    def lookup(self, viewer: Account, email: str, tree_size: int) -> ProvenEntry:
        """The newest keys of an address, with their inclusion proof in a tree of
        ``tree_size`` entries."""
        record = self.db.scalar(
            select(DirectoryRecord)
            .where(DirectoryRecord.email == email.strip().lower())
            .where(DirectoryRecord.log_index < tree_size)
            .order_by(DirectoryRecord.key_version.desc())
            .limit(1)
        )
        return self._proven(viewer, record, tree_size, by_index=False)

    def entry(self, viewer: Account, index: int, tree_size: int) -> ProvenEntry:
        """One entry by position: for a reader checking what was signed with it, and for
        monitors, who audit the whole log."""
        return self._proven(viewer, self.db.get(DirectoryRecord, index), tree_size, by_index=True)

    def _proven(
        self, viewer: Account, record: DirectoryRecord | None, tree_size: int, *, by_index: bool
    ) -> ProvenEntry:
        # One answer for "no such entry" and "not yours to see": no enumeration oracle.
        if (
            record is None
            or record.log_index >= tree_size
            or not self._may_see(viewer, record, by_index=by_index)
        ):
            raise NotFound("no keys are published for this address")
        owner = self.db.get(Account, record.account_id)
        if owner is not None and owner.kind == AccountKind.PATIENT and owner.id != viewer.id:
            # Who is a patient here is health data: the read goes to their history.
            current_draft().about_patient(owner.id, None)
        return ProvenEntry(record, tree_size, self.log.inclusion_proof(record.log_index, tree_size))

    def is_monitor(self, account: Account) -> bool:
        """Monitors are the accounts the operator lists (setting UHS_DIRECTORY_MONITORS)."""
        return account.email in {m.strip().lower() for m in self.ctx.settings.directory_monitors}

    def _may_see(self, viewer: Account, record: DirectoryRecord, *, by_index: bool) -> bool:
        """Who is a patient here is health data, and the log must not be a list of who
        uses the service (docs/PROTOCOL.md, section 10):

        - a patient's entry, to the patient and to the staff of a practice they joined;
        - a practitioner's entry, by address to any signed-in account (a colleague must
          be able to write to them), by index only to colleagues of a common practice;
        - any entry, by index, to whoever holds a document or message signed with it;
        - every entry to monitors.
        """
        if record.account_id == viewer.id or self.is_monitor(viewer):
            return True
        owner = self.db.get(Account, record.account_id)
        if owner is None:
            return False
        if owner.kind == AccountKind.PATIENT:
            if self._is_staff_of_practice_joined_by(viewer.id, owner.id):
                return True
        elif not by_index or self._share_a_practice(viewer.id, owner.id):
            return True
        return by_index and self._holds_signed_with(viewer.id, record.log_index)

    def _is_staff_of_practice_joined_by(self, viewer_id: uuid.UUID, patient_id: uuid.UUID) -> bool:
        joined = select(Membership.practice_id).where(
            Membership.account_id == patient_id, Membership.role == Role.PATIENT
        )
        return bool(
            self.db.scalar(
                select(
                    exists().where(
                        Membership.account_id == viewer_id,
                        Membership.role != Role.PATIENT,
                        Membership.practice_id.in_(joined),
                    )
                )
            )
        )

    def _share_a_practice(self, viewer_id: uuid.UUID, owner_id: uuid.UUID) -> bool:
        of_owner = select(Membership.practice_id).where(Membership.account_id == owner_id)
        return bool(
            self.db.scalar(
                select(
                    exists().where(
                        Membership.account_id == viewer_id, Membership.practice_id.in_(of_owner)
                    )
                )
            )
        )

    def _holds_signed_with(self, viewer_id: uuid.UUID, index: int) -> bool:
        """The viewer received a document with a version or a share statement signed
        with this key (the next author checks both), or a message signed with it."""
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
        message = exists().where(
            MessageKey.recipient_id == viewer_id,
            MessageKey.message_id == Message.id,
            Message.signer_key_index == index,
        )
        return any(self.db.scalar(select(held)) for held in (document, statement, message))

    def check_signature(
        self, signer: Account, signer_key_index: int, signed: SignedByAccount, signature: bytes
    ) -> None:
        """Refuse unless ``signature`` is ``signer``'s, made with the key the directory
        publishes for them now (the index is what readers will check it against)."""
        current = self.current_version(signer.id)
        if current is None or current.log_index != signer_key_index:
            raise InvalidInput("sign with your current key, as published in the key directory")
        try:
            signed.verify(PublicKeys.decode(signer.public_keys).signing, signature)
        except CryptoError as exc:
            raise InvalidInput(f"the signature does not match this {signed.what}") from exc

    def current_version(self, account_id: uuid.UUID) -> DirectoryRecord | None:
        return self.db.scalar(
            select(DirectoryRecord)
            .where(DirectoryRecord.account_id == account_id)
            .order_by(DirectoryRecord.key_version.desc())
            .limit(1)
        )
