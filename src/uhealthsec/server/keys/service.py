"""The key directory: every account's public keys as entries of a verifiable log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from uhealthsec.crypto.directory import AccountKindCode, DirectoryEntry
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.keys import PublicKeys
from uhealthsec.server.accounts.models import Account, AccountKind
from uhealthsec.server.audit.middleware import current_draft
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import InvalidInput, NotFound
from uhealthsec.server.keys.models import DirectoryRecord
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
        return self._proven(viewer, record, tree_size)

    def entry(self, viewer: Account, index: int, tree_size: int) -> ProvenEntry:
        return self._proven(viewer, self.db.get(DirectoryRecord, index), tree_size)

    def _proven(
        self, viewer: Account, record: DirectoryRecord | None, tree_size: int
    ) -> ProvenEntry:
        if record is None or not self._may_see(viewer, record) or record.log_index >= tree_size:
            raise NotFound("no keys are published for this address")
        owner = self.db.get(Account, record.account_id)
        if owner is not None and owner.kind == AccountKind.PATIENT and owner.id != viewer.id:
            # Who is a patient here is health data: the read goes to their history.
            current_draft().about_patient(owner.id, None)
        return ProvenEntry(record, tree_size, self.log.inclusion_proof(record.log_index, tree_size))

    def _may_see(self, viewer: Account, record: DirectoryRecord) -> bool:
        """Practitioners are listed for everyone; a patient's entry is shown only to
        practitioners and to the patient: who is a patient here is health data."""
        if viewer.kind == AccountKind.PRACTITIONER or record.account_id == viewer.id:
            return True
        owner = self.db.get(Account, record.account_id)
        return owner is not None and owner.kind == AccountKind.PRACTITIONER

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
