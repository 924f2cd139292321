"""The Python SDK's secure exchange: send, receive, share, revoke, new versions.

Everything secret happens here, on the device: the document key is drawn here, the
file is encrypted here (streamed, constant memory), the key is wrapped here for each
recipient whose public keys the key directory has proven, and the author signs the
version here. A reader checks the author's signature with the author's proven key
before a decrypted file is put in place.

Whom a key is wrapped for never comes from the server's word alone: the author signs
the readers of each version, a reader who shares signs a statement for each person
they add, whoever ends someone's access signs that too, a thread's creator signs its
members, and every address is resolved in the key directory and must belong to the
account signed for it. The server may still leave someone out (a denial of service),
never add anyone, nor bring back someone whose access was ended.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import queue
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2

from uhealthsec.client.api import IDEMPOTENCY_KEY_HEADER, check_response, idempotency_key
from uhealthsec.client.directory import KeyDirectoryClient, VerifiedEntry
from uhealthsec.client.errors import ApiError, ClientError, ExchangeRefused
from uhealthsec.client.logs import LogPin
from uhealthsec.client.wire import body, parse
from uhealthsec.crypto import envelope
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.journal import SignedRequest, request_digest
from uhealthsec.crypto.keys import PublicKeys, UserKeys
from uhealthsec.crypto.manifest import (
    NO_PREVIOUS,
    THREAD_NONCE_SIZE,
    MessageManifest,
    Reader,
    RevocationStatement,
    ShareStatement,
    ThreadMembership,
    VersionManifest,
    is_derived_thread_id,
)
from uhealthsec.crypto.wrap import unwrap_document_key, wrap_document_key
from uhealthsec.protocol.accounts import AccountOut
from uhealthsec.protocol.encoding import b64u_encode
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
from uhealthsec.protocol.records import (
    BlobOut,
    DocumentIn,
    DocumentOut,
    NewVersionIn,
    PatientFileIn,
    PatientFileOut,
    ReaderIO,
    RevocationIn,
    RevocationOut,
    RevokedOut,
    ShareIn,
    SharesIn,
    ShareStatementIn,
    ShareStatementOut,
    VersionIn,
    VersionOut,
)

#: Called with (bytes done, bytes in total) as a transfer progresses.
Progress = Callable[[int, int], None]
#: Shown the verified people a key is about to be wrapped for, before anything is
#: encrypted; raising stops there.
BeforeEncrypting = Callable[[Sequence["VerifiedEntry"]], None]
_UPLOAD_CHUNK = 1 << 20
MAX_TITLE_CHARS = 500
#: Wrapped keys per request, as the server accepts them.
#: Documents listed per request (the server's largest page).
DOCUMENTS_PAGE = 200
SHARES_PER_REQUEST = 100


@dataclass(frozen=True)
class Metadata:
    title: str
    filename: str
    media_type: str

    def encode(self) -> bytes:
        return json.dumps(
            {"title": self.title, "filename": self.filename, "media_type": self.media_type},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> Metadata:
        try:
            raw = json.loads(data)
            return cls(str(raw["title"]), str(raw["filename"]), str(raw["media_type"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ExchangeRefused("the document's metadata is malformed") from exc


@dataclass(frozen=True)
class DocumentSummary:
    id: uuid.UUID
    version: int
    title: str
    filename: str
    media_type: str
    size: int
    author_email: str
    author_name: str
    patient_id: uuid.UUID
    patient_file_id: uuid.UUID
    created_at: datetime
    recipients: list[str]


@dataclass(frozen=True)
class ReceivedDocument:
    id: uuid.UUID
    version: int
    path: Path
    metadata: Metadata
    #: Who wrote and signed this version: the address of ``signer``, proven.
    author_email: str
    #: Who started the document (version 1), as the server says; a later version may
    #: be another reader's.
    document_author_email: str
    #: The directory entry whose key verified this version's signature.
    signer: VerifiedEntry
    size: int


@dataclass(frozen=True)
class RevokedReader:
    """A reader whose access this device ended, from ``version`` (the latest one then)
    on: remembered, so that this device keeps them out of later versions even if the
    server withholds the signed statement (PROTOCOL 11.4)."""

    document_id: uuid.UUID
    version: int
    reader: Reader
    #: The account that revoked them on this device: only its own writes are held back.
    revoker_id: uuid.UUID

    def to_dict(self) -> dict[str, Any]:
        return {
            "document_id": str(self.document_id),
            "version": self.version,
            "account_id": str(self.reader.account_id),
            "email": self.reader.email,
            "revoker_id": str(self.revoker_id),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RevokedReader:
        return cls(
            uuid.UUID(raw["document_id"]),
            int(raw["version"]),
            Reader(uuid.UUID(raw["account_id"]), str(raw["email"])),
            uuid.UUID(raw["revoker_id"]),
        )


@dataclass(frozen=True)
class Revoked:
    """A reader left out of a document's next version: their access ended at
    ``version``, and no reader signed them in again at a later one."""

    reader: Reader
    version: int
    #: Who revoked them: the address of the proven entry that signed it, or "you".
    by: str


class _ChunkReader:
    """A ``readinto`` view over an iterator of byte chunks (an HTTP response body)."""

    def __init__(self, chunks: Iterator[bytes], progress: Callable[[int], None]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._progress = progress

    def readinto(self, buffer: memoryview) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
            self._progress(len(chunk))
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class _Cancelled(ClientError):
    """The upload stopped: tells the encrypting thread to stop too (never leaves this module)."""


class _ChunkPipe:
    """Ciphertext chunks from the encrypting thread to the uploading one, a few at a time."""

    def __init__(self, depth: int = 4) -> None:
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=depth)
        self._cancelled = threading.Event()

    def write(self, data: memoryview) -> int:
        item = bytes(data)  # the encryptor reuses its buffer
        while True:
            if self._cancelled.is_set():
                raise _Cancelled
            try:
                self._queue.put(item, timeout=0.1)
                return len(item)
            except queue.Full:
                continue

    def close(self) -> None:
        self._put_last(None)

    def fail(self, exc: BaseException) -> None:
        if not isinstance(exc, _Cancelled):
            self._put_last(exc)

    def _put_last(self, item: BaseException | None) -> None:
        while not self._cancelled.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def cancel(self) -> None:
        self._cancelled.set()

    def chunks(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


class ExchangeClient:
    def __init__(
        self,
        http: httpx2.Client,
        token: Callable[[], str],
        keys: UserKeys | None,
        pin: LogPin | None = None,
        on_pin_change: Callable[[LogPin], None] | None = None,
        *,
        public_keys: PublicKeys | None = None,
        revoked: Iterable[RevokedReader] = (),
        on_revoke: Callable[[RevokedReader], None] | None = None,
    ) -> None:
        """``keys`` may be None for calls that need no private key (listing, checking
        the directory); ``public_keys`` then says which keys are this account's.
        ``revoked`` are the readers this device revoked before (its saved state), and
        ``on_revoke`` is told of each new one, to save it."""
        self.http = http
        self._token = token
        self._keys = keys
        if public_keys is None and keys is None:
            raise ValueError("give the unlocked keys or at least the public keys")
        self.public_keys = public_keys or keys.public()  # type: ignore[union-attr]
        self.directory = KeyDirectoryClient(self.call, pin or LogPin(), on_pin_change)
        self._account: AccountOut | None = None
        self.revoked = list(revoked)
        self._on_revoke = on_revoke

    def call(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        """An authenticated request; signed by the user when their keys are unlocked, so
        that the journal holds their own proof of the action (not for key lookups, which
        the signature depends on, nor for streamed uploads, which a document's signature
        covers)."""
        headers = httpx2.Headers(kwargs.pop("headers", {}))
        headers.setdefault("Authorization", f"Bearer {self._token()}")
        if method not in ("GET", "HEAD") and IDEMPOTENCY_KEY_HEADER not in headers:
            # A retry after a lost answer is then answered, not carried out again.
            headers[IDEMPOTENCY_KEY_HEADER] = idempotency_key()
        request = self.http.build_request(method, path, headers=headers, **kwargs)
        if self._keys is not None and _signable(path, kwargs):
            body = request.read()
            digest = request_digest(
                method, request.url.raw_path.decode("ascii"), hashlib.sha256(body).digest()
            )
            signature = SignedRequest(digest).sign(self._keys.signing)
            request.headers["UHS-Signature"] = f"{self.my_entry().index};{b64u_encode(signature)}"
        return check_response(self.http.send(request))

    @property
    def account(self) -> AccountOut:
        """The signed-in account, its id checked against its address's directory entry:
        the id signs as author, granter and revoker, and a server that answered
        another id would make the device sign for, and remember as, someone else."""
        if self._account is None:
            account = parse(
                AccountOut, self.call("GET", "/accounts/me"), ExchangeRefused, "your account"
            )
            if self.directory.lookup(account.email).account_id != account.id:
                raise ExchangeRefused(
                    "the server describes your account with another id than the key "
                    "directory does: nothing was sent"
                )
            self._account = account
        return self._account

    @property
    def me(self) -> dict[str, Any]:
        """``account`` as JSON (``GET /accounts/me``), for callers that print it."""
        return self.account.model_dump(mode="json")

    def document_view(self, document_id: uuid.UUID | str) -> DocumentOut:
        """``GET /documents/{id}``, refused unless it is the document asked for (a server
        could serve another document's view, readers and statements)."""
        view = parse(
            DocumentOut,
            self.call("GET", f"/documents/{document_id}"),
            ExchangeRefused,
            "a document",
        )
        if view.id != uuid.UUID(str(document_id)):
            raise ExchangeRefused(
                "the server answered with another document than the one asked for"
            )
        return view

    def my_entry(self) -> VerifiedEntry:
        """This account's own directory entry, checked to hold this device's keys."""
        mine = self.directory.lookup(self.account.email)
        if mine.entry.bundle != self.public_keys.encode():
            raise ExchangeRefused(
                "the key directory publishes keys for you that are not the ones on this "
                "device: do not send anything, and tell your security contact"
            )
        return mine

    @property
    def keys(self) -> UserKeys:
        if self._keys is None:
            raise ExchangeRefused("this needs your keys: unlock them with your password")
        return self._keys

    # -- patient files ------------------------------------------------------------------

    def patient_file(self, practice_id: uuid.UUID | str, patient_email: str) -> dict[str, Any]:
        """The patient's file in the practice (made on first use), as JSON."""
        request = PatientFileIn(
            practice_id=uuid.UUID(str(practice_id)), patient_email=patient_email
        )
        answer = self.call("POST", "/patient-files", json=body(request))
        return parse(PatientFileOut, answer, ExchangeRefused, "a patient file").model_dump(
            mode="json"
        )

    # -- sending ------------------------------------------------------------------------

    def send(
        self,
        source: Path,
        *,
        patient_file_id: uuid.UUID | str,
        to: Sequence[str],
        title: str | None = None,
        media_type: str | None = None,
        expires_at: datetime | None = None,
        progress: Progress | None = None,
        before_encrypting: BeforeEncrypting | None = None,
    ) -> uuid.UUID:
        """Encrypt ``source``, sign it and share it with ``to`` (addresses) and yourself."""
        document_id = uuid.uuid4()
        recipients = self._recipients(to)
        if before_encrypting:
            before_encrypting(recipients)
        version, later = self._prepare_version(
            document_id,
            uuid.UUID(str(patient_file_id)),
            1,
            source,
            title,
            media_type,
            recipients,
            # The author's own access (recipients[0]) does not end.
            {r.account_id: expires_at for r in recipients[1:]},
            progress,
            NO_PREVIOUS,
        )
        request = DocumentIn(
            id=document_id, patient_file_id=uuid.UUID(str(patient_file_id)), **dict(version)
        )
        self._submit(document_id, "/documents", request, later, 1)
        return document_id

    def new_version(
        self,
        document_id: uuid.UUID | str,
        source: Path,
        *,
        title: str | None = None,
        progress: Progress | None = None,
        confirm: Sequence[str] = (),
        before_encrypting: BeforeEncrypting | None = None,
    ) -> int:
        """Replace a document by a new version under a new key, for the people who can
        read the latest one now (a revoked person never receives it) and whom its
        author or one of its readers signed for (``readers_of_next_version``)."""
        view = self.document_view(document_id)
        number = view.latest_version + 1
        recipients = self.readers_of_next_version(view, confirm)
        # The chain that readers_of_next_version verified, continued.
        previous = _served_manifests(view)[number - 1].digest()
        if before_encrypting:
            before_encrypting(recipients)
        # Each reader keeps the end of access they have now.
        expiry = {r.account_id: r.expires_at for r in view.recipients}
        version, later = self._prepare_version(
            view.id,
            view.patient_file_id,
            number,
            source,
            title,
            None,
            recipients,
            expiry,
            progress,
            previous,
        )
        request = NewVersionIn(number=number, **dict(version))
        self._submit(document_id, f"/documents/{document_id}/versions", request, later, number)
        return number

    def _submit(
        self,
        document_id: uuid.UUID | str,
        path: str,
        request: VersionIn,
        later: list[ShareIn],
        number: int,
    ) -> None:
        """Create the version with its first readers, then give the key to the others
        (``later``) in batches: the server takes 100 wrapped keys per request."""
        self.call("POST", path, json=body(request))
        for start in range(0, len(later), SHARES_PER_REQUEST):
            batch = SharesIn(version=number, shares=later[start : start + SHARES_PER_REQUEST])
            self.call("POST", f"/documents/{document_id}/shares", json=body(batch))

    def _recipients(self, emails: Sequence[str]) -> list[VerifiedEntry]:
        mine = self.my_entry()
        found = {mine.account_id: mine}
        for email in emails:
            entry = self.directory.lookup(email)
            found[entry.account_id] = entry
        return list(found.values())

    def resolve(self, reader: Reader, what: str) -> VerifiedEntry:
        """The proven keys of a signed reader: the directory entry of the signed address,
        refused unless it belongs to the signed account."""
        entry = self.directory.lookup(reader.email)
        if entry.account_id != reader.account_id:
            raise ExchangeRefused(
                f"{what} names {reader.email} for an account that the key directory does "
                "not give this address to: nothing was encrypted"
            )
        return entry

    def readers_of_next_version(
        self, view: DocumentOut, confirm: Sequence[str] = ()
    ) -> list[VerifiedEntry]:
        """Whom the next version of a document is encrypted to, from what this device
        verified: the readers vouched for in the latest version (``vouched_readers``),
        kept only while the server still lists them as readers (it may only leave
        someone out), each resolved in the key directory. Anyone else the server lists
        is refused with the reason, a revoked reader with who revoked them.

        A latest version signed before readers were signed (manifest version 1) proves
        no one: its readers are the people the user names in ``confirm``, never a list
        that only the server vouches for."""
        latest = view.latest_version
        if not any(v.number == latest and v.wrapped_key for v in view.versions):
            raise ExchangeRefused("you cannot read the latest version, so you cannot replace it")
        mine = self.my_entry()
        listed = {r.account_id: r.email for r in view.recipients if r.account_id != mine.account_id}
        vouched, signed, revoked = self.vouched_readers(view, confirm)
        if not signed:
            if not confirm and listed:
                raise ExchangeRefused(
                    f"version {latest} was signed before readers were signed, so the "
                    "server's list of its readers cannot be checked: name the people it "
                    "goes to (uhs update --confirm ADDRESS), or share anew"
                )
            # The user named the readers: the others are left out.
            listed = {a: e for a, e in listed.items() if a in vouched}
        found = {mine.account_id: mine}
        for account_id, email in sorted(listed.items(), key=lambda item: item[1]):
            reader = vouched.get(account_id)
            if account_id in revoked:
                ended = revoked[account_id]
                raise ExchangeRefused(
                    f"the server lists {email} again as a reader of version {latest}, whom "
                    f"{ended.by} revoked at version {ended.version}, and no reader signed "
                    "them in since: nothing was encrypted"
                )
            if reader is None:
                raise ExchangeRefused(
                    f"the server lists {email} as a reader of version {latest}, but neither "
                    "its author nor any of its readers signed for them: nothing was encrypted"
                )
            if reader.email != email:
                raise ExchangeRefused(
                    f"the server names a reader of version {latest} {email}, but the "
                    f"signed readers call that account {reader.email}: nothing was encrypted"
                )
            found[account_id] = self.resolve(reader, f"version {latest}")
        return list(found.values())

    def vouched_readers(
        self, view: DocumentOut, confirm: Sequence[str] = ()
    ) -> tuple[dict[uuid.UUID, Reader], bool, dict[uuid.UUID, Revoked]]:
        """Readers of the latest version this device can vouch for, from the chain of
        versions checked from version 1 (PROTOCOL 11.4): each manifest verifies with its
        author's proven key and chains to the one before; version 1 is signed by the
        document's author, and each later version by someone vouched for as a reader of
        the version before. A version's vouched-for readers are those its author signed,
        then, repeatedly, the recipients of share statements signed by one of them,
        less the readers revoked (at this version or before) whom no share statement
        of a later version signed in again. A version 1 manifest names no readers: its
        author and the people the user names in ``confirm`` stand for them.

        Returns the vouched-for readers, whether the latest version's readers were
        signed (False for a version 1 manifest), and the readers revoked since."""
        named = {
            entry.account_id: _reader(entry)
            for entry in (self.directory.lookup(email.strip().lower()) for email in confirm)
        }
        versions = {v.number: v for v in view.versions}
        revocations = self._revocations_by_version(view)
        vouched: dict[uuid.UUID, Reader] = {}
        revoked: dict[uuid.UUID, Revoked] = {}
        manifest: VersionManifest | None = None
        for number, manifest in _served_manifests(view).items():
            signer = self.verified_signer(manifest, versions[number])
            if number == 1 and signer.account_id != view.author_id:
                raise ExchangeRefused("version 1 is not signed by the document's author")
            if number > 1 and signer.account_id in revoked:
                ended = revoked[signer.account_id]
                raise ExchangeRefused(
                    f"version {number} is signed by {signer.entry.email}, whom {ended.by} "
                    f"revoked at version {ended.version}: it is not part of this "
                    "document's history, and nothing was encrypted"
                )
            if number > 1 and signer.account_id not in vouched:
                raise ExchangeRefused(
                    f"version {number} is signed by {signer.entry.email}, whom no one "
                    f"vouched for as a reader of version {number - 1}: it is not part of "
                    "this document's history, and nothing was encrypted"
                )
            if manifest.readers is None:
                signed_for = {signer.account_id: _reader(signer), **named}
            else:
                signed_for = {r.account_id: r for r in manifest.readers}
            # A manifest does not bring back a revoked reader: in an honest exchange none
            # names them unless a share statement of a version in between did.
            vouched = {a: r for a, r in signed_for.items() if a not in revoked}
            for account_id in self._add_statements(manifest, versions[number], vouched):
                revoked.pop(account_id, None)  # signed in again after the revocation
            at_version = revocations.get(number, [])
            for ended in self._check_revocations(view, number, at_version, vouched):
                revoked[ended.reader.account_id] = ended
            vouched = {a: r for a, r in vouched.items() if a not in revoked}
        assert manifest is not None
        return vouched, manifest.readers is not None, revoked

    def _revocations_by_version(
        self, view: DocumentOut
    ) -> dict[int, list[RevocationOut | RevokedReader]]:
        """The revocation statements the server serves, and the revocations this
        account made on this device, by version. A revocation this device made at a
        version the server no longer serves means versions are withheld: refused."""
        latest = view.latest_version
        by_version: dict[int, list[RevocationOut | RevokedReader]] = {}
        for served in view.revocations:
            by_version.setdefault(served.version, []).append(served)
        for mine in self.revoked:
            if mine.document_id != view.id or mine.revoker_id != self.account.id:
                continue
            if mine.version > latest:
                raise ExchangeRefused(
                    f"you revoked {mine.reader.email} at version {mine.version} of this "
                    f"document, but the server serves it only up to version {latest}: it "
                    "withholds later versions, and nothing was encrypted"
                )
            by_version.setdefault(mine.version, []).append(mine)
        return by_version

    def _check_revocations(
        self,
        view: DocumentOut,
        number: int,
        statements: list[RevocationOut | RevokedReader],
        vouched: dict[uuid.UUID, Reader],
    ) -> list[Revoked]:
        """The revocations at version ``number`` that count: this device's own, and
        those signed by the document's author or a vouched-for reader of that version,
        each with the revoker's proven entry. A statement by anyone else is ignored, as is
        one ending the author's access by someone else; one by them that does not
        verify is refused (the server altered or forged it)."""
        ended: list[Revoked] = []
        for raw in statements:
            if isinstance(raw, RevokedReader):
                ended.append(Revoked(raw.reader, number, "you"))
                continue
            revoker_id = raw.revoker_id
            if revoker_id not in vouched and revoker_id != view.author_id:
                continue
            reader = Reader(raw.reader.account_id, raw.reader.email)
            if reader.account_id == view.author_id and revoker_id != reader.account_id:
                # Only the author ends the author's access (11.4): a server does not keep
                # such a statement, so it was kept to block the document.
                continue
            statement = RevocationStatement(
                view.id, number, revoker_id, raw.signer_key_index, reader
            )
            revoker = self._statement_signer(
                statement,
                revoker_id,
                raw,
                f"a statement that {reader.email}'s access ended at version {number} is "
                "not signed by the revoker it names: nothing was encrypted",
            )
            ended.append(Revoked(reader, number, revoker.entry.email))
        return ended

    def _statement_signer(
        self,
        statement: ShareStatement | RevocationStatement,
        signer_id: uuid.UUID,
        served: ShareStatementOut | RevocationOut,
        refusal: str,
    ) -> VerifiedEntry:
        """The proven entry a served statement names (``served.signer_key_index``),
        refused with ``refusal`` unless it is ``signer_id``'s and its key verifies
        ``served.signature`` over the statement."""
        signer = self.directory.entry(served.signer_key_index)
        try:
            if signer.account_id != signer_id:
                raise CryptoError("the statement's key is not its signer's")
            statement.verify(signer.entry.public_keys.signing, served.signature)
        except CryptoError as exc:
            raise ExchangeRefused(refusal) from exc
        return signer

    def verified_signer(self, manifest: VersionManifest, version: VersionOut) -> VerifiedEntry:
        """The proven directory entry whose key signed a version's manifest, refused
        unless it belongs to the version's author and the signature verifies."""
        signer = self.directory.entry(manifest.signer_key_index)
        if signer.account_id != manifest.author_id:
            raise ExchangeRefused("the signing key named by this version is not its author's")
        try:
            manifest.verify(signer.entry.public_keys.signing, version.signature)
        except CryptoError as exc:
            raise ExchangeRefused(
                f"version {manifest.version} is not what its author signed: the signature "
                "does not verify"
            ) from exc
        return signer

    def _add_statements(
        self,
        manifest: VersionManifest,
        version: VersionOut,
        vouched: dict[uuid.UUID, Reader],
    ) -> set[uuid.UUID]:
        """Add to ``vouched``, repeatedly, the recipients of the version's share
        statements signed by someone already vouched for; statements by anyone else
        are ignored. Returns the accounts the statements that count name."""
        number = manifest.version
        named: set[uuid.UUID] = set()
        pending = list(version.statements)
        while added := [s for s in pending if s.granter_id in vouched]:
            pending = [s for s in pending if s.granter_id not in vouched]
            for raw in added:
                recipient = Reader(raw.recipient.account_id, raw.recipient.email)
                statement = ShareStatement(
                    manifest.document_id, number, raw.granter_id, raw.signer_key_index, recipient
                )
                self._statement_signer(
                    statement,
                    statement.granter_id,
                    raw,
                    f"a statement that {recipient.email} may read version {number} is "
                    "not signed by the reader it names",
                )
                vouched.setdefault(recipient.account_id, recipient)
                named.add(recipient.account_id)
        return named

    def _prepare_version(
        self,
        document_id: uuid.UUID,
        patient_file_id: uuid.UUID,
        number: int,
        source: Path,
        title: str | None,
        media_type: str | None,
        recipients: list[VerifiedEntry],
        expiry: dict[uuid.UUID, datetime | None],
        progress: Progress | None,
        previous: bytes,
    ) -> tuple[VersionIn, list[ShareIn]]:
        """Encrypt and upload a version for ``recipients`` (the author first), each
        share ending at its ``expiry`` (none where it names no end): the version as
        posted, with the first readers' shares, and the shares that follow it."""
        metadata = Metadata(
            title=(title or source.name)[:MAX_TITLE_CHARS],
            filename=source.name,
            media_type=media_type
            or mimetypes.guess_type(source.name)[0]
            or "application/octet-stream",
        )
        key = envelope.generate_document_key()
        metadata_envelope = envelope.encrypt(key, metadata.encode(), chunk_log2=12)
        blob, summary = self._encrypt_and_upload(key, source, progress)
        if blob.sha256 != summary.content_digest:
            raise ExchangeRefused("the server stored other bytes than were sent")
        signer = self.my_entry()
        manifest = VersionManifest.of_version(
            document_id=document_id,
            version=number,
            patient_file_id=patient_file_id,
            author_id=self.account.id,
            signer_key_index=signer.index,
            content_digest=summary.content_digest or b"",
            metadata_envelope=metadata_envelope,
            readers=tuple(_reader(r) for r in recipients),
            previous=previous,
        )
        shares = [_share(key, summary.header, r, expiry.get(r.account_id)) for r in recipients]
        version = VersionIn(
            readers=_readers_out(manifest.readers or ()),
            blob_id=blob.id,
            envelope_header=summary.header,
            metadata_envelope=metadata_envelope,
            signature=manifest.sign(self.keys.signing),
            signer_key_index=signer.index,
            shares=shares[:SHARES_PER_REQUEST],
        )
        return version, shares[SHARES_PER_REQUEST:]

    def _encrypt_and_upload(
        self, key: bytes, source: Path, progress: Progress | None
    ) -> tuple[BlobOut, envelope.EnvelopeSummary]:
        """Encrypt in a second thread while the ciphertext streams to the server (the
        cipher releases the GIL, so both cores work); memory stays a few chunks."""
        pipe = _ChunkPipe()
        outcome: dict[str, envelope.EnvelopeSummary] = {}

        def encrypt() -> None:
            try:
                with source.open("rb") as plain:
                    outcome["summary"] = envelope.encrypt_stream(key, plain, pipe)
                pipe.close()
            except BaseException as exc:  # handed to the uploading thread
                pipe.fail(exc)

        size = envelope.envelope_size(source.stat().st_size)
        worker = threading.Thread(target=encrypt, name="uhs-encrypt", daemon=True)
        worker.start()
        try:
            blob = self._upload(pipe.chunks(), size, progress)
        finally:
            pipe.cancel()
            worker.join()
        return blob, outcome["summary"]

    def _upload(self, chunks: Iterator[bytes], size: int, progress: Progress | None) -> BlobOut:
        def counted() -> Iterator[bytes]:
            done = 0
            for chunk in chunks:
                done += len(chunk)
                yield chunk
                if progress:
                    progress(done, size)

        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        answer = self.call("POST", "/blobs", content=counted(), headers=headers)
        return parse(BlobOut, answer, ExchangeRefused, "an upload")

    # -- sharing ------------------------------------------------------------------------

    def share(
        self,
        document_id: uuid.UUID | str,
        to: Sequence[str],
        *,
        expires_at: datetime | None = None,
        before_encrypting: BeforeEncrypting | None = None,
    ) -> None:
        """Give more people every version you can read: each key is unwrapped here and
        wrapped for each of them, with your signed statement that you gave it (which
        lets the next version's author encrypt to them)."""
        view = self.document_view(document_id)
        manifests = _served_manifests(view)
        readable = [v for v in view.versions if v.wrapped_key]
        keys = {}
        for version in readable:
            # Only a key proven to be this version's is passed on, whatever the
            # server put beside it (another document's wrapped key and header).
            self.verified_signer(manifests[version.number], version)
            keys[version.number] = self._version_key(version)
        recipients = [self.directory.lookup(email) for email in to]
        if before_encrypting:
            before_encrypting(recipients)
        me, signer = self.account.id, self.my_entry()
        for batch_start in range(0, len(recipients), SHARES_PER_REQUEST):
            batch = recipients[batch_start : batch_start + SHARES_PER_REQUEST]
            for version in readable:
                shares = [
                    _share(
                        keys[version.number],
                        version.envelope_header,
                        r,
                        expires_at,
                        ShareStatementIn(
                            recipient_email=r.entry.email,
                            signer_key_index=signer.index,
                            signature=ShareStatement(
                                view.id, version.number, me, signer.index, _reader(r)
                            ).sign(self.keys.signing),
                        ),
                    )
                    for r in batch
                ]
                request = SharesIn(version=version.number, shares=shares)
                self.call("POST", f"/documents/{document_id}/shares", json=body(request))

    def revoke(self, document_id: uuid.UUID | str, email: str) -> int:
        """End someone's access to every version at once, with your signed statement
        that you did, at the document's latest version: the next author's client leaves
        them out whoever the server lists, and this device remembers it too, should
        the server withhold the statement later (PROTOCOL 11.3, 11.4)."""
        document = uuid.UUID(str(document_id))
        reader = _reader(self.directory.lookup(email))
        signer, me = self.my_entry(), self.account.id
        version = self._latest_version(document)
        for attempt in range(2):
            statement = RevocationStatement(document, version, me, signer.index, reader)
            request = RevocationIn(
                account_id=reader.account_id,
                version=version,
                signer_key_index=signer.index,
                signature=statement.sign(self.keys.signing),
            )
            try:
                answer = self.call("POST", f"/documents/{document}/revocations", json=body(request))
                break
            except ApiError as exc:
                # A version written meanwhile, or one you cannot read (an admin who is
                # no reader): the server names the latest, signed for then, once.
                latest = exc.body.get("latest_version")
                if attempt or exc.status != 409 or not isinstance(latest, int):
                    raise
                if latest <= version:
                    raise ExchangeRefused(
                        f"the server says version {latest} is the latest, but served "
                        f"version {version}: nothing was revoked"
                    ) from exc
                version = latest
        revoked = RevokedReader(document, version, reader, me)
        self.revoked.append(revoked)
        if self._on_revoke:
            self._on_revoke(revoked)
        return parse(RevokedOut, answer, ExchangeRefused, "a revocation").versions

    def _latest_version(self, document_id: uuid.UUID) -> int:
        """The document's latest version as served to you; 1 if you cannot read it (a
        practice's admin), for the server to answer with the latest one."""
        try:
            view = self.document_view(document_id)
        except ApiError as exc:
            if exc.status != 404:
                raise
            return 1
        return view.latest_version

    # -- receiving ----------------------------------------------------------------------

    def documents(self, limit: int = 50, offset: int = 0) -> list[DocumentSummary]:
        """Documents you can read, with their titles decrypted here."""
        answer = self.call("GET", "/documents", params={"limit": limit, "offset": offset})
        views = parse(list[DocumentOut], answer, ExchangeRefused, "your documents")
        return [self._summary(view) for view in views]

    def all_documents(self) -> Iterator[DocumentSummary]:
        """Every document you can read, a page at a time."""
        offset = 0
        while page := self.documents(limit=DOCUMENTS_PAGE, offset=offset):
            yield from page
            offset += len(page)

    def document(self, document_id: uuid.UUID | str) -> DocumentSummary:
        return self._summary(self.document_view(document_id))

    def _summary(self, view: DocumentOut) -> DocumentSummary:
        readable = [v for v in view.versions if v.wrapped_key]
        if not readable:
            raise ExchangeRefused(
                f"the server lists document {view.id} with no version you can read"
            )
        latest = readable[-1]
        metadata = self._metadata(latest, self._unwrap(latest))
        return DocumentSummary(
            id=view.id,
            version=latest.number,
            title=metadata.title,
            filename=metadata.filename,
            media_type=metadata.media_type,
            size=latest.size,
            author_email=view.author_email,
            author_name=view.author_name,
            patient_id=view.patient_id,
            patient_file_id=view.patient_file_id,
            created_at=latest.created_at,
            recipients=[r.email for r in view.recipients],
        )

    def fetch(
        self,
        document_id: uuid.UUID | str,
        destination: Path,
        *,
        version: int | None = None,
        progress: Progress | None = None,
        replace: bool = False,
    ) -> ReceivedDocument:
        """Download, decrypt and verify a version. ``destination`` is a file path, or a
        directory to write the document under its own file name. The file appears only
        once the whole envelope authenticated and the author's signature verified; a
        file already there is replaced only with ``replace`` (the name in a directory is
        the author's choice: a document must not write over another file)."""
        view = self.document_view(document_id)
        versions = {v.number: v for v in view.versions if v.wrapped_key}
        if not versions:
            raise ExchangeRefused("you cannot read any version of this document")
        chosen = versions.get(version or max(versions))
        if chosen is None:
            raise ExchangeRefused(f"you cannot read version {version} of this document")
        number = chosen.number
        manifest = _served_manifests(view)[number]
        signer = self.verified_signer(manifest, chosen)
        key = self._unwrap(chosen)
        metadata = self._metadata(chosen, key)
        target = (
            destination / _safe_name(metadata.filename) if destination.is_dir() else destination
        )
        if not replace and target.exists():
            raise ExchangeRefused(f"{target} exists already: nothing was written over it")
        total = chosen.size
        received = 0

        def advance(n: int) -> None:
            nonlocal received
            received += n
            if progress:
                progress(received, total)

        path = f"/documents/{document_id}/versions/{number}/content"
        headers = {"Authorization": f"Bearer {self._token()}"}
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".uhs-", suffix=".part")
        try:
            with (
                os.fdopen(fd, "wb") as sink,
                self.http.stream("GET", path, headers=headers) as response,
            ):
                check_response_stream(response)
                summary = envelope.decrypt_stream(
                    key, _ChunkReader(response.iter_bytes(_UPLOAD_CHUNK), advance), sink
                )
            if (
                summary.header != chosen.envelope_header
                or summary.content_digest != manifest.content_digest
            ):
                raise ExchangeRefused(
                    f"the downloaded envelope is not the one {signer.entry.email} signed"
                )
            if not replace:  # taken now, so that a file made meanwhile is not written over
                try:
                    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                except FileExistsError as exc:
                    raise ExchangeRefused(
                        f"{target} exists already: nothing was written over it"
                    ) from exc
            os.replace(temporary, target)
        except CryptoError as exc:
            raise ExchangeRefused(f"the document failed its integrity check: {exc}") from exc
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        return ReceivedDocument(
            id=view.id,
            version=number,
            path=target,
            metadata=metadata,
            author_email=signer.entry.email,
            document_author_email=view.author_email,
            signer=signer,
            size=summary.plaintext_size,
        )

    def _version_key(self, version: VersionOut) -> bytes:
        """A version's document key, unwrapped here and proven to be that version's:
        it opens the metadata envelope whose digest the (verified) manifest signs, and
        authenticates the content envelope's header (both header MACs commit to the
        key), whatever wrapped key and header the server served beside them."""
        key = self._unwrap(version)
        self._metadata(version, key)
        try:
            envelope.check_header(key, version.envelope_header)
        except CryptoError as exc:
            raise ExchangeRefused("the document key does not open this version's envelope") from exc
        return key

    def _unwrap(self, version: VersionOut) -> bytes:
        if version.wrapped_key is None:
            raise ExchangeRefused(f"you cannot read version {version.number} of this document")
        try:
            return unwrap_document_key(version.wrapped_key, self.keys, version.envelope_header)
        except CryptoError as exc:
            raise ExchangeRefused(f"the document key could not be opened: {exc}") from exc

    def _metadata(self, version: VersionOut, key: bytes) -> Metadata:
        try:
            return Metadata.decode(envelope.decrypt(key, version.metadata_envelope))
        except CryptoError as exc:
            raise ExchangeRefused(
                "the document's title and type failed their integrity check"
            ) from exc


def _served_manifests(view: DocumentOut) -> dict[int, VersionManifest]:
    """The manifest of every version of a document, oldest first, from what the server
    serves: each version 2 manifest chained to the digest of the one before. Whether
    each was signed is for ``verified_signer`` to say."""
    versions = sorted(view.versions, key=lambda v: v.number)
    if [v.number for v in versions] != list(range(1, view.latest_version + 1)):
        raise ExchangeRefused(
            "the server does not serve every version of this document, so its history "
            "cannot be checked"
        )
    manifests: dict[int, VersionManifest] = {}
    previous: bytes | None = None
    try:
        for version in versions:
            readers = _readers(version.readers)
            if readers is None and any(m.readers is not None for m in manifests.values()):
                raise ExchangeRefused(
                    f"version {version.number} is served with a version 1 manifest after "
                    "one that signed its readers: that is not how it was signed"
                )
            manifest = VersionManifest.of_version(
                document_id=view.id,
                version=version.number,
                patient_file_id=view.patient_file_id,
                author_id=version.author_id,
                signer_key_index=version.signer_key_index,
                content_digest=version.content_digest,
                metadata_envelope=version.metadata_envelope,
                readers=readers,
                previous=previous or NO_PREVIOUS,
            )
            manifests[manifest.version] = manifest
            previous = manifest.digest()
    except CryptoError as exc:
        raise ExchangeRefused(f"a version of this document is malformed: {exc}") from exc
    return manifests


def _share(
    key: bytes,
    header: bytes,
    recipient: VerifiedEntry,
    expires_at: datetime | None,
    statement: ShareStatementIn | None = None,
) -> ShareIn:
    """A version's key wrapped for ``recipient``, as a share the server stores (with
    the granter's signed statement when a reader, not the author, gives it)."""
    signed = {} if statement is None else {"statement": statement}
    return ShareIn(
        recipient_id=recipient.account_id,
        wrapped_key=wrap_document_key(key, recipient.entry.public_keys, header),
        expires_at=expires_at,
        **signed,
    )


def _reader(entry: VerifiedEntry) -> Reader:
    return Reader(entry.account_id, entry.entry.email)


def _readers(served: Sequence[ReaderIO | MemberIO] | None) -> tuple[Reader, ...] | None:
    """Readers as the server serves them (None for a version 1 manifest)."""
    if served is None:
        return None
    return tuple(Reader(r.account_id, r.email) for r in served)


def _readers_out(readers: Sequence[Reader]) -> list[ReaderIO]:
    return [ReaderIO(account_id=r.account_id, email=r.email) for r in readers]


def _signable(path: str, kwargs: dict[str, Any]) -> bool:
    content = kwargs.get("content")
    streamed = content is not None and not isinstance(content, bytes | str)
    return not streamed and not path.startswith("/keys/") and path != "/accounts/me"


def check_response_stream(response: httpx2.Response) -> None:
    if response.status_code >= 400:
        response.read()
        check_response(response)


def _safe_name(filename: str) -> str:
    """A file name chosen by the author, reduced to a plain name in the target directory."""
    name = Path(filename.replace("\\", "/")).name.strip().lstrip(".")
    return name or "document"


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
        thread_id, request = self.thread_request(_reader(m) for m in members)
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
        link. Anyone the server lists beyond them, or under another address, is refused
        with the reason. None for a thread started before members were signed (its id
        is not a derived one: a derived id without its chain is refused)."""
        ex = self.exchange
        thread_id = thread.id
        members: dict[uuid.UUID, Reader] | None = None
        previous = NO_PREVIOUS
        for seq, link in enumerate(thread.membership, start=1):
            actor = ex.directory.entry(link.signer_key_index)
            statement = ThreadMembership(
                thread_id, seq, link.actor_id, actor.index, previous, _readers(link.members) or ()
            )
            try:
                if link.seq != seq or link.previous != previous:
                    raise CryptoError("the chain is broken")
                if actor.account_id != statement.actor_id:
                    raise CryptoError("signed with another account's key")
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
            document_id = ex.send(path, patient_file_id=str(patient_file_id), to=others)
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
            hashlib.sha256(sealed).digest(),
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
        sender's proven key; then a read receipt up to the last one."""
        ex = self.exchange
        thread = self.thread(thread_id)
        members = self.members(thread)  # a sender must be a signed member, if signed
        people = {
            p.account_id: p
            for p in thread.participants
            if members is None or p.account_id in members
        }
        answer = ex.call(
            "GET", f"/threads/{thread_id}/messages", params={"after": after, "limit": 500}
        )
        served = parse(list[MessageOut], answer, ExchangeRefused, "the thread's messages")
        received = [self._open(thread_id, m, people) for m in served]
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
        sealed = raw.body_envelope
        manifest = MessageManifest(
            raw.id,
            uuid.UUID(str(thread_id)),
            raw.sender_id,
            signer.index,
            hashlib.sha256(sealed).digest(),
        )
        try:
            manifest.verify(signer.entry.public_keys.signing, raw.signature)
            key = unwrap_document_key(raw.wrapped_key, ex.keys, sealed[: envelope.HEADER_SIZE])
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
        )
