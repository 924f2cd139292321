"""Patient files, encrypted documents, versions, shares and revocation. No HTTP here.

The server never holds a document key: it checks who may hold which wrapped key, that
each version is signed by its author with the key the directory publishes, and that
every byte it serves is the byte the author signed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from uhealthsec.crypto import envelope
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.journal import ObjectKind
from uhealthsec.crypto.manifest import (
    NO_PREVIOUS,
    Reader,
    RevocationStatement,
    ShareStatement,
    VersionManifest,
    decode_readers,
    encode_readers,
)
from uhealthsec.crypto.wrap import check_wrapped_key
from uhealthsec.protocol.records import MAX_METADATA_BYTES, MAX_RECIPIENTS
from uhealthsec.server.accounts.models import Account, AccountKind, AccountStatus, Practice
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.addresses import normalize_email
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import (
    Conflict,
    ContentTooLarge,
    Forbidden,
    InvalidInput,
    NotFound,
    PatientNotInformed,
)
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.records.granting import ShareGrant, grant_shares
from uhealthsec.server.records.held_back import (
    carry_delay,
    check_delays,
    refuse_held_back,
    refuse_moved_delay,
    signed_seconds,
)
from uhealthsec.server.records.interfaces import (
    FileRetentionStatus,
    RetentionOfFiles,
    SharingRules,
)
from uhealthsec.server.records.models import (
    Blob,
    Document,
    DocumentVersion,
    PatientFile,
    RevocationStatementRecord,
    Share,
    ShareStatementRecord,
)
from uhealthsec.server.records.restriction import (
    refuse_restricted,
    refuse_restricted_grants,
    restricted_from,
    set_restriction,
)
from uhealthsec.server.records.rewrapping import (
    RewrappedKey,
    forget_expired_keys,
    rewrap_shares,
)
from uhealthsec.server.records.views import (
    DOCUMENT_HEAD_COLUMNS,
    DocumentHead,
    DocumentView,
    document_views,
)
from uhealthsec.server.storage.blobs import BlobMissing, remove_abandoned_spool_files
from uhealthsec.server.storage.db import transaction
from uhealthsec.server.storage.positions import Position


@dataclass(frozen=True)
class SignedRevocation:
    """The revoker's signature of a manifest.RevocationStatement: the reader is the
    account revoked, under its address."""

    #: The document's latest version, as the revoker signed it.
    version: int
    signer_key_index: int
    signature: bytes


def over_quota(quota: int) -> ContentTooLarge:
    return ContentTooLarge(
        f"your uploads would take more than your quota of {quota} bytes "
        "(uploads not attached to a document are removed after an hour)"
    )


@dataclass(frozen=True)
class NewVersion:
    blob_id: uuid.UUID
    envelope_header: bytes
    metadata_envelope: bytes
    signature: bytes
    signer_key_index: int
    shares: Sequence[ShareGrant]
    #: Whom the author signed as readers (the version 2 manifest's list).
    readers: Sequence[Reader] = ()


def stored_manifest(
    document: Document, version: DocumentVersion, content_digest: bytes, previous: bytes
) -> VersionManifest:
    """The manifest a stored version was signed with; ``previous`` is the digest of
    the version before's (unused by a version 1 manifest, which names none)."""
    readers = None if version.readers is None else decode_readers(version.readers)
    return VersionManifest.of_version(
        document_id=document.id,
        version=version.number,
        patient_file_id=document.patient_file_id,
        author_id=version.author_id,
        signer_key_index=version.signer_key_index,
        content_digest=content_digest,
        metadata_envelope=version.metadata_envelope,
        readers=readers,
        previous=previous,
    )


logger = logging.getLogger(__name__)

#: Where a request's session notes the objects it stored for rows not committed yet.
_STORED_OBJECTS = "stored_objects"


def remove_uncommitted_objects(db: Session, ctx: AppContext) -> None:
    """Remove the objects ``db`` stored for rows its request will not commit (it failed
    after the upload's row was written: a copy of it sent at once took its key), so that
    no stored object goes uncounted by the quota; one that cannot be removed now is
    collected with the unfinished uploads."""
    for key in db.info.pop(_STORED_OBJECTS, []):
        try:
            ctx.blobs.delete(key)
        except Exception:  # the store is down too: collect_unfinished_uploads will
            logger.warning("an upload's object could not be removed after its request failed")


class RecordsService:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    # -- patient files --------------------------------------------------------------------

    def open_patient_file(
        self, caller: Account, practice_id: uuid.UUID, patient_email: str
    ) -> PatientFile:
        """The patient's file in the practice, created at first use: only for a patient
        who accepted the practice's invitation, or one the practice invited who has no
        account yet (documents then wait for them: records/pending.py). The refusal is
        the same whether or not the address has an account (no enumeration of who uses
        the service)."""
        accounts = AccountService(self.db, self.ctx)
        accounts.require(caller, practice_id, "records.read")
        patient = self.db.scalar(
            select(Account).where(Account.email == normalize_email(patient_email))
        )
        invited = patient is None or patient.status == AccountStatus.INVITED
        if invited:
            invitations = accounts.open_patient_invitations(caller, practice_id, patient_email)
            patient = accounts.invited_patient(invitations[0]) if invitations else None
        if patient is None or (
            not invited
            and (
                patient.kind != AccountKind.PATIENT
                or patient.status != AccountStatus.ACTIVE
                or practice_id not in accounts.patient_practices(patient.id)
            )
        ):
            raise NotFound(
                "no patient of this practice uses this address; invite the patient first: "
                "their file opens once they accept"
            )
        existing = self.db.scalar(
            select(PatientFile).where(
                PatientFile.practice_id == practice_id, PatientFile.patient_id == patient.id
            )
        )
        current_draft().about_patient(patient.id, practice_id)
        if existing is not None:
            return existing
        patient_file = PatientFile(
            practice_id=practice_id,
            patient_id=patient.id,
            created_by=caller.id,
            created_at=self.ctx.now(),
        )
        self.db.add(patient_file)
        self.db.flush()
        return patient_file

    def patient_files(
        self, caller: Account, practice_id: uuid.UUID, *, archived: bool = False
    ) -> list[tuple[PatientFile, Account, FileRetentionStatus]]:
        """The practice's files with their retention; archived files (no care for
        longer than the practice's active period) only when asked for."""
        AccountService(self.db, self.ctx).require(caller, practice_id, "records.read")
        rows = self.db.execute(
            select(PatientFile, Account)
            .join(Account, Account.id == PatientFile.patient_id)
            .where(PatientFile.practice_id == practice_id)
            .order_by(Account.display_name)
        ).all()
        statuses = self.ctx.find(RetentionOfFiles, self.db).statuses([f for f, _ in rows])
        listed = [
            (f, a, statuses[f.id]) for f, a in rows if archived or not statuses[f.id].archived
        ]
        for patient_file, _, _ in listed:  # the list tells who is a patient here
            current_draft().about_patient(patient_file.patient_id, practice_id)
        return listed

    def retention(self, patient_file: PatientFile) -> FileRetentionStatus:
        """The file's legal retention, as retention (above records) reckons it."""
        return self.ctx.find(RetentionOfFiles, self.db).statuses([patient_file])[patient_file.id]

    def patient_file(self, caller: Account, patient_file_id: uuid.UUID) -> PatientFile:
        """A file of the caller's practice (records.read), journaled as about its
        patient before the check: a patient sees refused attempts too."""
        patient_file = self.db.get(PatientFile, patient_file_id)
        if patient_file is None:
            raise NotFound("no such patient file")
        current_draft().about_patient(patient_file.patient_id, patient_file.practice_id)
        AccountService(self.db, self.ctx).require(caller, patient_file.practice_id, "records.read")
        return patient_file

    def files_of_patient(self, caller: Account) -> list[tuple[PatientFile, Practice]]:
        """The practices that hold a file about the caller (patients)."""
        rows = self.db.execute(
            select(PatientFile, Practice)
            .join(Practice, Practice.id == PatientFile.practice_id)
            .where(PatientFile.patient_id == caller.id)
            .order_by(Practice.name)
        ).all()
        return [(f, p) for f, p in rows]

    # -- uploads --------------------------------------------------------------------------

    def upload_allowance(self, owner: Account) -> int:
        """The bytes ``owner`` may still upload: the quota less what their uploads
        occupy in the store (attached or not); refused at once when nothing is left."""
        quota = self.ctx.settings.account_upload_quota_bytes
        used = self.db.scalar(
            select(func.coalesce(func.sum(Blob.size), 0)).where(Blob.owner_id == owner.id)
        )
        left = quota - int(used or 0)
        if left <= 0:
            raise over_quota(quota)
        return left

    def store_upload(self, owner: Account, path: Path, size: int, sha256: bytes) -> Blob:
        """Keep a spooled upload within the owner's quota: the object is written first,
        then its row; if the row cannot be written, or parallel uploads of the owner
        took what was left, the object is removed again."""
        blob = Blob(
            id=uuid.uuid4(), owner_id=owner.id, size=size, sha256=sha256, created_at=self.ctx.now()
        )
        self.ctx.blobs.put_file(blob.key, path)
        try:
            # One account's uploads are counted one at a time: this write takes the
            # account's row lock on PostgreSQL and the write lock on SQLite (after the
            # object is stored, so that a long copy holds no lock).
            self.db.execute(update(Account).where(Account.id == owner.id).values(id=Account.id))
            if size > self.upload_allowance(owner):
                raise over_quota(self.ctx.settings.account_upload_quota_bytes)
            self.db.add(blob)
            self.db.flush()
        except Exception:
            self.ctx.blobs.delete(blob.key)
            raise
        # Removed again if the request fails after this (remove_uncommitted_objects).
        self.db.info.setdefault(_STORED_OBJECTS, []).append(blob.key)
        return blob

    def collect_unfinished_uploads(self) -> int:
        """Remove uploads never attached to a version, once older than the expiry, and
        objects of the store that no row knows (left by a crash between the object and
        its row, or between a purge's commit and its deletions), once as old, the
        store's unfinished multipart uploads once as old, and spool files no live
        process holds."""
        cutoff = self.ctx.now() - timedelta(seconds=self.ctx.settings.upload_expiry_seconds)
        stale = self.db.scalars(
            select(Blob).where(Blob.attached_at.is_(None), Blob.created_at < cutoff)
        ).all()
        for blob in stale:
            self.ctx.blobs.delete(blob.key)
            self.db.delete(blob)
        self.db.flush()
        removed = len(stale)
        known = {b.hex for b in self.db.scalars(select(Blob.id))}
        # Only old ones: a fresh object may belong to an upload whose row is not
        # committed yet.
        for key in list(self.ctx.blobs.keys(written_before=cutoff)):
            if key not in known:
                self.ctx.blobs.delete(key)
                removed += 1
        # Multipart uploads a killed process left on S3: invisible to keys().
        removed += self.ctx.blobs.abort_unfinished_uploads(started_before=cutoff)
        # Spool files of uploads a crash interrupted (any age: none is held).
        removed += remove_abandoned_spool_files(self.ctx.settings.upload_dir)
        return removed

    # -- documents and versions -----------------------------------------------------------

    def create_document(
        self, caller: Account, document_id: uuid.UUID, patient_file_id: uuid.UUID, first: NewVersion
    ) -> DocumentVersion:
        patient_file = self.patient_file(caller, patient_file_id)
        if caller.kind != AccountKind.PRACTITIONER:
            raise Forbidden("only practitioners add documents to a patient file")
        # One answer wherever the id is used, and for a concurrent request taking it
        # first: a refusal tells nothing about documents of other files or practices.
        taken = InvalidInput("this document id cannot be used: a new document takes a new id")
        if self.db.get(Document, document_id) is not None:
            raise taken
        document = Document(
            id=document_id,
            patient_file_id=patient_file.id,
            author_id=caller.id,
            created_at=self.ctx.now(),
            latest_version=1,
        )
        # No savepoint: a refusal rolls the whole request back.
        self.db.add(document)
        try:
            self.db.flush()
        except IntegrityError as exc:
            raise taken from exc
        self.ctx.find(RetentionOfFiles, self.db).reopen(patient_file)
        # The new document's id is in no path: named here, so that its history names it.
        current_draft().note(ObjectKind.DOCUMENT, document_id)
        return self._add_version(caller, document, patient_file, 1, first, previous=None)

    def add_version(
        self, caller: Account, document_id: uuid.UUID, number: int, new: NewVersion
    ) -> DocumentVersion:
        """A new version, under a new key, for the people who can read the latest one."""
        document, patient_file = self._readable_document(caller, document_id, lock=True)
        if caller.kind != AccountKind.PRACTITIONER:
            raise Forbidden("only practitioners write new versions")
        latest = self._version(document, document.latest_version)
        if self._active_share(latest.id, caller.id) is None:
            raise Forbidden("you cannot read the latest version, so you cannot replace it")
        if number != document.latest_version + 1:
            raise Conflict(
                f"the latest version is {document.latest_version}: "
                "fetch it again before writing a new one"
            )
        document.latest_version = number
        return self._add_version(caller, document, patient_file, number, new, previous=latest)

    def _add_version(
        self,
        caller: Account,
        document: Document,
        patient_file: PatientFile,
        number: int,
        new: NewVersion,
        previous: DocumentVersion | None,
    ) -> DocumentVersion:
        # Held until commit: an upload is attached once, and a second request giving it
        # to another document at the same time finds it attached, as a later one would.
        blob = self.db.get(Blob, new.blob_id, with_for_update=True, populate_existing=True)
        if blob is None or blob.owner_id != caller.id or blob.attached_at is not None:
            raise InvalidInput("unknown upload: upload the document's envelope first")
        self._check_envelope(blob, new)
        readers = self._check_signature(
            caller, document, patient_file, number, blob, new, self._manifest_digest(previous)
        )
        grants = self._check_grants(new.shares, patient_file, caller)
        refuse_restricted_grants(self.db, document, patient_file, grants)
        check_delays(document, patient_file, list(grants.values()), caller, self.ctx.now())
        # As signed: a delay carried from the previous version below is the server's.
        signed = list(grants.values())
        if caller.id not in grants:
            raise InvalidInput("wrap the document key for yourself too, or you could not read it")
        if unsigned := set(grants) - {r.account_id for r in new.readers}:
            raise InvalidInput(
                f"{len(unsigned)} recipient(s) are not in the readers you signed: "
                "sign the list of everyone you encrypt to"
            )
        if previous is not None:
            reading = {share.recipient_id for share in self._active_shares(previous.id)}
            allowed = reading | self._never_ended(document, patient_file)
            if extra := set(grants) - allowed - {caller.id}:
                raise Forbidden(
                    f"{len(extra)} recipient(s) cannot read the previous version; "
                    "share with them explicitly"
                )
            if caller.id != document.author_id:
                # Leaving out the author or the patient would end their access to the
                # document as it is now: only the author may do that.
                kept = {document.author_id, patient_file.patient_id} & reading
                if kept - set(grants):
                    raise Forbidden(
                        "a new version keeps the author's and the patient's access: "
                        "wrap its key for them too"
                    )
                grants = self._carry_expiries(document, patient_file, previous, grants)
            grants = carry_delay(self.db, patient_file, previous, grants, self.ctx.now())
        if caller.id == document.author_id:
            self._refuse_ending(document, patient_file, list(grants.values()), caller)
        version = DocumentVersion(
            document_id=document.id,
            number=number,
            author_id=caller.id,
            blob_id=blob.id,
            envelope_header=new.envelope_header,
            metadata_envelope=new.metadata_envelope,
            signature=new.signature,
            signer_key_index=new.signer_key_index,
            created_at=self.ctx.now(),
            readers=readers,
        )
        self.db.add(version)
        self.db.flush()
        blob.attached_at = self.ctx.now()
        self._store_statements(caller, document, version, signed)
        grant_shares(self.db, self.ctx.now(), document, version, list(grants.values()), caller)
        self.db.flush()
        return version

    def _never_ended(self, document: Document, patient_file: PatientFile) -> set[uuid.UUID]:
        """The author and the patient, if they received some version of the document
        and no one revoked that share: an expiry (which an older server let any reader
        set) does not take them out of the readers of the next version."""
        return set(
            self.db.scalars(
                select(Share.recipient_id)
                .where(
                    Share.document_id == document.id,
                    Share.recipient_id.in_([document.author_id, patient_file.patient_id]),
                    Share.active(),
                )
                .distinct()
            )
        )

    def _carry_expiries(
        self,
        document: Document,
        patient_file: PatientFile,
        previous: DocumentVersion,
        grants: dict[uuid.UUID, ShareGrant],
    ) -> dict[uuid.UUID, ShareGrant]:
        """A new version written by a reader gives the author and the patient the
        expiry of their share of the previous version (only ever the author's, see
        _refuse_ending), and none if they had none: whatever the reader asked."""
        carried = dict(grants)
        for recipient_id in {document.author_id, patient_file.patient_id} & set(grants):
            expires_at = self.db.scalar(
                select(Share.expires_at).where(
                    Share.version_id == previous.id, Share.recipient_id == recipient_id
                )
            )
            carried[recipient_id] = replace(grants[recipient_id], expires_at=expires_at)
        return carried

    @staticmethod
    def _refuse_ending(
        document: Document, patient_file: PatientFile, grants: Sequence[ShareGrant], by: Account
    ) -> None:
        """Only the author gives the patient's access an end; the author's has none."""
        for grant in grants:
            if grant.expires_at is None:
                continue
            if grant.recipient_id == document.author_id:
                raise InvalidInput("the author's own access does not expire")
            if grant.recipient_id == patient_file.patient_id and by.id != document.author_id:
                raise Forbidden("only the author can give the patient's access an end")

    def _check_envelope(self, blob: Blob, new: NewVersion) -> None:
        if len(new.envelope_header) != envelope.HEADER_SIZE:
            raise InvalidInput("an envelope header is 78 bytes")
        if len(new.metadata_envelope) > MAX_METADATA_BYTES:
            raise InvalidInput(f"the metadata envelope is larger than {MAX_METADATA_BYTES} bytes")
        try:
            envelope.EnvelopeHeader.parse(new.envelope_header[: envelope.HEADER_FIELDS_SIZE])
            envelope.EnvelopeHeader.parse(new.metadata_envelope[: envelope.HEADER_FIELDS_SIZE])
        except CryptoError as exc:
            raise InvalidInput(f"not a document envelope: {exc}") from exc
        if blob.size < envelope.HEADER_SIZE + envelope.TAG_SIZE:
            raise InvalidInput("the upload is too short to be an envelope")
        stored = self.ctx.blobs.read_prefix(blob.key, envelope.HEADER_SIZE)
        if stored != new.envelope_header:
            raise InvalidInput("the envelope header does not match the uploaded envelope")

    def _check_signature(
        self,
        caller: Account,
        document: Document,
        patient_file: PatientFile,
        number: int,
        blob: Blob,
        new: NewVersion,
        previous: bytes,
    ) -> bytes:
        """Check the author's version 2 manifest, readers and previous manifest's
        digest included; the readers, encoded as signed, to be stored and served with
        the version. New versions name their readers: a version 1 manifest is only
        read, for existing data."""
        try:
            readers = encode_readers(new.readers)
        except CryptoError as exc:
            raise InvalidInput(f"the signed reader list is malformed: {exc}") from exc
        self._check_addresses(new.readers)
        manifest = VersionManifest.of_version(
            document_id=document.id,
            version=number,
            patient_file_id=patient_file.id,
            author_id=caller.id,
            signer_key_index=new.signer_key_index,
            content_digest=blob.sha256,
            metadata_envelope=new.metadata_envelope,
            readers=tuple(new.readers),
            previous=previous,
        )
        KeyDirectory(self.db, self.ctx).check_signature(
            caller, new.signer_key_index, manifest, new.signature
        )
        return readers

    def _manifest_digest(self, latest: DocumentVersion | None) -> bytes:
        """SHA-256 of the manifest ``latest`` was signed with (NO_PREVIOUS for none),
        which the next version's manifest chains to: rebuilt from version 1 up, since
        each version 2 manifest holds the digest of the one before."""
        digest = NO_PREVIOUS
        if latest is None:
            return digest
        document = self.db.get(Document, latest.document_id)
        assert document is not None
        rows = self.db.execute(
            select(DocumentVersion, Blob.sha256)
            .join(Blob, Blob.id == DocumentVersion.blob_id)
            .where(
                DocumentVersion.document_id == latest.document_id,
                DocumentVersion.number <= latest.number,
            )
            .order_by(DocumentVersion.number)
        ).all()
        for version, sha256 in rows:
            digest = stored_manifest(document, version, sha256, digest).digest()
        return digest

    def _check_addresses(self, readers: Sequence[Reader]) -> None:
        """Each signed reader is named by the address of their account: a client that
        signed a wrong pairing learns it here, not from a refused reader later."""
        addresses = dict(
            self.db.execute(
                select(Account.id, Account.email).where(
                    Account.id.in_([r.account_id for r in readers])
                )
            ).all()
        )
        for reader in readers:
            address = addresses.get(reader.account_id)
            if address is None or address != normalize_email(reader.email):
                raise InvalidInput(
                    f"the signed reader {reader.email} is not that account's address"
                )

    def _store_statements(
        self,
        caller: Account,
        document: Document,
        version: DocumentVersion,
        grants: Sequence[ShareGrant],
    ) -> None:
        """Keep the sharer's signed statement for each recipient the author did not sign
        as a reader of this version (required: the next author takes nobody else)."""
        signed = (
            {r.account_id for r in decode_readers(version.readers)} if version.readers else set()
        )
        stated = [g for g in grants if g.statement is not None]
        if any(g.statement is None and g.recipient_id not in signed for g in grants):
            raise InvalidInput(
                "sign a share statement for each person the author did not list as reader"
            )
        if not stated:
            return
        # Each check and write below covers every recipient at once: a constant number
        # of statements whatever their number.
        readers = [
            Reader(g.recipient_id, g.statement.recipient_email) for g in stated if g.statement
        ]
        self._check_addresses(readers)
        KeyDirectory(self.db, self.ctx).check_signatures(
            caller,
            [
                (
                    g.statement.signer_key_index,
                    ShareStatement(
                        document.id,
                        version.number,
                        caller.id,
                        g.statement.signer_key_index,
                        r,
                        signed_seconds(g.available_from),
                    ),
                    g.statement.signature,
                )
                for g, r in zip(stated, readers, strict=True)
                if g.statement
            ],
        )
        kept = {
            record.recipient_id: record
            for record in self.db.scalars(
                select(ShareStatementRecord).where(
                    ShareStatementRecord.version_id == version.id,
                    ShareStatementRecord.recipient_id.in_([r.account_id for r in readers]),
                )
            )
        }
        for grant, reader in zip(stated, readers, strict=True):
            assert grant.statement is not None
            record = kept.get(reader.account_id) or ShareStatementRecord(
                version_id=version.id, recipient_id=reader.account_id
            )
            record.recipient_email = reader.email
            record.granter_id = caller.id
            record.signer_key_index = grant.statement.signer_key_index
            record.signature = grant.statement.signature
            record.available_from = grant.available_from
            record.created_at = self.ctx.now()
            self.db.add(record)

    def _check_grants(
        self, grants: Sequence[ShareGrant], patient_file: PatientFile, caller: Account
    ) -> dict[uuid.UUID, ShareGrant]:
        """Well-formed grants to active accounts that the patient's directives allow
        (CSP L1110-4); the caller's own copy is not sharing."""
        if not 1 <= len(grants) <= MAX_RECIPIENTS:
            raise InvalidInput(f"a document is shared with 1 to {MAX_RECIPIENTS} people at once")
        by_recipient: dict[uuid.UUID, ShareGrant] = {}
        names: dict[uuid.UUID, str] = {}
        consent = self.ctx.find(SharingRules, self.db)
        # Only the columns the checks read: an account row also holds its keystore.
        accounts = {
            a.id: a
            for a in self.db.execute(
                select(Account.id, Account.status, Account.kind, Account.display_name).where(
                    Account.id.in_({g.recipient_id for g in grants})
                )
            )
        }
        for grant in grants:
            if grant.recipient_id in by_recipient:
                raise InvalidInput("each recipient appears once")
            try:
                check_wrapped_key(grant.wrapped_key)
            except CryptoError as exc:
                raise InvalidInput(f"a wrapped key is malformed: {exc}") from exc
            if grant.expires_at is not None and grant.expires_at <= self.ctx.now():
                raise InvalidInput("a share cannot expire in the past")
            recipient = accounts.get(grant.recipient_id)
            if recipient is None or recipient.status != AccountStatus.ACTIVE:
                raise NotFound("a recipient has no active account")
            if recipient.kind == AccountKind.PATIENT and recipient.id != patient_file.patient_id:
                raise Forbidden("a patient receives only documents of their own file")
            by_recipient[grant.recipient_id] = grant
            names[recipient.id] = recipient.display_name
        others = [r for r in by_recipient if r != caller.id]
        rulings = consent.rulings(patient_file, others)
        # Each recipient asked about, not each answer: one the rules say nothing of is
        # refused, never shared to by default.
        for recipient_id in others:
            ruling = rulings.get(recipient_id)
            if ruling is None:
                raise Forbidden(
                    f"{names[recipient_id]}: no ruling on the patient's directives "
                    "(CSP L1110-4) for this recipient"
                )
            if not ruling.allowed:
                refusal = PatientNotInformed if ruling.awaits_information else Forbidden
                raise refusal(f"{names[recipient_id]}: {ruling.reason}")
        return by_recipient

    # -- sharing --------------------------------------------------------------------------

    def share(
        self, caller: Account, document_id: uuid.UUID, number: int, grants: Sequence[ShareGrant]
    ) -> list[Share]:
        """Give more people one version: the caller unwrapped its key and wrapped it anew."""
        document, patient_file = self._readable_document(caller, document_id, lock=True)
        if caller.kind != AccountKind.PRACTITIONER:
            raise Forbidden("only practitioners share documents")
        version = self._version(document, number)
        if self._active_share(version.id, caller.id) is None:
            raise Forbidden("you cannot read this version, so you cannot share it")
        checked = self._check_grants(grants, patient_file, caller)
        refuse_restricted_grants(self.db, document, patient_file, checked)
        check_delays(document, patient_file, list(checked.values()), caller, self.ctx.now())
        refuse_moved_delay(self.db, version, list(checked.values()), self.ctx.now())
        self._refuse_revoked(document, checked)
        self._refuse_ending(document, patient_file, list(checked.values()), caller)
        self._store_statements(caller, document, version, list(checked.values()))
        # As for a new version: no share gives the patient early what the author holds back.
        checked = carry_delay(self.db, patient_file, version, checked, self.ctx.now())
        grant_shares(self.db, self.ctx.now(), document, version, list(checked.values()), caller)
        self.db.flush()
        return self._active_shares(version.id)

    def _refuse_revoked(self, document: Document, grants: dict[uuid.UUID, ShareGrant]) -> None:
        """No share to someone revoked at the latest version: the two signed statements
        would bear the same version, and readers let the revocation win (PROTOCOL
        11.4). Giving them access again takes a new version first."""
        revoked = self.db.scalar(
            select(func.count()).where(
                RevocationStatementRecord.document_id == document.id,
                RevocationStatementRecord.version == document.latest_version,
                RevocationStatementRecord.reader_id.in_(list(grants)),
            )
        )
        if revoked:
            raise Conflict(
                f"{revoked} recipient(s) had their access to version "
                f"{document.latest_version} revoked: write a new version before sharing "
                "with them again"
            )

    def revoke(
        self,
        caller: Account,
        document_id: uuid.UUID,
        recipient_id: uuid.UUID,
        signed: SignedRevocation,
    ) -> int:
        """End someone's access to every version at once: their wrapped keys are erased,
        so even the server's copy of the data no longer serves them a key, and the
        revoker's signed statement is kept and served, so that the next author leaves
        them out whoever the server lists (PROTOCOL 11.3).

        The author and the admins of the patient's practice end any share; another
        reader ends only the shares they granted. The author's and the patient's access
        is ended by no one but the author (the author's own never: retention and erasure
        aside), so a reader can never take a document away from either of them. The
        statement says the reader no longer reads the latest version: a revocation that
        would leave them a share of it is refused."""
        document, patient_file = self._document(document_id, "no such document", lock=True)
        shares = self.db.scalars(
            select(Share).where(
                Share.document_id == document_id,
                Share.recipient_id == recipient_id,
                Share.active(),
            )
        ).all()
        is_author = caller.id == document.author_id
        ends_any = is_author or AccountService(self.db, self.ctx).is_admin(
            caller.id, patient_file.practice_id
        )
        ending = list(shares) if ends_any else [s for s in shares if s.granted_by == caller.id]
        if not ends_any and not ending:
            if self._active_share_any(document.id, caller.id):
                raise Forbidden(
                    "only the author, whoever shared it or the practice's admin can end this access"
                )
            raise NotFound("no such document")
        if not ends_any:  # a reader it is restricted from learns nothing of it, changes nothing
            refuse_restricted(self.db, document, patient_file, caller.id)
        if recipient_id == document.author_id:
            raise Forbidden("the author's own access cannot be ended")
        if recipient_id == patient_file.patient_id and not is_author:
            raise Forbidden("only the author can end the patient's access to a document")
        if not ending:
            raise NotFound("this person has no access to this document")
        if signed.version != document.latest_version:
            raise Conflict(
                f"the latest version is {document.latest_version}: sign the revocation for it",
                extra={"latest_version": document.latest_version},
            )
        account = self.db.get(Account, recipient_id)
        assert account is not None  # they hold shares
        statement = RevocationStatement(
            document.id,
            signed.version,
            caller.id,
            signed.signer_key_index,
            Reader(account.id, account.email),
        )
        KeyDirectory(self.db, self.ctx).check_signature(
            caller, signed.signer_key_index, statement, signed.signature
        )
        for share in ending:
            share.end(self.ctx.now(), caller.id, "revoked")
        self.db.flush()
        latest = self._version(document, document.latest_version)
        if not self._active_shares(latest.id):
            raise Forbidden("this would leave no one able to read the document")
        if self._active_share(latest.id, recipient_id) is not None:
            raise Forbidden(
                "this person also reads the latest version through a share someone else "
                "gave: only the author or the practice's admin can end their access"
            )
        record = self.db.scalar(
            select(RevocationStatementRecord).where(
                RevocationStatementRecord.document_id == document.id,
                RevocationStatementRecord.version == statement.version,
                RevocationStatementRecord.reader_id == recipient_id,
                RevocationStatementRecord.revoker_id == caller.id,
            )
        ) or RevocationStatementRecord(
            document_id=document.id,
            version=statement.version,
            reader_id=recipient_id,
            revoker_id=caller.id,
        )
        # One statement per revoker: another's (an admin's, which clients do not count)
        # must not replace one the next author counts.
        record.reader_email = statement.reader.email
        record.signer_key_index = statement.signer_key_index
        record.signature = signed.signature
        record.created_at = self.ctx.now()
        self.db.add(record)
        self.db.flush()
        return len(ending)

    # -- restriction (R28) ----------------------------------------------------------------

    def restrict(
        self, caller: Account, document_id: uuid.UUID, restricted: bool
    ) -> datetime | None:
        """The patient restricts one document of their file to themselves and its author,
        or lifts that (restriction.py); returns since when it is restricted.

        :raises NotFound: the document is not the caller's to know of.
        :raises Forbidden: the caller reads it but is not its patient.
        """
        missing = "no such document, or you have no access to it"
        # Locked: two restrictions at once make one.
        document, patient_file = self._document(document_id, missing, lock=True)
        if caller.id != patient_file.patient_id and not self._active_share_any(
            document.id, caller.id
        ):
            raise NotFound(missing)
        return set_restriction(
            self.db, caller.id, document, patient_file, restricted, self.ctx.now()
        )

    # -- reading --------------------------------------------------------------------------

    def view(self, caller: Account, document_id: uuid.UUID) -> DocumentView:
        document, patient_file = self._readable_document(caller, document_id)
        return self._views(caller, [DocumentHead.of(document, patient_file)])[0]

    def _views(self, caller: Account, documents: Sequence[DocumentHead]) -> list[DocumentView]:
        return document_views(self.db, caller.id, documents, self.ctx.now())

    def inbox(
        self,
        caller: Account,
        limit: int,
        after: Position | None = None,
        offset: int = 0,
        patient_file_id: uuid.UUID | None = None,
    ) -> tuple[list[DocumentView], Position | None]:
        """Documents the caller can read, most recently changed first: the page after
        ``after`` (or ``offset`` documents), and where the next page starts if there may
        be one; with ``patient_file_id``, only that file's. A constant number of
        statements, whatever the page or the inbox."""
        # Each document once, at the newest version the caller holds a key for: their
        # shares newest first, each kept if it is the newest one of its document they
        # hold. Both read an index of the caller's active shares (the second one row,
        # as a subquery per row: joined, a planner may read all of them), so a page
        # reads about its own rows, whatever the pages before it.
        now = self.ctx.now()
        newer = aliased(Share)
        newest_of_document = (
            select(newer.id)
            .where(
                newer.recipient_id == caller.id,
                newer.document_id == Share.document_id,
                Share.usable(now, newer),
            )
            .order_by(newer.version_created_at.desc(), newer.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        listing = (
            select(Share.document_id, Share.version_created_at)
            .where(
                Share.recipient_id == caller.id,
                Share.usable(now),
                Share.id == newest_of_document,
            )
            .order_by(Share.version_created_at.desc(), Share.document_id.desc())
            .limit(limit)
        )
        if after is not None:  # keyset: no page re-reads the pages before it
            listing = listing.where(after.before(Share.version_created_at, Share.document_id))
        if offset:
            listing = listing.offset(offset)
        # Left out, not listed with a refusal: a listing names nothing of them (R28).
        listing = listing.where(~restricted_from(caller.id))
        if patient_file_id is not None:  # the file's documents, by their index
            listing = listing.where(
                Share.document_id.in_(
                    select(Document.id).where(Document.patient_file_id == patient_file_id)
                )
            )
        page = self.db.execute(listing).all()
        found = {
            row[0]: DocumentHead(*row)
            for row in self.db.execute(
                select(*DOCUMENT_HEAD_COLUMNS)
                .join(PatientFile, PatientFile.id == Document.patient_file_id)
                .where(Document.id.in_([document_id for document_id, _ in page]))
            )
        }
        documents = [found[document_id] for document_id, _ in page]
        for document in documents:
            current_draft().about_patient(document.patient_id, document.practice_id)
        following = Position(page[-1][1], page[-1][0]) if len(page) == limit else None
        return self._views(caller, documents), following

    def content(self, caller: Account, document_id: uuid.UUID, number: int) -> Blob:
        """The envelope of one version, if the caller still holds a key for it."""
        document, _ = self._readable_document(caller, document_id)
        version = self._version(document, number)
        share = self._active_share(version.id, caller.id)
        if share is None:
            raise Forbidden("you no longer have access to this version")
        refuse_held_back(share, self.ctx.now())
        blob = self.db.get(Blob, version.blob_id)
        assert blob is not None
        return blob

    def mark_read(self, caller: Account, document_id: uuid.UUID, number: int) -> None:
        """The caller's read receipt of one version they can read: its first time only.

        :raises NotFound: no such document for the caller, or no such version.
        :raises Forbidden: the caller holds no key for that version any more, or its
            author still holds it back from them.
        """
        document, _ = self._readable_document(caller, document_id)
        version = self._version(document, number)
        share = self._active_share(version.id, caller.id)
        if share is None:
            raise Forbidden("you no longer have access to this version")
        # No receipt of what its author still holds back: it cannot have been read.
        refuse_held_back(share, self.ctx.now())
        # Set in one statement, never moved: of two receipts, the first stays.
        self.db.execute(
            update(Share)
            .where(Share.id == share.id, Share.read_at.is_(None))
            .values(read_at=self.ctx.now())
            .execution_options(synchronize_session="fetch")
        )

    def rewrap_mine(self, caller: Account, keys: Sequence[RewrappedKey]) -> int:
        """The caller's own wrapped keys replaced after a rotation (rewrapping.py)."""
        return rewrap_shares(self.db, self.ctx.now(), caller, keys)

    def forget_ended_keys(self, account_id: uuid.UUID) -> int:
        """auth.interfaces.FormerKeyCopies (rewrapping.py)."""
        return forget_expired_keys(self.db, self.ctx.now(), account_id)

    # -- helpers --------------------------------------------------------------------------

    def _usable(self) -> ColumnElement[bool]:
        return Share.usable(self.ctx.now())

    def _active_shares(self, version_id: uuid.UUID) -> list[Share]:
        return list(
            self.db.scalars(
                select(Share).where(Share.version_id == version_id, self._usable())
            ).all()
        )

    def _active_share(self, version_id: uuid.UUID, account_id: uuid.UUID) -> Share | None:
        return self.db.scalar(
            select(Share).where(
                Share.version_id == version_id,
                Share.recipient_id == account_id,
                self._usable(),
            )
        )

    def _active_share_any(self, document_id: uuid.UUID, account_id: uuid.UUID) -> bool:
        return (
            self.db.scalar(
                select(Share.id)
                .where(
                    Share.document_id == document_id,
                    Share.recipient_id == account_id,
                    self._usable(),
                )
                .limit(1)
            )
            is not None
        )

    def _readable_document(
        self, caller: Account, document_id: uuid.UUID, *, lock: bool = False
    ) -> tuple[Document, PatientFile]:
        """The document, if the caller can read some version of it; otherwise the same
        answer as for a document that does not exist."""
        missing = "no such document, or you have no access to it"
        document, patient_file = self._document(document_id, missing, lock=lock)
        if not self._active_share_any(document.id, caller.id):
            raise NotFound(missing)
        refuse_restricted(self.db, document, patient_file, caller.id)
        return document, patient_file

    def _document(
        self, document_id: uuid.UUID, missing: str, *, lock: bool = False
    ) -> tuple[Document, PatientFile]:
        """The document and its patient file, journaled as about that patient before
        any access check: a patient sees refused attempts too. ``lock`` holds the
        document's row until commit: a new version, a share and a revocation each
        decide on the latest version, which must not change under them."""
        document = self.db.get(
            Document, document_id, with_for_update=lock or None, populate_existing=lock
        )
        if document is None:
            raise NotFound(missing)
        patient_file = self.db.get(PatientFile, document.patient_file_id)
        assert patient_file is not None
        current_draft().about_patient(patient_file.patient_id, patient_file.practice_id)
        return document, patient_file

    def _version(self, document: Document, number: int) -> DocumentVersion:
        version = self.db.scalar(
            select(DocumentVersion).where(
                DocumentVersion.document_id == document.id, DocumentVersion.number == number
            )
        )
        if version is None:
            raise NotFound(f"this document has no version {number}")
        return version


def missing_content(ctx: AppContext) -> list[Blob]:
    """Blobs the database lists whose object the store no longer holds (lost by the
    store, a restore that missed them, an operator's deletion): ``uhs-server cleanup --check``.

    A row is written only once its object is stored, so every row read before the store
    is listed has its object, unless lost. Each object absent from the listing is asked
    for once more, and its row read again in a new transaction, so that a purge running
    meanwhile (which commits the row's removal, then deletes the object) is not taken
    for a loss."""
    with transaction(ctx.sessions) as db:
        listed = {blob.id: blob for blob in db.scalars(select(Blob))}
    stored = set(ctx.blobs.keys())
    absent = [blob for blob in listed.values() if blob.key not in stored]
    lost = []
    for blob in absent:
        try:
            ctx.blobs.read_prefix(blob.key, 1)
            continue
        except BlobMissing:
            pass
        with transaction(ctx.sessions) as db:
            if db.get(Blob, blob.id) is not None:
                lost.append(blob)
    return lost
