"""Erasure (GDPR art. 17, R17): of one practice's file on request, and of a patient's
whole account by its owner. No HTTP here.

Both answer per category what was erased and what is kept, with the legal ground and
the last day it is kept (protocol.consent.ErasureItem). What a file must keep under
art. 17(3)(b) and (c) (its medical retention, CSP R1112-7 and R15) stays with it and
is destroyed by the retention purge when its day comes; everything else goes at once,
in the transaction of the request: an error leaves everything as it was.

Deleting an account leaves a row with no name, no address, no password, no keys and
the status ``deleted``: what must be kept (a file inside its retention, the journal,
the key directory) names the account by its id, which then designates no one through
this service. The key directory's entries stay (its log is append-only and its
entries prove what the account signed) and are recorded as revoked; the address they
hold can therefore never be registered again (accounts/service.py, RETIRED_ADDRESS).
The journal is never rewritten (R14): it names the account by its id only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from uhealthsec.crypto.journal import ObjectKind
from uhealthsec.protocol.accounts import AccountKind
from uhealthsec.protocol.consent import (
    ErasureCategory,
    ErasureItem,
    ErasureOutcome,
    KeptBasis,
)
from uhealthsec.server.accounts.interfaces import KeyPublication
from uhealthsec.server.accounts.models import (
    Account,
    AccountStatus,
    EmailVerification,
    Invitation,
    Membership,
)
from uhealthsec.server.auth.models import (
    AuthenticatorUnblock,
    AuthorizationCode,
    FactorBudget,
    LoginFlow,
    PasswordRecovery,
    RecoveryCode,
    RefreshToken,
    TotpCredential,
    WebAuthnChallenge,
    WebAuthnCredential,
)
from uhealthsec.server.auth.models import Session as SignInSession
from uhealthsec.server.auth.service import Principal, SessionService
from uhealthsec.server.consent.models import ConsentDirective, PatientInformation, RightsRequest
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import Conflict, Forbidden
from uhealthsec.server.federation.models import FederatedIdentity
from uhealthsec.server.idempotency.models import KeptAnswer
from uhealthsec.server.idempotency.service import forget_patient_file
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.keys.models import DirectoryMisses
from uhealthsec.server.mail.models import OutboxMail
from uhealthsec.server.records.models import Document, PatientFile, PendingShare, Share
from uhealthsec.server.retention.interfaces import Correspondence
from uhealthsec.server.retention.models import FileRetention
from uhealthsec.server.retention.service import FileStatus, RetentionService
from uhealthsec.server.search.models import SearchDocument, SearchEntry, SearchIndex

#: Why the key directory lists the account's keys as revoked.
ACCOUNT_DELETED = "account-deleted"
#: What a deleted account is called where a kept record shows its participant.
DELETED_NAME = "Compte supprimé"

_RETENTION = (
    "Kept under GDPR art. 17(3)(b) and (c): the medical file's legal retention "
    "(CSP R1112-7) requires it"
)
_JOURNAL = (
    "Kept under GDPR art. 17(3)(b), 5(2) and 32: the journal of accesses is kept as long "
    "as the data it concerns and is never rewritten; it names the account by an "
    "identifier only, which no longer designates anyone here"
)
_DIRECTORY = (
    "Kept under GDPR art. 17(3)(b) and 32: the key directory is an append-only, "
    "verifiable log; its entries (address, public keys) stay, recorded as revoked, so "
    "that what the account signed stays verifiable; no lookup answers them any more"
)
_IN_USE = (
    "Kept: an erasure request to a practice leaves your account; delete the account to erase it"
)


@dataclass
class Erasure:
    """What an erasure did, per category, and what is left to do after its commit."""

    items: list[ErasureItem] = field(default_factory=list)
    #: Blobs to remove once the transaction that destroyed their keys has committed.
    blob_keys: list[str] = field(default_factory=list)
    #: Practices whose file keeps data: the conversations they hold stay.
    kept_practices: set[uuid.UUID] = field(default_factory=set)
    #: The last day a kept file is kept, for the journal's line (None: unknown).
    kept_until: list[date | None] = field(default_factory=list)

    def erased(
        self, category: ErasureCategory, practice_id: uuid.UUID | None, count: int | None
    ) -> None:
        self.items.append(
            ErasureItem(
                category=category,
                practice_id=practice_id,
                outcome=ErasureOutcome.ERASED,
                count=count,
                reason="Erased.",
            )
        )

    def kept(
        self,
        category: ErasureCategory,
        practice_id: uuid.UUID | None,
        basis: KeptBasis,
        reason: str,
        kept_until: date | None,
        count: int | None = None,
    ) -> None:
        self.items.append(
            ErasureItem(
                category=category,
                practice_id=practice_id,
                outcome=ErasureOutcome.KEPT,
                count=count,
                basis=basis,
                kept_until=kept_until,
                reason=reason,
            )
        )

    def to_json(self) -> str:
        return json.dumps([item.model_dump(mode="json") for item in self.items])


def items_of(stored: str | None) -> list[ErasureItem] | None:
    """The items a rights request keeps (``RightsRequest.erasure_items``)."""
    if stored is None:
        return None
    return [ErasureItem.model_validate(item) for item in json.loads(stored)]


def last_day_kept(status: FileStatus) -> date | None:
    """The last day the file is kept: the eve of the first day it may be destroyed."""
    if status.destroyable_from is None:
        return None
    return status.destroyable_from - timedelta(days=1)


def retention_words(status: FileStatus) -> str:
    until = last_day_kept(status)
    if until is None:
        return f"{_RETENTION}, for now: its end is {status.end.explanation}."
    return (
        f"{_RETENTION}, until {until.isoformat()}; the retention purge erases it from "
        f"{(until + timedelta(days=1)).isoformat()}."
    )


class ErasureService:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx
        self.retention = RetentionService(db, ctx)

    # -- one practice's file, on request ------------------------------------------------

    def erase_file(self, patient_file: PatientFile, status: FileStatus) -> Erasure:
        """Erase what the file may lose (its retention ended, or it holds nothing to
        keep): documents and conversations (crypto-shredded) and the dates its
        retention depended on; the account's own data stays (the patient deletes it
        themselves). The caller decided the file is not kept (``status``)."""
        erasure = Erasure()
        self._erase_file_contents(erasure, patient_file, status)
        practice = patient_file.practice_id
        for category in (ErasureCategory.CONSENTS, ErasureCategory.RIGHTS_REQUESTS):
            erasure.kept(category, practice, KeptBasis.ACCOUNT_IN_USE, _IN_USE, None)
        erasure.kept(ErasureCategory.IDENTITY, None, KeptBasis.ACCOUNT_IN_USE, _IN_USE, None)
        erasure.kept(ErasureCategory.JOURNAL, None, KeptBasis.JOURNAL, _JOURNAL + ".", None)
        return erasure

    def kept_file(self, patient_file: PatientFile, status: FileStatus) -> Erasure:
        """What a refused erasure keeps, and until when."""
        erasure = Erasure()
        self._keep_file(erasure, patient_file, status, with_account_data=False)
        erasure.kept(ErasureCategory.IDENTITY, None, KeptBasis.ACCOUNT_IN_USE, _IN_USE, None)
        erasure.kept(
            ErasureCategory.JOURNAL,
            None,
            KeptBasis.JOURNAL,
            f"{_JOURNAL}, as long as the file.",
            last_day_kept(status),
        )
        return erasure

    # -- the whole account, by its owner ------------------------------------------------

    def preview(self, patient: Account) -> Erasure:
        """What deleting the account would erase and keep today (nothing is written)."""
        self._require_patient(patient)
        erasure = Erasure()
        for patient_file, status in self._files(patient):
            if self._is_kept(status):
                erasure.kept_practices.add(patient_file.practice_id)
                self._keep_file(erasure, patient_file, status, with_account_data=True)
            else:
                self._preview_file(erasure, patient_file, status)
        self._account_lines(erasure, counts=None)
        return erasure

    def delete_account(self, principal: Principal) -> Erasure:
        """Delete the caller's account: a patient, who proved a second factor in the
        last few minutes (R9). Everything is decided and done in this transaction."""
        patient = principal.account
        self._require_patient(patient)
        SessionService(self.db, self.ctx).require_recent_mfa(principal)
        # Held until commit: a second deletion at once waits, then finds it deleted.
        locked = self.db.get(Account, patient.id, with_for_update=True, populate_existing=True)
        if locked is None or locked.status == AccountStatus.DELETED:
            raise Conflict("this account is already deleted")
        erasure = Erasure()
        files = self._files(patient)
        for patient_file, status in files:
            if self._is_kept(status):
                erasure.kept_practices.add(patient_file.practice_id)
        for patient_file, status in files:
            current_draft().about_patient(patient.id, patient_file.practice_id)
            if patient_file.practice_id in erasure.kept_practices:
                self._keep_file(erasure, patient_file, status, with_account_data=True)
                continue
            self._erase_file_contents(erasure, patient_file, status)
            self._erase_account_data_of(erasure, patient.id, patient_file.practice_id)
        current_draft().about_patient(patient.id, None)
        self._account_lines(erasure, counts=self._erase_account(erasure, patient))
        return erasure

    # -- helpers ------------------------------------------------------------------------

    @staticmethod
    def _require_patient(account: Account) -> None:
        if account.kind != AccountKind.PATIENT:
            raise Forbidden(
                "only a patient deletes their own account here; a professional's account "
                "is closed by the operator, as the practice's records it signed require"
            )

    def _files(self, patient: Account) -> list[tuple[PatientFile, FileStatus]]:
        files = list(
            self.db.scalars(
                select(PatientFile)
                .where(PatientFile.patient_id == patient.id)
                .order_by(PatientFile.created_at, PatientFile.id)
            ).all()
        )
        statuses = self.retention.statuses(files)
        return [(f, statuses[f.id]) for f in files]

    def _is_kept(self, status: FileStatus) -> bool:
        """The file holds documents or conversations its retention still requires."""
        return status.holds_data and not status.due(self.retention.today())

    def _keep_file(
        self,
        erasure: Erasure,
        patient_file: PatientFile,
        status: FileStatus,
        *,
        with_account_data: bool,
    ) -> None:
        practice, until = patient_file.practice_id, last_day_kept(status)
        words = retention_words(status)
        erasure.kept_until.append(until)
        documents = self._count(Document.id, Document.patient_file_id == patient_file.id)
        kept: list[tuple[ErasureCategory, int | None]] = [(ErasureCategory.DOCUMENTS, documents)]
        if status.has_threads:
            kept.append((ErasureCategory.CONVERSATIONS, None))
        kept.append((ErasureCategory.RETENTION_FACTS, None))
        if with_account_data:
            # The file's sharing stays governed by what the patient said (an objection
            # stays in force), and the practice shows it answered their requests.
            kept.append((ErasureCategory.CONSENTS, self._directives(patient_file)))
            kept.append((ErasureCategory.RIGHTS_REQUESTS, self._requests(patient_file)))
        for category, count in kept:
            erasure.kept(category, practice, KeptBasis.MEDICAL_FILE, words, until, count)

    def _preview_file(
        self, erasure: Erasure, patient_file: PatientFile, status: FileStatus
    ) -> None:
        practice = patient_file.practice_id
        documents = self._count(Document.id, Document.patient_file_id == patient_file.id)
        erasure.erased(ErasureCategory.DOCUMENTS, practice, documents)
        # How many is known once destroyed (a thread another file holds stays).
        erasure.erased(ErasureCategory.CONVERSATIONS, practice, None if status.has_threads else 0)
        erasure.erased(ErasureCategory.RETENTION_FACTS, practice, None)
        erasure.erased(ErasureCategory.CONSENTS, practice, self._directives(patient_file))
        erasure.erased(ErasureCategory.RIGHTS_REQUESTS, practice, self._requests(patient_file))

    def _erase_file_contents(
        self, erasure: Erasure, patient_file: PatientFile, status: FileStatus
    ) -> None:
        """Shred the file's documents and conversations (if any) and erase its dates."""
        practice = patient_file.practice_id
        shredded = (
            self.retention.shred_if_due(patient_file.id, self.retention.today())
            if status.holds_data
            else None
        )
        if status.holds_data and shredded is None:
            # Decided due a moment ago, but another worker holds it or a date changed.
            raise Conflict("this file is being changed; try again in a moment")
        documents = shredded.due.documents if shredded else 0
        threads = shredded.threads if shredded else []
        if shredded is not None:
            erasure.blob_keys.extend(shredded.blob_keys)
        for thread_id in threads:
            current_draft().note(ObjectKind.THREAD, thread_id)
        erasure.erased(ErasureCategory.DOCUMENTS, practice, documents)
        erasure.erased(ErasureCategory.CONVERSATIONS, practice, len(threads))
        record = self.db.get(FileRetention, patient_file.id)
        if record is not None:
            # The dates served the file's end only; a file with nothing to keep needs none.
            record.born_on = record.died_on = record.last_care_on = None
            record.suspended_days = 0
            record.updated_at = self.ctx.now()
        erasure.erased(ErasureCategory.RETENTION_FACTS, practice, None)
        # The answers kept for retries of writes about the file name the patient (a file
        # opened by address answers the name and address), whether or not it held data.
        forget_patient_file(self.db, patient_file.patient_id, practice)
        self.db.flush()

    def _erase_account_data_of(
        self, erasure: Erasure, patient_id: uuid.UUID, practice_id: uuid.UUID
    ) -> None:
        """The consents and rights requests about one practice's file, which keeps
        nothing: the account's own data there."""
        directives, requests = DeletedAccountRemnants(self.db, self.ctx).erase_with_file(
            patient_id, practice_id
        )
        erasure.erased(ErasureCategory.CONSENTS, practice_id, directives)
        erasure.erased(ErasureCategory.RIGHTS_REQUESTS, practice_id, requests)

    def _erase_account(self, erasure: Erasure, patient: Account) -> dict[ErasureCategory, int]:
        """What belongs to the account itself: conversations no kept file holds, the
        keys wrapped for it, its ways to sign in, its name and address."""
        account_id = patient.id
        correspondence = self.ctx.find(Correspondence, self.db)
        threads = correspondence.destroy_threads_of_file(account_id, None, erasure.kept_practices)
        for thread_id in threads:
            current_draft().note(ObjectKind.THREAD, thread_id)
        keys = self._delete(Share, Share.recipient_id == account_id)
        keys += correspondence.forget_reader(account_id)
        sessions = select(SignInSession.id).where(SignInSession.account_id == account_id)
        self.db.execute(delete(RefreshToken).where(RefreshToken.session_id.in_(sessions)))
        sign_in = self._delete(SignInSession, SignInSession.account_id == account_id)
        # The account's encrypted search index (its tokens and document lists).
        indexes = select(SearchIndex.id).where(SearchIndex.owner_id == account_id)
        self._delete(SearchEntry, SearchEntry.index_id.in_(indexes))
        self._delete(SearchDocument, SearchDocument.index_id.in_(indexes))
        self._delete(SearchIndex, SearchIndex.owner_id == account_id)
        for model in (
            LoginFlow,
            AuthorizationCode,
            TotpCredential,
            WebAuthnCredential,
            WebAuthnChallenge,
            RecoveryCode,
            FactorBudget,
            AuthenticatorUnblock,
            PasswordRecovery,
            EmailVerification,
            KeptAnswer,
            Membership,
            DirectoryMisses,
            FederatedIdentity,
        ):
            sign_in += self._delete(model, model.account_id == account_id)
        # Shares waiting for the patient to join, then the invitations they hang on.
        sign_in += self._delete(PendingShare, PendingShare.patient_id == account_id)
        sign_in += self._delete(Invitation, Invitation.email == patient.email)
        # Mail to the address, sent or waiting: the outbox would keep the address.
        self._delete(OutboxMail, OutboxMail.recipient == patient.email)
        directory = self.ctx.find(KeyPublication, self.db)
        entries = directory.revoke(patient, ACCOUNT_DELETED)
        # The row stays, empty: kept records name it by its id (RESTRICT keys).
        patient.email = f"{account_id}@deleted.invalid"
        patient.display_name = DELETED_NAME
        patient.status = AccountStatus.DELETED
        patient.password_hash = ""
        patient.keystore = b""
        patient.public_keys = b""
        patient.key_fingerprint = b""
        patient.declared_rpps = None
        patient.email_verified_at = None
        self.db.flush()
        return {
            ErasureCategory.CONVERSATIONS: len(threads),
            ErasureCategory.KEYS: keys,
            ErasureCategory.SIGN_IN: sign_in,
            ErasureCategory.KEY_DIRECTORY: entries,
        }

    @staticmethod
    def _account_lines(erasure: Erasure, counts: dict[ErasureCategory, int] | None) -> None:
        """The lines about the account itself (``counts`` None: a preview)."""

        def count(category: ErasureCategory) -> int | None:
            return counts.get(category) if counts is not None else None

        if erasure.kept_practices:
            # Conversations no kept file holds go with the account.
            erasure.erased(
                ErasureCategory.CONVERSATIONS, None, count(ErasureCategory.CONVERSATIONS)
            )
        erasure.erased(ErasureCategory.IDENTITY, None, None)
        erasure.erased(ErasureCategory.SIGN_IN, None, count(ErasureCategory.SIGN_IN))
        erasure.erased(ErasureCategory.KEYS, None, count(ErasureCategory.KEYS))
        erasure.kept(
            ErasureCategory.KEY_DIRECTORY,
            None,
            KeptBasis.KEY_DIRECTORY,
            _DIRECTORY + ".",
            None,
            count(ErasureCategory.KEY_DIRECTORY),
        )
        until = _latest(erasure.kept_until)
        erasure.kept(
            ErasureCategory.JOURNAL,
            None,
            KeptBasis.JOURNAL,
            f"{_JOURNAL}, as long as the files kept." if erasure.kept_until else _JOURNAL + ".",
            until,
        )

    def _directives(self, patient_file: PatientFile) -> int:
        """The patient's directives and the records that they were informed (R11): what
        they said and were told about the file's sharing, one category."""
        return self._count(
            ConsentDirective.id,
            ConsentDirective.patient_id == patient_file.patient_id,
            ConsentDirective.practice_id == patient_file.practice_id,
        ) + self._count(
            PatientInformation.id,
            PatientInformation.patient_id == patient_file.patient_id,
            PatientInformation.practice_id == patient_file.practice_id,
        )

    def _requests(self, patient_file: PatientFile) -> int:
        return self._count(
            RightsRequest.id,
            RightsRequest.patient_id == patient_file.patient_id,
            RightsRequest.practice_id == patient_file.practice_id,
        )

    def _count(self, column: object, *where: object) -> int:
        return int(self.db.scalar(select(func.count(column)).where(*where)) or 0)  # type: ignore[arg-type]

    def _delete(self, model: type, *where: object) -> int:
        return _delete(self.db, model, *where)


class DeletedAccountRemnants:
    """retention.interfaces.AccountRemnants: a deleted patient's consents (with the
    records that they were informed) and rights requests about one practice's file,
    erased with the file's contents."""

    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db

    def erase_with_file(self, patient_id: uuid.UUID, practice_id: uuid.UUID) -> tuple[int, int]:
        directives = _delete(
            self.db,
            ConsentDirective,
            ConsentDirective.patient_id == patient_id,
            ConsentDirective.practice_id == practice_id,
        ) + _delete(
            self.db,
            PatientInformation,
            PatientInformation.patient_id == patient_id,
            PatientInformation.practice_id == practice_id,
        )
        requests = _delete(
            self.db,
            RightsRequest,
            RightsRequest.patient_id == patient_id,
            RightsRequest.practice_id == practice_id,
        )
        return directives, requests


def _delete(db: Session, model: type, *where: object) -> int:
    result = db.execute(delete(model).where(*where))  # type: ignore[arg-type]
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _latest(days: Iterable[date | None]) -> date | None:
    """The latest of the days, or None if one is unknown (or none given)."""
    days = list(days)
    if not days or any(d is None for d in days):
        return None
    return max(d for d in days if d is not None)
