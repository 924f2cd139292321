"""Wire models of patient files, documents, versions and shares (docs/PROTOCOL.md,
section 11): what the SDK posts and reads, as the server validates and serves it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, StrictInt

from uhealthsec.crypto.envelope import HEADER_SIZE
from uhealthsec.protocol.accounts import AccountKind
from uhealthsec.protocol.encoding import Base64Url
from uhealthsec.protocol.strict import Strict

#: The largest metadata envelope (title, file name, media type) of a version.
MAX_METADATA_BYTES = 8 * 1024
#: Per request: 100 hybrid wrapped keys fit well within the JSON body limit.
MAX_RECIPIENTS = 100
#: Readers one version's author may sign (the keys beyond the first 100 follow in
#: batches); far below what a reader list could encode.
MAX_SIGNED_READERS = 5000


class PatientFileIn(Strict):
    practice_id: uuid.UUID
    patient_email: Annotated[str, Field(min_length=3, max_length=320)]


class PatientFileOut(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    patient_email: str
    created_at: datetime
    last_care_on: date
    #: The last day of legal retention; null while unknown (GET .../retention says why).
    keep_until: date | None
    #: No care for longer than the practice's active period: out of the daily list.
    archived: bool


class BlobOut(BaseModel):
    id: uuid.UUID
    size: int
    #: SHA-256 of the bytes received, for the client to compare with what it sent.
    sha256: Base64Url(32)  # type: ignore[valid-type]


Address = Annotated[str, Field(min_length=3, max_length=320)]


class ReaderIO(Strict):
    """A reader as signed: account and directory address (docs/PROTOCOL.md 11)."""

    account_id: uuid.UUID
    email: Address


class ShareStatementIn(Strict):
    #: The recipient's address, as signed in the statement.
    recipient_email: Address
    signer_key_index: Annotated[int, Field(ge=0, le=2**62)]
    #: Ed25519 over the share statement (docs/PROTOCOL.md, "Share statements").
    signature: Base64Url(64)  # type: ignore[valid-type]


class ShareIn(Strict):
    recipient_id: uuid.UUID
    #: The document key wrapped for the recipient (docs/PROTOCOL.md, "Key wrapping").
    wrapped_key: Base64Url(1200)  # type: ignore[valid-type]
    #: With its time zone: a time without one means no instant (422, not a guess).
    expires_at: AwareDatetime | None = None
    #: The patient's share only (R28): not readable before this time, at most 30 days
    #: after the request, in whole seconds; signed in ``statement`` (format 2).
    available_from: AwareDatetime | None = None
    #: Required for a recipient the version's author did not sign as a reader, and for
    #: a share with ``available_from``.
    statement: ShareStatementIn | None = None


Shares = Annotated[list[ShareIn], Field(min_length=1, max_length=MAX_RECIPIENTS)]


class VersionIn(Strict):
    #: The upload holding the content envelope (POST /blobs).
    blob_id: uuid.UUID
    envelope_header: Base64Url(HEADER_SIZE)  # type: ignore[valid-type]
    metadata_envelope: Base64Url(MAX_METADATA_BYTES)  # type: ignore[valid-type]
    #: Ed25519 over the version manifest (docs/PROTOCOL.md, "Document versions").
    signature: Base64Url(64)  # type: ignore[valid-type]
    signer_key_index: Annotated[int, Field(ge=0, le=2**62)]
    shares: Shares
    #: Everyone the key is wrapped for, the author included, as signed in the manifest.
    readers: Annotated[list[ReaderIO], Field(min_length=1, max_length=MAX_SIGNED_READERS)]


class DocumentIn(VersionIn):
    id: uuid.UUID
    patient_file_id: uuid.UUID


class NewVersionIn(VersionIn):
    number: Annotated[int, Field(ge=2, le=2**31)]


class SharesIn(Strict):
    version: Annotated[int, Field(ge=1, le=2**31)]
    shares: Shares


#: Wrapped keys replaced in one request (docs/PROTOCOL.md, 10.6): a reader with more
#: sends several. 100 hybrid wrapped keys in base64url JSON take about 165 kB, within
#: the server's body limit (262,144 bytes).
MAX_REWRAPS = 100


class RewrapIn(Strict):
    document_id: uuid.UUID
    version: Annotated[StrictInt, Field(ge=1, le=2**31)]
    #: The version's document key wrapped again, to the reader's current keys.
    wrapped_key: Base64Url(1200)  # type: ignore[valid-type]


class RewrapsIn(Strict):
    keys: Annotated[list[RewrapIn], Field(min_length=1, max_length=MAX_REWRAPS)]


class RewrappedOut(BaseModel):
    #: How many of your wrapped keys were replaced.
    versions: int


class RevocationIn(Strict):
    #: Whose access ends; the statement names them under their account's address.
    account_id: uuid.UUID
    #: The document's latest version, as signed: another one is refused (409, with
    #: the latest one in ``latest_version``).
    version: Annotated[int, Field(ge=1, le=2**31)]
    signer_key_index: Annotated[int, Field(ge=0, le=2**62)]
    #: Ed25519 over the revocation statement (docs/PROTOCOL.md, "Share statements").
    signature: Base64Url(64)  # type: ignore[valid-type]


class RevocationOut(BaseModel):
    revoker_id: uuid.UUID
    signer_key_index: int
    #: The document's latest version when the access ended.
    version: int
    reader: ReaderIO
    signature: Base64Url(64)  # type: ignore[valid-type]


class ShareStatementOut(BaseModel):
    granter_id: uuid.UUID
    signer_key_index: int
    recipient: ReaderIO
    signature: Base64Url(64)  # type: ignore[valid-type]
    #: Signed with it (statement format 2): the share is not readable before.
    available_from: datetime | None = None


class VersionOut(BaseModel):
    number: int
    author_id: uuid.UUID
    envelope_header: Base64Url(HEADER_SIZE)  # type: ignore[valid-type]
    metadata_envelope: Base64Url(MAX_METADATA_BYTES)  # type: ignore[valid-type]
    signature: Base64Url(64)  # type: ignore[valid-type]
    signer_key_index: int
    size: int
    created_at: datetime
    #: The document key of this version, wrapped for you; null for a version you
    #: cannot read (served for its signed manifest, which the chain of versions needs).
    wrapped_key: Base64Url(1200) | None  # type: ignore[valid-type]
    #: SHA-256 of the content envelope, as signed in the manifest.
    content_digest: Base64Url(32)  # type: ignore[valid-type]
    #: The readers the author signed (manifest version 2); null for a version 1
    #: manifest, which named none.
    readers: list[ReaderIO] | None
    #: Readers' signed statements of whom else they gave this version to.
    statements: list[ShareStatementOut]
    #: When you first opened this version (your read receipt); null if you never did.
    read_at: datetime | None = None
    #: Your share is not readable before this time (R28): ``wrapped_key`` is null and
    #: the content refused until then.
    available_from: datetime | None = None


class RecipientOut(BaseModel):
    account_id: uuid.UUID
    email: str
    display_name: str
    kind: AccountKind
    granted_by: uuid.UUID
    expires_at: datetime | None


class DocumentOut(BaseModel):
    id: uuid.UUID
    patient_file_id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    author_id: uuid.UUID
    author_email: str
    author_name: str
    created_at: datetime
    latest_version: int
    #: Every version, oldest first (with a wrapped key for those you can read).
    versions: list[VersionOut]
    #: Who can read the latest version.
    recipients: list[RecipientOut]
    #: Every signed end of someone's access, oldest version first.
    revocations: list[RevocationOut]
    #: Since when the patient restricted it to themselves and its author (R28,
    #: PROTOCOL 11.8); None when it is not restricted.
    restricted_at: datetime | None = None


class RestrictionOut(BaseModel):
    """A document's restriction by its patient (R28, PROTOCOL 11.8)."""

    document_id: uuid.UUID
    #: Since when it is restricted; None once lifted.
    restricted_at: datetime | None


class RevokedOut(BaseModel):
    #: How many versions' keys were erased for that person.
    versions: int
