"""Secure messaging between practitioners, and between practitioners and a patient.

Each message is an envelope under its own key, wrapped for every participant of the
thread and signed by its sender; the server orders messages, checks the signature and
that every participant (and nobody else) gets the key, and keeps read receipts.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from uhealthsec.crypto import envelope
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.manifest import MessageManifest
from uhealthsec.crypto.wrap import check_wrapped_key
from uhealthsec.server.accounts.models import Account, AccountKind, AccountStatus, Membership, Role
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.audit.middleware import current_draft
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import Forbidden, InvalidInput, NotFound
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.messaging.models import Message, MessageKey, Thread, ThreadParticipant

MAX_PARTICIPANTS = 20
MAX_BODY_BYTES = 64 * 1024
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
class ThreadView:
    thread: Thread
    participants: list[tuple[ThreadParticipant, Account]]
    unread: int


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

    def create_thread(self, caller: Account, participant_ids: Sequence[uuid.UUID]) -> Thread:
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
        thread = Thread(created_by=caller.id, created_at=self.ctx.now(), last_seq=0)
        self.db.add(thread)
        self.db.flush()
        self.db.add_all(ThreadParticipant(thread_id=thread.id, account_id=m) for m in members)
        self.db.flush()
        return thread

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

    def threads(self, caller: Account) -> list[ThreadView]:
        ids = self.db.scalars(
            select(ThreadParticipant.thread_id).where(ThreadParticipant.account_id == caller.id)
        ).all()
        views = [self.view(caller, thread_id) for thread_id in ids]
        views.sort(key=lambda v: v.thread.last_message_at or v.thread.created_at, reverse=True)
        return views

    def view(self, caller: Account, thread_id: uuid.UUID) -> ThreadView:
        thread, me = self._membership(caller, thread_id)
        rows = self.db.execute(
            select(ThreadParticipant, Account)
            .join(Account, Account.id == ThreadParticipant.account_id)
            .where(ThreadParticipant.thread_id == thread.id)
            .order_by(Account.display_name)
        ).all()
        unread = self.db.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.thread_id == thread.id,
                Message.seq > me.read_seq,
                Message.sender_id != caller.id,
            )
        )
        return ThreadView(thread, [(p, a) for p, a in rows], unread or 0)

    # -- messages -------------------------------------------------------------------------

    def post(self, caller: Account, thread_id: uuid.UUID, new: NewMessage) -> Message:
        thread, _ = self._membership(caller, thread_id, lock=True)
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
        if self.db.get(Message, new.id) is not None:
            raise InvalidInput("a message with this id already exists")
        manifest = MessageManifest(
            new.id,
            thread.id,
            caller.id,
            new.signer_key_index,
            hashlib.sha256(new.body_envelope).digest(),
        )
        KeyDirectory(self.db, self.ctx).check_signature(
            caller, new.signer_key_index, manifest, new.signature
        )
        thread.last_seq += 1
        thread.last_message_at = self.ctx.now()
        message = Message(
            id=new.id,
            thread_id=thread.id,
            seq=thread.last_seq,
            sender_id=caller.id,
            body_envelope=new.body_envelope,
            signature=new.signature,
            signer_key_index=new.signer_key_index,
            created_at=self.ctx.now(),
        )
        self.db.add(message)
        self.db.flush()
        self.db.add_all(
            MessageKey(message_id=message.id, recipient_id=recipient, wrapped_key=wrapped)
            for recipient, wrapped in new.keys.items()
        )
        self._read(thread.id, caller.id, message.seq)  # one has read what one wrote
        self.db.flush()
        return message

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

    def mark_read(self, caller: Account, thread_id: uuid.UUID, seq: int) -> None:
        thread, _ = self._membership(caller, thread_id)
        if seq > thread.last_seq:
            raise InvalidInput(f"this thread has {thread.last_seq} messages")
        self._read(thread.id, caller.id, seq)

    def _read(self, thread_id: uuid.UUID, account_id: uuid.UUID, seq: int) -> None:
        participant = self.db.get(ThreadParticipant, (thread_id, account_id))
        assert participant is not None
        if seq > participant.read_seq:
            participant.read_seq = seq
            participant.read_at = self.ctx.now()

    def _membership(
        self, caller: Account, thread_id: uuid.UUID, *, lock: bool = False
    ) -> tuple[Thread, ThreadParticipant]:
        participant = self.db.get(ThreadParticipant, (thread_id, caller.id))
        if participant is None:
            raise NotFound("no such thread")
        query = select(Thread).where(Thread.id == thread_id)
        if lock:
            # Messages are numbered in order: writers to one thread queue here.
            query = query.with_for_update()
        thread = self.db.scalar(query)
        assert thread is not None
        patient = self.db.scalar(
            select(Account.id)
            .join(ThreadParticipant, ThreadParticipant.account_id == Account.id)
            .where(ThreadParticipant.thread_id == thread.id, Account.kind == AccountKind.PATIENT)
        )
        if patient is not None:
            current_draft().about_patient(patient, None)
        return thread, participant
