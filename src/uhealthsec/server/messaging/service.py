"""Secure messaging between practitioners, and between practitioners and a patient.

Each message is an envelope under its own key, wrapped for every participant of the
thread and signed by its sender; the server orders messages, checks the signature and
that every participant (and nobody else) gets the key, and keeps read receipts. The
thread's creator signs its member list, from which the thread's id derives; the server
checks that signature, keeps it and serves it, and clients encrypt only to the members
it proves.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from uhealthsec.crypto import envelope
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.journal import ObjectKind
from uhealthsec.crypto.manifest import (
    NO_PREVIOUS,
    MessageManifest,
    Reader,
    ThreadMembership,
    encode_readers,
)
from uhealthsec.crypto.wrap import check_wrapped_key
from uhealthsec.protocol.messaging import MAX_BODY_BYTES, MAX_PARTICIPANTS
from uhealthsec.server.accounts.models import Account, AccountKind, AccountStatus, Membership, Role
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.addresses import normalize_email
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import Conflict, Forbidden, InvalidInput, NotFound
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.messaging.models import (
    Message,
    MessageKey,
    Thread,
    ThreadMembershipRecord,
    ThreadParticipant,
)
from uhealthsec.server.messaging.retention import reopen_destroyed_files
from uhealthsec.server.storage.positions import Position

_CARE_ROLES = (Role.ADMIN, Role.PRACTITIONER)


@dataclass(frozen=True)
class NewMessage:
    id: uuid.UUID
    body_envelope: bytes
    signature: bytes
    signer_key_index: int
    #: recipient account id -> the message key wrapped for them
    keys: dict[uuid.UUID, bytes]


@dataclass(frozen=True)
class SignedMembership:
    """The creator's signature of a thread's first member list (manifest.ThreadMembership),
    and the creator's nonce, from which with them the thread's id derives."""

    nonce: bytes
    members: Sequence[Reader]
    signer_key_index: int
    signature: bytes


@dataclass(frozen=True)
class ThreadView:
    thread: Thread
    participants: list[tuple[ThreadParticipant, Account]]
    unread: int
    #: The signed membership chain, oldest first (empty for threads started before
    #: members were signed, or before their id derived from it: clients do not write
    #: to those).
    membership: list[ThreadMembershipRecord]


@dataclass(frozen=True)
class MessageView:
    message: Message
    wrapped_key: bytes
    read_by: list[uuid.UUID]


class MessagingService:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    # -- threads --------------------------------------------------------------------------

    def create_thread(
        self,
        caller: Account,
        participant_ids: Sequence[uuid.UUID],
        membership: SignedMembership,
    ) -> Thread:
        """A thread of the caller and ``participant_ids``, under the id that
        ``membership``, the caller's signature of exactly those members, each named by
        their address, derives (manifest.thread_id_of)."""
        members = {caller.id, *participant_ids}
        if not 2 <= len(members) <= MAX_PARTICIPANTS:
            raise InvalidInput(f"a thread has 2 to {MAX_PARTICIPANTS} participants, you included")
        accounts = self.db.scalars(select(Account).where(Account.id.in_(members))).all()
        if len(accounts) != len(members) or any(a.status != AccountStatus.ACTIVE for a in accounts):
            raise NotFound("a participant has no active account")
        patients = [a for a in accounts if a.kind == AccountKind.PATIENT]
        if len(patients) > 1:
            raise Forbidden("a thread includes at most one patient")
        if patients:
            practitioners = [a.id for a in accounts if a.kind == AccountKind.PRACTITIONER]
            if not self._cares_for(patients[0].id, practitioners):
                raise Forbidden(
                    "a patient writes only with practitioners of a practice they joined"
                )
        record = self._check_membership(caller, membership, accounts)
        # One answer for a thread made before and one made by a concurrent request (the
        # same signed request sent twice at once).
        exists = Conflict("a thread with this id already exists")
        if self.db.get(Thread, record.thread_id) is not None:
            raise exists
        thread = Thread(
            id=record.thread_id,
            created_by=caller.id,
            created_at=self.ctx.now(),
            last_seq=0,
        )
        self.db.add(thread)
        try:
            self.db.flush()
        except IntegrityError as exc:  # no savepoint: the refusal rolls the request back
            raise exists from exc
        self.db.add_all(
            ThreadParticipant(
                thread_id=thread.id, account_id=m, thread_changed_at=thread.created_at
            )
            for m in members
        )
        self.db.add(record)
        self.db.flush()
        current_draft().note(ObjectKind.THREAD, thread.id)  # the journal names what it made
        return thread

    def _check_membership(
        self,
        caller: Account,
        membership: SignedMembership,
        accounts: Sequence[Account],
    ) -> ThreadMembershipRecord:
        """The first link of the thread's membership chain, signed by its creator for
        exactly the thread's participants, each under their own address; its thread id
        is the one it derives."""
        addresses = {a.id: a.email for a in accounts}
        signed = {m.account_id: m.email for m in membership.members}
        if len(signed) != len(membership.members) or set(signed) != set(addresses):
            raise InvalidInput("sign the membership of exactly the thread's participants")
        for account_id, email in signed.items():
            if normalize_email(email) != addresses[account_id]:
                raise InvalidInput(f"the signed member {email} is not that account's address")
        try:
            statement = ThreadMembership.first(
                caller.id, membership.signer_key_index, membership.nonce, membership.members
            )
            members = encode_readers(statement.members)
        except CryptoError as exc:
            raise InvalidInput(f"the signed membership is malformed: {exc}") from exc
        KeyDirectory(self.db, self.ctx).check_signature(
            caller, membership.signer_key_index, statement, membership.signature
        )
        return ThreadMembershipRecord(
            thread_id=statement.thread_id,
            seq=1,
            actor_id=caller.id,
            signer_key_index=membership.signer_key_index,
            nonce=membership.nonce,
            previous=NO_PREVIOUS,
            members=members,
            signature=membership.signature,
            created_at=self.ctx.now(),
        )

    def _cares_for(self, patient_id: uuid.UUID, practitioner_ids: list[uuid.UUID]) -> bool:
        """Every practitioner is a carer in a practice the patient joined (accepted its
        invitation): the rule that lets a practice open the patient's file."""
        practices = AccountService(self.db, self.ctx).patient_practices(patient_id)
        for practitioner in practitioner_ids:
            roles = self.db.scalars(
                select(Membership.role).where(
                    Membership.account_id == practitioner,
                    Membership.practice_id.in_(practices),
                )
            ).all()
            if not any(Role(r) in _CARE_ROLES for r in roles):
                return False
        return True

    def threads(
        self, caller: Account, limit: int | None = None, after: Position | None = None
    ) -> tuple[list[ThreadView], Position | None]:
        """The caller's threads, most recently changed first: all of them, or the page
        of ``limit`` after ``after``, and where the next page starts if there may be
        one. A constant number of statements, whatever the page or the threads: the
        page is read from an index of the caller's participations."""
        listing = (
            select(ThreadParticipant.thread_id, ThreadParticipant.thread_changed_at)
            .where(ThreadParticipant.account_id == caller.id)
            .order_by(
                ThreadParticipant.thread_changed_at.desc(), ThreadParticipant.thread_id.desc()
            )
        )
        if after is not None:
            listing = listing.where(
                after.before(ThreadParticipant.thread_changed_at, ThreadParticipant.thread_id)
            )
        if limit is not None:
            listing = listing.limit(limit)
        page = self.db.execute(listing).all()
        threads = {
            thread.id: thread
            for thread in self.db.scalars(
                select(Thread).where(Thread.id.in_([thread_id for thread_id, _ in page]))
            )
        }
        views = self._views(caller, [threads[thread_id] for thread_id, _ in page])
        for view in views:  # who is a patient here is health data: as view() journals
            for _, account in view.participants:
                if account.kind == AccountKind.PATIENT:
                    current_draft().about_patient(account.id, None)
        full = limit is not None and len(page) == limit
        return views, Position(page[-1][1], page[-1][0]) if full else None

    def view(self, caller: Account, thread_id: uuid.UUID) -> ThreadView:
        thread, _ = self._membership(caller, thread_id)
        views = self._views(caller, [thread])
        if not views:  # destroyed with a patient's file meanwhile (messaging/retention.py)
            raise NotFound("no such thread")
        return views[0]

    def _views(self, caller: Account, threads: Sequence[Thread]) -> list[ThreadView]:
        """The views of threads the caller takes part in, in their order: one statement
        for each part of a view, whatever the number of threads."""
        if not threads:
            return []
        ids = [thread.id for thread in threads]
        participants: dict[uuid.UUID, list[tuple[ThreadParticipant, Account]]] = {}
        for participant, account in self.db.execute(
            select(ThreadParticipant, Account)
            .join(Account, Account.id == ThreadParticipant.account_id)
            .where(ThreadParticipant.thread_id.in_(ids))
            .order_by(Account.display_name)
        ):
            participants.setdefault(participant.thread_id, []).append((participant, account))
        mine = aliased(ThreadParticipant)
        unread = dict(
            self.db.execute(
                select(Message.thread_id, func.count())
                .join(
                    mine,
                    (mine.thread_id == Message.thread_id) & (mine.account_id == caller.id),
                )
                .where(
                    Message.thread_id.in_(ids),
                    Message.seq > mine.read_seq,
                    Message.sender_id != caller.id,
                )
                .group_by(Message.thread_id)
            ).all()
        )
        membership: dict[uuid.UUID, list[ThreadMembershipRecord]] = {}
        for record in self.db.scalars(
            select(ThreadMembershipRecord)
            .where(ThreadMembershipRecord.thread_id.in_(ids))
            .order_by(ThreadMembershipRecord.thread_id, ThreadMembershipRecord.seq)
        ):
            membership.setdefault(record.thread_id, []).append(record)
        return [
            ThreadView(
                thread,
                participants[thread.id],
                unread.get(thread.id, 0),
                membership.get(thread.id, []),
            )
            for thread in threads
            # A thread destroyed since it was read (a purge) has no participants left.
            if thread.id in participants
        ]

    # -- messages -------------------------------------------------------------------------

    def post(self, caller: Account, thread_id: uuid.UUID, new: NewMessage) -> Message:
        thread, _ = self._membership(caller, thread_id)
        reopen_destroyed_files(self.db, self.ctx, thread.id)
        if len(new.body_envelope) > MAX_BODY_BYTES:
            raise InvalidInput(f"a message body is at most {MAX_BODY_BYTES} bytes")
        if len(new.body_envelope) < envelope.HEADER_SIZE + envelope.TAG_SIZE:
            raise InvalidInput("the message body is not an envelope")
        try:
            envelope.EnvelopeHeader.parse(new.body_envelope[: envelope.HEADER_FIELDS_SIZE])
            for wrapped in new.keys.values():
                check_wrapped_key(wrapped)
        except CryptoError as exc:
            raise InvalidInput(f"the message is malformed: {exc}") from exc
        participants = set(
            self.db.scalars(
                select(ThreadParticipant.account_id).where(ThreadParticipant.thread_id == thread.id)
            )
        )
        if set(new.keys) != participants:
            raise InvalidInput(
                "wrap the message key for exactly the thread's participants, you included"
            )
        # One answer for an id already used, and for a concurrent request taking it first.
        taken = InvalidInput("a message with this id already exists")
        if self.db.get(Message, new.id) is not None:
            raise taken
        manifest = MessageManifest(
            new.id,
            thread.id,
            caller.id,
            new.signer_key_index,
            envelope.content_digest(new.body_envelope),
        )
        KeyDirectory(self.db, self.ctx).check_signature(
            caller, new.signer_key_index, manifest, new.signature
        )
        seq = self._next_seq(thread)
        message = Message(
            id=new.id,
            thread_id=thread.id,
            seq=seq,
            sender_id=caller.id,
            body_envelope=new.body_envelope,
            signature=new.signature,
            signer_key_index=new.signer_key_index,
            created_at=self.ctx.now(),
        )
        self.db.add(message)
        try:
            self.db.flush()
        except IntegrityError as exc:  # no savepoint: the refusal rolls the request back
            raise taken from exc
        self.db.add_all(
            MessageKey(message_id=message.id, recipient_id=recipient, wrapped_key=wrapped)
            for recipient, wrapped in new.keys.items()
        )
        self._read(thread.id, caller.id, message.seq)  # one has read what one wrote
        self.db.flush()
        current_draft().note(ObjectKind.MESSAGE, message.id)
        return message

    def _next_seq(self, thread: Thread) -> int:
        """The thread's next message number, taken in one statement that reads and
        increments the counter. The statement holds the thread's row (PostgreSQL) or
        the database's write lock (SQLite) until commit, and waits for a writer that
        holds it: concurrent messages get consecutive numbers, none twice. (A number
        read first and written back later would be given to both of two concurrent
        writers on SQLite, where SELECT ... FOR UPDATE locks nothing.)"""
        now = self.ctx.now()
        seq: int = self.db.execute(
            update(Thread)
            .where(Thread.id == thread.id)
            .values(last_seq=Thread.last_seq + 1, last_message_at=now)
            .returning(Thread.last_seq)
            .execution_options(synchronize_session=False)
        ).scalar_one()
        set_committed_value(thread, "last_seq", seq)
        set_committed_value(thread, "last_message_at", now)
        # Each participant's list of threads is ordered by this time (see threads()).
        self.db.execute(
            update(ThreadParticipant)
            .where(ThreadParticipant.thread_id == thread.id)
            .values(thread_changed_at=now)
            .execution_options(synchronize_session=False)
        )
        return seq

    def messages(
        self, caller: Account, thread_id: uuid.UUID, after: int, limit: int
    ) -> list[MessageView]:
        thread, _ = self._membership(caller, thread_id)
        rows = self.db.execute(
            select(Message, MessageKey.wrapped_key)
            .join(
                MessageKey,
                (MessageKey.message_id == Message.id) & (MessageKey.recipient_id == caller.id),
            )
            .where(Message.thread_id == thread.id, Message.seq > after)
            .order_by(Message.seq)
            .limit(limit)
        ).all()
        readers = self.db.execute(
            select(ThreadParticipant.account_id, ThreadParticipant.read_seq).where(
                ThreadParticipant.thread_id == thread.id
            )
        ).all()
        return [
            MessageView(
                message,
                wrapped,
                [account for account, seq in readers if seq >= message.seq],
            )
            for message, wrapped in rows
        ]

    def rewrap_mine(
        self, caller: Account, thread_id: uuid.UUID, keys: Sequence[tuple[uuid.UUID, bytes]]
    ) -> int:
        """Replace the caller's own wrapped keys of messages of this thread with the same
        message keys wrapped again on their device to their current keys, after a
        rotation (docs/PROTOCOL.md, 10.6); all or none.

        :raises InvalidInput: a message named twice, or a wrapped key malformed.
        :raises NotFound: not a participant, or a message of another thread or not
            wrapped for the caller: nothing is written.
        """
        thread, _ = self._membership(caller, thread_id)
        wanted: dict[uuid.UUID, bytes] = {}
        for message_id, wrapped_key in keys:
            if message_id in wanted:
                raise InvalidInput("each message appears once")
            try:
                check_wrapped_key(wrapped_key)
            except CryptoError as exc:
                raise InvalidInput(f"a wrapped key is malformed: {exc}") from exc
            wanted[message_id] = wrapped_key
        found = {
            key.message_id: key
            for key in self.db.scalars(
                select(MessageKey)
                .join(Message, Message.id == MessageKey.message_id)
                .where(
                    Message.thread_id == thread.id,
                    MessageKey.recipient_id == caller.id,
                    MessageKey.message_id.in_(list(wanted)),
                )
                .with_for_update(of=MessageKey)
            )
        }
        for message_id, wrapped_key in wanted.items():
            key = found.get(message_id)
            if key is None:
                raise NotFound(f"message {message_id}: not in this thread, or not for you")
            key.wrapped_key = wrapped_key
        self.db.flush()
        return len(wanted)

    def mark_read(self, caller: Account, thread_id: uuid.UUID, seq: int) -> None:
        thread, _ = self._membership(caller, thread_id)
        if seq > thread.last_seq:
            raise InvalidInput(f"this thread has {thread.last_seq} messages")
        self._read(thread.id, caller.id, seq)

    def _read(self, thread_id: uuid.UUID, account_id: uuid.UUID, seq: int) -> None:
        """Move the participant's read mark up to ``seq``, never down: compared and set
        in one statement, so that of two concurrent receipts (or messages of theirs)
        the later number stays whichever commits last."""
        self.db.execute(
            update(ThreadParticipant)
            .where(
                ThreadParticipant.thread_id == thread_id,
                ThreadParticipant.account_id == account_id,
                ThreadParticipant.read_seq < seq,
            )
            .values(read_seq=seq, read_at=self.ctx.now())
            .execution_options(synchronize_session="fetch")
        )

    def _membership(
        self, caller: Account, thread_id: uuid.UUID
    ) -> tuple[Thread, ThreadParticipant]:
        participant = self.db.get(ThreadParticipant, (thread_id, caller.id))
        if participant is None:
            raise NotFound("no such thread")
        thread = self.db.get(Thread, thread_id)
        assert thread is not None
        patient = self.db.scalar(
            select(Account.id)
            .join(ThreadParticipant, ThreadParticipant.account_id == Account.id)
            .where(ThreadParticipant.thread_id == thread.id, Account.kind == AccountKind.PATIENT)
        )
        if patient is not None:
            current_draft().about_patient(patient, None)
        return thread, participant
