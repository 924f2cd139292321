"""Wire models of secure messaging (docs/PROTOCOL.md, section 12): threads, their
signed membership, messages and read receipts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from uhealthsec.crypto.manifest import THREAD_NONCE_SIZE
from uhealthsec.protocol.accounts import AccountKind
from uhealthsec.protocol.encoding import Base64Url
from uhealthsec.protocol.records import MAX_REWRAPS
from uhealthsec.protocol.strict import Strict

#: People in one thread, its creator included.
MAX_PARTICIPANTS = 20
#: The largest message envelope (text and attachment references).
MAX_BODY_BYTES = 64 * 1024


class MemberIO(Strict):
    """A member as signed: account and directory address (docs/PROTOCOL.md 12)."""

    account_id: uuid.UUID
    email: Annotated[str, Field(min_length=3, max_length=320)]


class MembershipIn(Strict):
    #: 32 random bytes drawn by your client: with you and the members, they derive the
    #: thread's id (docs/PROTOCOL.md 12.1).
    nonce: Base64Url(THREAD_NONCE_SIZE)  # type: ignore[valid-type]
    #: Everyone in the thread, you included.
    members: Annotated[list[MemberIO], Field(min_length=2, max_length=MAX_PARTICIPANTS)]
    signer_key_index: Annotated[int, Field(ge=0, le=2**62)]
    #: Ed25519 over the thread membership (docs/PROTOCOL.md, "Thread membership").
    signature: Base64Url(64)  # type: ignore[valid-type]


class ThreadIn(Strict):
    #: The others in the thread (you are added).
    participant_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_PARTICIPANTS)]
    #: Your signature of the thread's members, from which its id derives.
    membership: MembershipIn


class MembershipOut(BaseModel):
    seq: int
    actor_id: uuid.UUID
    signer_key_index: int
    #: The creator's nonce, in the first link only (docs/PROTOCOL.md 12.1).
    nonce: Base64Url(THREAD_NONCE_SIZE) | None = None  # type: ignore[valid-type]
    #: SHA-256 of the previous link (zeros for the first).
    previous: Base64Url(32)  # type: ignore[valid-type]
    members: list[MemberIO]
    signature: Base64Url(64)  # type: ignore[valid-type]


class ParticipantOut(BaseModel):
    account_id: uuid.UUID
    email: str
    display_name: str
    kind: AccountKind
    #: The last message this participant has read.
    read_seq: int


class ThreadOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    last_seq: int
    last_message_at: datetime | None
    unread: int
    participants: list[ParticipantOut]
    #: The signed membership chain, oldest first; empty for threads started before
    #: members were signed.
    membership: list[MembershipOut]


class MessageKeyIn(Strict):
    recipient_id: uuid.UUID
    wrapped_key: Base64Url(1200)  # type: ignore[valid-type]


class MessageIn(Strict):
    id: uuid.UUID
    #: Text and attachment references as an envelope (docs/PROTOCOL.md, "Messages").
    body_envelope: Base64Url(MAX_BODY_BYTES)  # type: ignore[valid-type]
    signature: Base64Url(64)  # type: ignore[valid-type]
    signer_key_index: Annotated[int, Field(ge=0, le=2**62)]
    keys: Annotated[list[MessageKeyIn], Field(min_length=2, max_length=MAX_PARTICIPANTS)]


class MessageOut(BaseModel):
    id: uuid.UUID
    seq: int
    sender_id: uuid.UUID
    body_envelope: Base64Url(MAX_BODY_BYTES)  # type: ignore[valid-type]
    signature: Base64Url(64)  # type: ignore[valid-type]
    signer_key_index: int
    created_at: datetime
    #: The message key wrapped for you.
    wrapped_key: Base64Url(1200)  # type: ignore[valid-type]
    #: Participants who have read it (read receipts).
    read_by: list[uuid.UUID]


class MessageRewrapIn(Strict):
    message_id: uuid.UUID
    #: The message key wrapped again, to the reader's current keys.
    wrapped_key: Base64Url(1200)  # type: ignore[valid-type]


class MessageRewrapsIn(Strict):
    #: As many as ``MAX_REWRAPS`` versions (protocol/records.py): the body limit.
    keys: Annotated[list[MessageRewrapIn], Field(min_length=1, max_length=MAX_REWRAPS)]


class ReadIn(Strict):
    #: Everything up to this message has been read.
    seq: Annotated[int, Field(ge=1, le=2**62)]
