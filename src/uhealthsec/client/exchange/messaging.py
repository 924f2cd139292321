"""Threads of end-to-end encrypted messages, their members signed (PROTOCOL 12)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from uhealthsec.client.directory import VerifiedEntry
from uhealthsec.client.errors import ExchangeRefused
from uhealthsec.client.exchange.client import ExchangeClient
from uhealthsec.client.exchange.models import BeforeEncrypting, reader_of, served_readers
from uhealthsec.client.wire import body, parse
from uhealthsec.crypto import envelope
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.manifest import (
    NO_PREVIOUS,
    THREAD_NONCE_SIZE,
    MessageManifest,
    Reader,
    ThreadMembership,
    is_derived_thread_id,
)
from uhealthsec.crypto.wrap import wrap_document_key
from uhealthsec.protocol.messaging import (
    MemberIO,
    MembershipIn,
    MessageIn,
    MessageKeyIn,
    MessageOut,
    ParticipantOut,
    ReadIn,
    ThreadIn,
    ThreadOut,
)


@dataclass(frozen=True)
class Attachment:
    document_id: uuid.UUID
    title: str
    filename: str


@dataclass(frozen=True)
class ReceivedMessage:
    id: uuid.UUID
    seq: int
    sender_email: str
    sender_name: str
    text: str
    attachments: list[Attachment]
    created_at: datetime
    #: Addresses of the participants who have read it.
    read_by: list[str]
    #: The sender's account, whose proven key verified the message's signature.
    sender_id: uuid.UUID


def _message_body(text: str, attachments: Sequence[Attachment]) -> bytes:
    return json.dumps(
        {
            "text": text,
            "attachments": [
                {"document_id": str(a.document_id), "title": a.title, "filename": a.filename}
                for a in attachments
            ],
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


class MessagingClient:
    """Threads of end-to-end encrypted messages, on top of an ExchangeClient (same keys,
    same verified key directory). Attachments are documents shared with the thread."""

    MAX_TEXT_CHARS = 20_000

    def __init__(self, exchange: ExchangeClient) -> None:
        self.exchange = exchange
        #: The messages read per thread, by id, at their place (seq): a message's
        #: signature binds its id and thread, not its place, so a server could serve
        #: one again elsewhere, to be read twice.
        self._read: dict[uuid.UUID, dict[uuid.UUID, int]] = {}

    def start_thread(
        self, emails: Sequence[str], *, before_encrypting: BeforeEncrypting | None = None
    ) -> dict[str, Any]:
        """A thread with the people at ``emails``, whose member list (their proven
        directory entries and you) you sign: every member's client writes only to it.
        Its id derives from that first signed list (``thread_id_of``). Returned as JSON
        (``GET /threads/{id}``), for callers that print it."""
        ex = self.exchange
        members = ex._recipients(emails)
        if before_encrypting:
            before_encrypting(members)
        thread_id, request = self.thread_request(reader_of(m) for m in members)
        answer = ex.call("POST", "/threads", json=body(request))
        thread = parse(ThreadOut, answer, ExchangeRefused, "a new thread")
        if thread.id != thread_id:
            raise ExchangeRefused("the server started the thread under another id")
        return thread.model_dump(mode="json")

    def thread_request(self, members: Iterable[Reader]) -> tuple[uuid.UUID, ThreadIn]:
        """The id and ``POST /threads`` body of a thread of ``members`` (you included),
        their list signed as its first membership link, under a fresh nonce."""
        ex = self.exchange
        signer, nonce = ex.my_entry(), os.urandom(THREAD_NONCE_SIZE)
        statement = ThreadMembership.first(ex.account.id, signer.index, nonce, members)
        request = ThreadIn(
            participant_ids=[
                m.account_id for m in statement.members if m.account_id != signer.account_id
            ],
            membership=MembershipIn(
                nonce=nonce,
                members=[
                    MemberIO(account_id=m.account_id, email=m.email) for m in statement.members
                ],
                signer_key_index=signer.index,
                signature=statement.sign(ex.keys.signing),
            ),
        )
        return statement.thread_id, request

    def thread(self, thread_id: uuid.UUID | str) -> ThreadOut:
        """The thread as the server describes it, refused unless it is the one asked for
        (its membership chain is then checked against that id)."""
        answer = self.exchange.call("GET", f"/threads/{thread_id}")
        thread = parse(ThreadOut, answer, ExchangeRefused, "a thread")
        if thread.id != uuid.UUID(str(thread_id)):
            raise ExchangeRefused("the server answered with another thread than the one asked")
        return thread

    def members(self, thread: ThreadOut) -> dict[uuid.UUID, Reader] | None:
        """The thread's members as its signed membership chain proves them: each link
        signed, with their proven key, by its actor, who was a member before (for the
        first, the creator, one of its members, whose link derives the thread's id: a
        chain someone else started belongs to another thread), and bound to the previous
        link; the address a link gives its actor is the one the key directory gives the
        signing key's account, and each member's address is resolved in the directory
        (a key signs truly whatever address it names: only the directory tells a member
        signed in under someone else's). Anyone the server lists beyond them, or under
        another address, is refused with the reason. None for a thread started before
        members were signed (its id is not a derived one: a derived id without its chain
        is refused)."""
        ex = self.exchange
        thread_id = thread.id
        members: dict[uuid.UUID, Reader] | None = None
        previous = NO_PREVIOUS
        for seq, link in enumerate(thread.membership, start=1):
            actor = ex.directory.entry(link.signer_key_index)
            statement = ThreadMembership(
                thread_id,
                seq,
                link.actor_id,
                actor.index,
                previous,
                served_readers(link.members) or (),
            )
            try:
                if link.seq != seq or link.previous != previous:
                    raise CryptoError("the chain is broken")
                if actor.account_id != statement.actor_id:
                    raise CryptoError("signed with another account's key")
                named = [m.email for m in statement.members if m.account_id == actor.account_id]
                if named and named[0].lower() != actor.entry.email:
                    raise CryptoError(
                        f"signed by {actor.entry.email}, who names themselves {named[0]}"
                    )
                if members is not None and statement.actor_id not in members:
                    raise CryptoError("changed by someone who was not a member")
                if members is None:
                    statement.check_starts_thread(link.nonce or b"")
                statement.verify(actor.entry.public_keys.signing, link.signature)
            except CryptoError as exc:
                raise ExchangeRefused(
                    f"the membership of this thread does not verify (change {seq}): {exc}; "
                    "nothing was encrypted"
                ) from exc
            members = {m.account_id: m for m in statement.members}
            previous = statement.digest()
        if members is None:
            if is_derived_thread_id(thread_id):
                raise ExchangeRefused(
                    "the server withholds the signed membership this thread was started "
                    "with, so who is in it cannot be checked: nothing was encrypted"
                )
            return None
        for member in members.values():
            ex.resolve(member, "this thread's membership")
        for p in thread.participants:
            account_id = p.account_id
            if account_id not in members:
                raise ExchangeRefused(
                    f"the server lists {p.email} in this thread, but no member signed them "
                    "in: nothing was encrypted"
                )
            if members[account_id].email != p.email:
                raise ExchangeRefused(
                    f"the server names a member of this thread {p.email}, but its signed "
                    f"membership calls that account {members[account_id].email}: nothing "
                    "was encrypted"
                )
        return members

    def recipients(self, thread: ThreadOut) -> list[VerifiedEntry]:
        """Whom a message to the thread is encrypted to: its verified members that the
        server still lists (it may leave someone out, never add), each resolved in the
        key directory."""
        ex = self.exchange
        members = self.members(thread)
        if members is None:
            raise ExchangeRefused(
                "this thread was started before its members were signed, so who is in it "
                "cannot be checked: start a new thread to write"
            )
        listed = {p.account_id for p in thread.participants}
        mine = ex.my_entry()
        if mine.account_id not in members:
            raise ExchangeRefused("you are not a signed member of this thread")
        return [mine] + [
            ex.resolve(m, "this thread's membership")
            for a, m in sorted(members.items(), key=lambda item: item[1].email)
            if a in listed and a != mine.account_id
        ]

    def threads(self) -> list[dict[str, Any]]:
        """Your threads (``GET /threads``), as JSON, for callers that print them."""
        answer = self.exchange.call("GET", "/threads")
        threads = parse(list[ThreadOut], answer, ExchangeRefused, "your threads")
        return [thread.model_dump(mode="json") for thread in threads]

    def send(
        self,
        thread_id: uuid.UUID | str,
        text: str,
        *,
        attachments: Sequence[Path] = (),
        patient_file_id: uuid.UUID | str | None = None,
        before_encrypting: BeforeEncrypting | None = None,
    ) -> uuid.UUID:
        """Encrypt, sign and post a message to the thread's verified members
        (``recipients``); attached files are sent as documents of ``patient_file_id``
        to them, then referred to by the message."""
        if len(text) > self.MAX_TEXT_CHARS:
            raise ExchangeRefused(f"a message is at most {self.MAX_TEXT_CHARS} characters")
        ex = self.exchange
        thread = self.thread(thread_id)
        readers = self.recipients(thread)
        if before_encrypting:
            before_encrypting(readers)
        others = [r.entry.email for r in readers[1:]]
        sent: list[Attachment] = []
        if attachments and patient_file_id is None:
            raise ExchangeRefused("attachments are documents: say which patient file they go to")
        for path in attachments:
            # An attachment reaches the thread's members only (the patient if a member),
            # as the web application's: a message is not a new document of the file (R28).
            document_id = ex.send(
                path, patient_file_id=str(patient_file_id), to=others, to_patient=False
            )
            sent.append(Attachment(document_id, path.name, path.name))
        key = envelope.generate_document_key()
        sealed = envelope.encrypt(key, _message_body(text, sent), chunk_log2=12)
        header = sealed[: envelope.HEADER_SIZE]
        message_id = uuid.uuid4()
        signer = ex.my_entry()
        manifest = MessageManifest(
            message_id,
            uuid.UUID(str(thread_id)),
            ex.account.id,
            signer.index,
            envelope.content_digest(sealed),
        )
        request = MessageIn(
            id=message_id,
            body_envelope=sealed,
            signature=manifest.sign(ex.keys.signing),
            signer_key_index=signer.index,
            keys=[
                MessageKeyIn(
                    recipient_id=r.account_id,
                    wrapped_key=wrap_document_key(key, r.entry.public_keys, header),
                )
                for r in readers
            ],
        )
        ex.call("POST", f"/threads/{thread_id}/messages", json=body(request))
        return message_id

    def read(
        self, thread_id: uuid.UUID | str, *, after: int = 0, mark_read: bool = True
    ) -> list[ReceivedMessage]:
        """Messages after ``after``, each decrypted and its signature checked with the
        sender's proven key, refused if served again at another place than it was read
        at; then a read receipt up to the last one."""
        ex = self.exchange
        thread = self.thread(thread_id)
        members = self.members(thread)  # a sender must be a signed member, if signed
        if members is not None and ex.account.id not in members:
            raise ExchangeRefused("you are not a signed member of this thread")
        people = {
            p.account_id: p
            for p in thread.participants
            if members is None or p.account_id in members
        }
        answer = ex.call(
            "GET", f"/threads/{thread_id}/messages", params={"after": after, "limit": 500}
        )
        served = parse(list[MessageOut], answer, ExchangeRefused, "the thread's messages")
        places = self._read.setdefault(thread.id, {})
        received: list[ReceivedMessage] = []
        last = after
        for message in served:
            if message.seq <= last:
                raise ExchangeRefused("the server serves the thread's messages out of order")
            last = message.seq
            if places.get(message.id, message.seq) != message.seq:
                raise ExchangeRefused(
                    f"the server serves again, as message {message.seq}, the message "
                    f"already read as {places[message.id]}"
                )
            received.append(self._open(thread_id, message, people))
            places[message.id] = message.seq
        if mark_read and received:
            receipt = ReadIn(seq=received[-1].seq)
            ex.call("POST", f"/threads/{thread_id}/read", json=body(receipt))
        return received

    def _open(
        self,
        thread_id: uuid.UUID | str,
        raw: MessageOut,
        people: dict[uuid.UUID, ParticipantOut],
    ) -> ReceivedMessage:
        ex = self.exchange
        sender = people.get(raw.sender_id)
        signer = ex.directory.entry(raw.signer_key_index)
        if sender is None or signer.account_id != raw.sender_id:
            raise ExchangeRefused("a message names a signing key that is not its sender's")
        if signer.entry.email != sender.email.lower():
            raise ExchangeRefused(
                f"message {raw.seq} is signed with the keys of {signer.entry.email}, not of "
                f"{sender.email} as its sender is listed"
            )
        sealed = raw.body_envelope
        manifest = MessageManifest(
            raw.id,
            uuid.UUID(str(thread_id)),
            raw.sender_id,
            signer.index,
            envelope.content_digest(sealed),
        )
        try:
            manifest.verify(signer.entry.public_keys.signing, raw.signature)
            key = ex.unwrap(raw.wrapped_key, sealed[: envelope.HEADER_SIZE])
            content = json.loads(envelope.decrypt(key, sealed))
            attachments = [
                Attachment(uuid.UUID(a["document_id"]), str(a["title"]), str(a["filename"]))
                for a in content["attachments"]
            ]
            text = str(content["text"])
        except CryptoError as exc:
            raise ExchangeRefused(
                f"message {raw.seq} failed its checks: not what {sender.email} sent"
            ) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise ExchangeRefused(f"message {raw.seq} is malformed") from exc
        return ReceivedMessage(
            id=raw.id,
            seq=raw.seq,
            sender_email=sender.email,
            sender_name=sender.display_name,
            text=text,
            attachments=attachments,
            created_at=raw.created_at,
            read_by=[people[a].email for a in raw.read_by if a in people],
            sender_id=raw.sender_id,
        )
