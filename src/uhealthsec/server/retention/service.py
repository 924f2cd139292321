"""Legal retention of patient files (CSP R1112-7) and their destruction. No HTTP here.

Destruction is crypto-shredding: every wrapped key of the file's documents is deleted
with the rows that describe them, in one transaction, and only then are the
encrypted blobs removed from the store. A copy of a blob that survives somewhere (a
backup, an object store's old version) is ciphertext under a key no one holds any
more.

A destruction decided by a date recorded less than a grace period ago waits (the
dry run lists it with the day it may go), so that a second person can correct a wrong
date before anything is lost; recording those dates is the practice admin's or a
treating practitioner's act, checked for plausibility and journaled.

The purge runs one file per transaction and takes the file's row with SKIP LOCKED,
so several workers can run it at once; a file already destroyed, or no longer due
(a claim was opened meanwhile), is skipped, so running it twice changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from uhealthsec.crypto.journal import NOBODY, JournalEntry, ObjectKind, Outcome
from uhealthsec.server.accounts.models import Account, AccountKind, AccountStatus
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.audit.outbox import stage_entry
from uhealthsec.server.audit.writer import PendingEntry
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import Conflict, Forbidden, InvalidInput
from uhealthsec.server.idempotency.service import forget_patient_file
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.records.models import Blob, Document, DocumentVersion, PatientFile, Share
from uhealthsec.server.retention.interfaces import AccountRemnants, Correspondence
from uhealthsec.server.retention.models import (
    DEFAULT_ARCHIVE_AFTER_YEARS,
    FileRetention,
    RetentionPolicy,
)
from uhealthsec.server.retention.rules import (
    DEFAULT_YEARS,
    RetentionEnd,
    RetentionFacts,
    add_years,
    retention_end,
)
from uhealthsec.server.storage.db import upsert

#: The range a practice may choose; 20 years unless it decides otherwise.
MIN_YEARS, MAX_YEARS = 10, 100
PURGE_ACTION = "retention.purge"
#: Files read at once by the purge.
DUE_BATCH = 500


@dataclass(frozen=True)
class FileStatus:
    patient_file: PatientFile
    facts: RetentionFacts
    end: RetentionEnd
    #: Out of the daily views: the last care is older than the practice's active period.
    archived: bool
    shredded_at: datetime | None
    has_documents: bool
    #: It holds correspondence with the patient (messaging/retention.py).
    has_threads: bool
    #: The first day the file may be destroyed: the day after its end, or later while
    #: the grace period of a recently recorded date runs; None while the end is unknown.
    destroyable_from: date | None

    @property
    def last_care_on(self) -> date:
        return self.facts.last_care_on

    @property
    def keep_until(self) -> date | None:
        return self.end.keep_until

    @property
    def holds_data(self) -> bool:
        """Something the end of retention destroys: documents, or correspondence not
        yet destroyed with the file (a thread another practice's file still holds
        outlives this one's destruction, and is not taken for new data)."""
        return self.has_documents or (self.has_threads and self.shredded_at is None)

    def due(self, today: date) -> bool:
        """Documents or messages to destroy, and nothing left to wait for."""
        return (
            self.holds_data and self.destroyable_from is not None and today >= self.destroyable_from
        )


@dataclass(frozen=True)
class DueFile:
    """A file whose retention has ended (what a dry run lists)."""

    patient_file_id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    keep_until: date
    basis: str
    documents: int
    bytes: int
    #: Later than the day after ``keep_until`` while a recently recorded date's grace
    #: period runs: the purge leaves the file alone until then.
    destroyable_from: date


@dataclass(frozen=True)
class Shredded:
    due: DueFile
    #: Blob objects to remove once the transaction that deleted their keys committed.
    blob_keys: list[str]
    #: Threads destroyed with the file (messaging/retention.py).
    threads: list[uuid.UUID] = field(default_factory=list)


class RetentionService:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    def today(self) -> date:
        # UTC's date is never later than France's: a file is never destroyed early.
        return self.ctx.now().date()

    # -- the practice's policy ------------------------------------------------------------

    def policy(self, practice_id: uuid.UUID) -> RetentionPolicy:
        return self.db.get(RetentionPolicy, practice_id) or RetentionPolicy(
            practice_id=practice_id,
            years=DEFAULT_YEARS,
            archive_after_years=DEFAULT_ARCHIVE_AFTER_YEARS,
            updated_at=self.ctx.now(),
        )

    def set_policy(
        self, caller: Account, practice_id: uuid.UUID, years: int, archive_after_years: int
    ) -> RetentionPolicy:
        AccountService(self.db, self.ctx).require(caller, practice_id, "members.invite")
        if not MIN_YEARS <= years <= MAX_YEARS:
            raise InvalidInput(f"a retention period is {MIN_YEARS} to {MAX_YEARS} years")
        if not 1 <= archive_after_years <= years:
            raise InvalidInput("files are archived after 1 year at least, and before their end")
        policy = self.db.get(RetentionPolicy, practice_id)
        if policy is None:
            policy = RetentionPolicy(practice_id=practice_id)
            self.db.add(policy)
        policy.years = years
        policy.archive_after_years = archive_after_years
        policy.updated_at = self.ctx.now()
        self.db.flush()
        return policy

    # -- one file -------------------------------------------------------------------------

    def of_my_files(self, patient: Account) -> list[FileStatus]:
        """The retention of every file held about the caller (their own view: GDPR
        art. 15(1)(d), how long their data is kept), journaled as about them."""
        files = list(
            self.db.scalars(
                select(PatientFile)
                .where(PatientFile.patient_id == patient.id)
                .order_by(PatientFile.created_at, PatientFile.id)
            ).all()
        )
        # In the patient's history, like any read of theirs, even when nothing is held.
        current_draft().about_patient(patient.id, None)
        for patient_file in files:
            current_draft().about_patient(patient.id, patient_file.practice_id)
        statuses = self.statuses(files)
        return [statuses[f.id] for f in files]

    def status(self, patient_file: PatientFile) -> FileStatus:
        return self.statuses([patient_file])[patient_file.id]

    def statuses(self, files: Sequence[PatientFile]) -> dict[uuid.UUID, FileStatus]:
        """Each file's retention, in three queries whatever the number of files."""
        ids = [f.id for f in files]
        last_document = {
            file_id: latest.date()
            for file_id, latest in self.db.execute(
                select(Document.patient_file_id, func.max(DocumentVersion.created_at))
                .join(DocumentVersion, DocumentVersion.document_id == Document.id)
                .where(Document.patient_file_id.in_(ids))
                .group_by(Document.patient_file_id)
            ).all()
        }
        records = {
            r.patient_file_id: r
            for r in self.db.scalars(
                select(FileRetention).where(FileRetention.patient_file_id.in_(ids))
            ).all()
        }
        with_threads = self.ctx.find(Correspondence, self.db).files_holding_threads(
            [(f.id, f.patient_id, f.practice_id) for f in files]
        )
        policies: dict[uuid.UUID, RetentionPolicy] = {}
        today = self.today()
        grace = timedelta(days=self.ctx.settings.retention_grace_days)
        statuses: dict[uuid.UUID, FileStatus] = {}
        for patient_file in files:
            if patient_file.practice_id not in policies:
                policies[patient_file.practice_id] = self.policy(patient_file.practice_id)
            policy = policies[patient_file.practice_id]
            record = records.get(patient_file.id)
            facts = self._facts(patient_file, record, policy, last_document.get(patient_file.id))
            end = retention_end(facts)
            destroyable_from = None
            if end.keep_until is not None:
                # A practice's default policy is no row (not in the session): never changed.
                changes = [
                    record.facts_recorded_at if record else None,
                    policy.updated_at if policy in self.db else None,
                ]
                destroyable_from = max(
                    [end.keep_until + timedelta(days=1)]
                    + [changed.date() + grace for changed in changes if changed is not None]
                )
            statuses[patient_file.id] = FileStatus(
                patient_file,
                facts,
                end,
                add_years(facts.last_care_on, policy.archive_after_years) < today,
                record.shredded_at if record else None,
                patient_file.id in last_document,
                patient_file.id in with_threads,
                destroyable_from,
            )
        return statuses

    def record_facts(
        self,
        caller: Account,
        patient_file: PatientFile,
        *,
        last_care_on: date | None = None,
        born_on: date | None = None,
        died_on: date | None = None,
        clear_death: bool = False,
    ) -> FileStatus:
        """Record dates the end depends on, if plausible: none in the future, no birth
        after the file's first care (its opening), no death before its last care (the
        one recorded or the last document: a file in care is not ended by a death
        dated earlier), no care before the birth; ``clear_death`` erases a death
        recorded by mistake. The caller read the file (``RecordsService.patient_file``)."""
        self._require_decider(caller, patient_file)
        record = self._record(patient_file)
        today = self.today()
        for name, value in (("last care", last_care_on), ("birth", born_on), ("death", died_on)):
            if value is not None and value > today:
                raise InvalidInput(f"the date of {name} cannot be in the future")
        first_care = patient_file.created_at.date()
        if born_on is not None and born_on > first_care:
            raise InvalidInput(
                f"the birth date is after the file's first care ({first_care.isoformat()})"
            )
        last_care = max(
            [self.status(patient_file).facts.last_care_on]
            + ([last_care_on] if last_care_on is not None else [])
        )
        died = None if clear_death else died_on or record.died_on
        if died is not None and died < last_care:
            raise InvalidInput(
                f"the date of death is before the file's last care ({last_care.isoformat()})"
            )
        born = born_on or record.born_on
        if born is not None and last_care_on is not None and last_care_on < born:
            raise InvalidInput("the date of last care is before the birth date")
        if last_care_on is not None:
            record.last_care_on = last_care_on
        if born_on is not None:
            record.born_on = born_on
        if died_on is not None:
            record.died_on = died_on
        elif clear_death:
            record.died_on = None
        self._recorded(record)
        return self.status(patient_file)

    def open_claim(self, caller: Account, patient_file: PatientFile, since: date) -> FileStatus:
        """A claim about medical liability: the clock stops until it is closed."""
        self._require_decider(caller, patient_file)
        record = self._record(patient_file)
        if record.claim_since is not None:
            raise Conflict(f"a claim is already open since {record.claim_since.isoformat()}")
        if since > self.today():
            raise InvalidInput("a claim cannot be opened in the future")
        # A claim is about care given in this file: not before the file, nor the birth.
        first_care = patient_file.created_at.date()
        if since < first_care:
            raise InvalidInput(
                f"a claim cannot open before the file's first care ({first_care.isoformat()})"
            )
        if record.born_on is not None and since < record.born_on:
            raise InvalidInput("a claim cannot open before the patient's birth")
        record.claim_since = since
        self._recorded(record)
        return self.status(patient_file)

    def close_claim(self, caller: Account, patient_file: PatientFile, on: date) -> FileStatus:
        self._require_decider(caller, patient_file)
        record = self._record(patient_file)
        if record.claim_since is None:
            raise Conflict("no claim is open on this file")
        if not record.claim_since <= on <= self.today():
            raise InvalidInput("a claim closes after it opened, and not in the future")
        # Claims suspend the clock for at most the file's life so far (they may have
        # overlapped): repeated claims cannot push its end out of the calendar.
        lifetime = (self.today() - patient_file.created_at.date()).days
        record.suspended_days = min(
            record.suspended_days + (on - record.claim_since).days, lifetime
        )
        record.claim_since = None
        self._recorded(record)
        return self.status(patient_file)

    def _recorded(self, record: FileRetention) -> None:
        record.updated_at = record.facts_recorded_at = self.ctx.now()
        self.db.flush()

    def _require_decider(self, caller: Account, patient_file: PatientFile) -> None:
        """The dates that can end a file are recorded by the practice's admin or by a
        practitioner treating the patient: the one who opened the file or one who wrote
        a version of a document in it."""
        if AccountService(self.db, self.ctx).is_admin(caller.id, patient_file.practice_id):
            return
        if caller.kind == AccountKind.PRACTITIONER:
            if caller.id == patient_file.created_by:
                return
            wrote = self.db.scalar(
                select(DocumentVersion.id)
                .join(Document, Document.id == DocumentVersion.document_id)
                .where(
                    Document.patient_file_id == patient_file.id,
                    DocumentVersion.author_id == caller.id,
                )
                .limit(1)
            )
            if wrote is not None:
                return
        raise Forbidden(
            "only the practice's admin or a practitioner treating this patient (who opened "
            "the file or wrote in it) records the dates its retention depends on"
        )

    # -- the purge ------------------------------------------------------------------------

    def due(self, today: date) -> list[DueFile]:
        """Files whose retention ended before ``today`` and that still hold documents,
        those still in a grace period included (the dry run's report)."""
        due: list[DueFile] = []
        after: uuid.UUID | None = None
        while True:
            query = select(PatientFile).order_by(PatientFile.id).limit(DUE_BATCH)
            if after is not None:
                query = query.where(PatientFile.id > after)
            files = list(self.db.scalars(query).all())
            if not files:
                return due
            after = files[-1].id
            for status in self.statuses(files).values():
                if status.holds_data and status.end.expired(today):
                    due.append(self._due(status))

    def shred_if_due(self, patient_file_id: uuid.UUID, today: date) -> Shredded | None:
        """Destroy one file's documents if its retention has ended, no grace period runs
        and no other worker holds it; None when there is nothing to do."""
        patient_file = self.db.scalar(
            select(PatientFile)
            .where(PatientFile.id == patient_file_id)
            .with_for_update(skip_locked=True)
        )
        if patient_file is None:
            return None
        # A write before anything is read: on SQLite it takes the database's write
        # lock, so a second worker waits here and then finds nothing left to destroy.
        self.db.flush()  # the caller's changes, before the objects are read again
        self._record(patient_file)
        self.db.expire_all()
        status = self.status(patient_file)
        if not status.due(today):
            return None
        due = self._due(status)
        documents = select(Document.id).where(Document.patient_file_id == patient_file.id)
        blob_ids = list(
            self.db.scalars(
                select(DocumentVersion.blob_id).where(DocumentVersion.document_id.in_(documents))
            ).all()
        )
        # The keys first: once these rows are gone no one can decrypt the blobs (nor
        # from an answer kept for a retry, which may hold one wrapped for its writer).
        self.db.execute(delete(Share).where(Share.document_id.in_(documents)))
        forget_patient_file(self.db, patient_file.patient_id, patient_file.practice_id)
        self.db.execute(delete(DocumentVersion).where(DocumentVersion.document_id.in_(documents)))
        self.db.execute(delete(Document).where(Document.patient_file_id == patient_file.id))
        self.db.execute(delete(Blob).where(Blob.id.in_(blob_ids)))
        threads = self.ctx.find(Correspondence, self.db).destroy_threads_of_file(
            patient_file.patient_id,
            patient_file.practice_id,
            self._kept_practices(patient_file),
        )
        record = self._record(patient_file)
        record.shredded_at = self.ctx.now()
        patient = self.db.get(Account, patient_file.patient_id)
        if patient is not None and patient.status == AccountStatus.DELETED:
            # What its owner's deletion kept only for the file's retention goes with it.
            record.born_on = record.died_on = record.last_care_on = None
            record.suspended_days = 0
            self.ctx.find(AccountRemnants, self.db).erase_with_file(
                patient_file.patient_id, patient_file.practice_id
            )
        self.db.flush()
        return Shredded(due, [blob_id.hex for blob_id in blob_ids], threads)

    def _kept_practices(self, patient_file: PatientFile) -> set[uuid.UUID]:
        """The practices whose file of the same patient is not destroyed (R16: the
        correspondence they hold stays)."""
        return set(
            self.db.scalars(
                select(PatientFile.practice_id)
                .outerjoin(FileRetention, FileRetention.patient_file_id == PatientFile.id)
                .where(
                    PatientFile.patient_id == patient_file.patient_id,
                    PatientFile.id != patient_file.id,
                    FileRetention.shredded_at.is_(None),
                )
            ).all()
        )

    def reopen(self, patient_file: PatientFile) -> None:
        """New care after the file was destroyed starts a new retention period."""
        record = self.db.get(FileRetention, patient_file.id)
        if record is not None and record.shredded_at is not None:
            record.shredded_at = None
            record.last_care_on = None
            record.updated_at = self.ctx.now()

    # -- helpers --------------------------------------------------------------------------

    def _due(self, status: FileStatus) -> DueFile:
        patient_file, end = status.patient_file, status.end
        assert end.keep_until is not None and status.destroyable_from is not None
        documents, size = self.db.execute(
            select(func.count(func.distinct(Document.id)), func.coalesce(func.sum(Blob.size), 0))
            .select_from(Document)
            .join(DocumentVersion, DocumentVersion.document_id == Document.id)
            .join(Blob, Blob.id == DocumentVersion.blob_id)
            .where(Document.patient_file_id == patient_file.id)
        ).one()
        return DueFile(
            patient_file.id,
            patient_file.practice_id,
            patient_file.patient_id,
            end.keep_until,
            end.basis,
            documents,
            size,
            status.destroyable_from,
        )

    def _record(self, patient_file: PatientFile) -> FileRetention:
        """The file's retention row, made if missing, held until commit: it is read to
        decide on a change (a claim open or not, the days suspended so far), and two
        requests at once must not both make it (a 500) nor both decide on one state
        (a claim closed twice). Written first, then read: the write takes the row's
        lock on PostgreSQL and the write lock on SQLite."""
        upsert(
            self.db,
            FileRetention,
            {"patient_file_id": patient_file.id},
            set_={"updated_at": self.ctx.now()},
            insert={"suspended_days": 0},
        )
        record = self.db.get(FileRetention, patient_file.id, populate_existing=True)
        assert record is not None
        return record

    @staticmethod
    def _facts(
        patient_file: PatientFile,
        record: FileRetention | None,
        policy: RetentionPolicy,
        last_document_day: date | None,
    ) -> RetentionFacts:
        """The last care is the latest of: the consultation recorded by hand, the last
        document added, the file's opening."""
        days = [patient_file.created_at.date()]
        if last_document_day is not None:
            days.append(last_document_day)
        if record is not None and record.last_care_on is not None:
            days.append(record.last_care_on)
        return RetentionFacts(
            last_care_on=max(days),
            born_on=record.born_on if record else None,
            died_on=record.died_on if record else None,
            years=policy.years,
            suspended_days=record.suspended_days if record else 0,
            claim_open=record is not None and record.claim_since is not None,
        )


def purge_entry(ctx: AppContext, shredded: Shredded) -> PendingEntry:
    """The purge's journal entry, seen by the patient in their access history."""
    due = shredded.due
    entry = JournalEntry(
        timestamp_ms=int(ctx.now().timestamp() * 1000),
        actor=NOBODY,
        action=PURGE_ACTION,
        outcome=Outcome.DONE,
        status=200,
        objects=(
            (ObjectKind.PATIENT_FILE, due.patient_file_id),
            *((ObjectKind.THREAD, thread_id) for thread_id in shredded.threads),
        ),
        client="uhs-worker",
    )
    return PendingEntry(entry, (due.patient_id,), due.practice_id)


def purge(
    ctx: AppContext,
    today: date,
    *,
    dry_run: bool = False,
    progress: Callable[[DueFile], None] | None = None,
) -> list[DueFile]:
    """Destroy every file whose retention ended before ``today`` and whose grace period
    is over (or only list them all, waiting ones included): one transaction per file,
    its blobs removed after it commits, journaled."""
    with ctx.sessions.begin() as db:
        due = RetentionService(db, ctx).due(today)
    if dry_run:
        return due
    destroyed: list[DueFile] = []
    for item in due:
        if item.destroyable_from > today:
            continue  # a recently recorded date: someone may still correct it
        with ctx.sessions.begin() as db:
            shredded = RetentionService(db, ctx).shred_if_due(item.patient_file_id, today)
            # The destruction commits with its journal entry staged: a crash after it
            # leaves the entry to the sweeper (audit/outbox.py), never unwritten.
            if shredded is None:
                continue  # another worker has it, or it is no longer due
            staged = stage_entry(db, purge_entry(ctx, shredded), ctx.now())
        ctx.journal.append(staged)
        # A crash here leaves objects no row knows: cleanup removes those.
        for key in shredded.blob_keys:
            ctx.blobs.delete(key)
        destroyed.append(shredded.due)
        if progress is not None:
            progress(shredded.due)
    return destroyed
