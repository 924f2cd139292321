"""Sending a document, or a new version of one: encrypted and uploaded while it is
read, its key wrapped for proven readers only, its manifest signed here.
"""

from __future__ import annotations

import hashlib
import mimetypes
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from uhealthsec.client.directory import VerifiedEntry
from uhealthsec.client.errors import ApiError, ExchangeRefused, PatientCopyRefused
from uhealthsec.client.exchange.history import _served_manifests
from uhealthsec.client.exchange.models import (
    MAX_TITLE_CHARS,
    SHARES_PER_REQUEST,
    BeforeChanging,
    BeforeEncrypting,
    Metadata,
    Progress,
    reader_of,
    readers_io,
)
from uhealthsec.client.exchange.receiving import DocumentReceiving
from uhealthsec.client.exchange.streams import UPLOAD_CHUNK
from uhealthsec.client.transport import (
    CONTENT_DIGEST_HEADER,
    content_digest,
    stale_signature_time,
)
from uhealthsec.client.wire import body, parse
from uhealthsec.crypto import envelope
from uhealthsec.crypto.manifest import NO_PREVIOUS, ShareStatement, VersionManifest
from uhealthsec.crypto.wrap import wrap_document_key
from uhealthsec.protocol.records import (
    BlobOut,
    DocumentIn,
    NewVersionIn,
    PatientFileOut,
    ShareIn,
    SharesIn,
    ShareStatementIn,
    VersionIn,
)


class DocumentSending(DocumentReceiving):
    """Documents and new versions encrypted, signed and uploaded from this device."""

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
        patient: str | None = None,
        to_patient: bool = True,
        patient_available_from: datetime | None = None,
    ) -> uuid.UUID:
        """Encrypt ``source``, sign it and share it with ``to`` (addresses), yourself
        and, unless ``to_patient`` is false, the file's patient (R28), held back until
        ``patient_available_from`` if given (at most 30 days on). ``patient`` is the
        patient's address as the author knows it: the file must be theirs.

        The patient is added only once proven here (``proven_file_patient``), else
        nothing is sent and ExchangeRefused says why; a patient invited with no keys
        yet gets a pending share (PROTOCOL 11.6) once the document is sent."""
        document_id = uuid.uuid4()
        file_id = uuid.UUID(str(patient_file_id))
        recipients = self._recipients(to)
        delays: dict[uuid.UUID, datetime] = {}
        waiting_patient = None
        if to_patient:
            proven, claimed = self.proven_file_patient(file_id, patient, to)
            if proven is None:
                waiting_patient = claimed
            elif proven.account_id not in {r.account_id for r in recipients}:
                recipients.append(proven)
            if patient_available_from is not None:
                if proven is None:
                    raise ExchangeRefused(
                        f"{claimed.patient_email} has no keys yet: a document waiting for "
                        "them cannot be held back too; send it without a date"
                    )
                delays[proven.account_id] = _patient_delay(patient_available_from)
        elif patient_available_from is not None:
            raise ExchangeRefused("a date for the patient's copy needs the patient as a reader")
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
            delays,
        )
        request = DocumentIn(id=document_id, patient_file_id=file_id, **dict(version))
        self._submit(document_id, "/documents", request, later, 1)
        if waiting_patient is not None:
            self._wait_for_patient(document_id, waiting_patient)
        return document_id

    def proven_file_patient(
        self, patient_file_id: uuid.UUID, patient: str | None, to: Sequence[str] = ()
    ) -> tuple[VerifiedEntry | None, PatientFileOut]:
        """The directory entry of the file's patient, proven here, and the file as the
        server describes it; no entry for a patient without keys (invited, not joined).
        The server names the patient; that is not believed: the address it names must
        be the author's word for it: ``patient`` when given, else the address this
        device opened the file for (``patient_file``), else one of the recipients ``to``
        the author chose; and the key directory must prove that address to be the
        account it names (as ``_proven_patient`` of pending shares does).

        :raises ExchangeRefused: the server names another patient than the author's, the
            author named none, or the directory does not give that address to the
            account the server names.
        """
        answer = self.call("GET", f"/patient-files/{patient_file_id}")
        claimed = parse(PatientFileOut, answer, ExchangeRefused, "a patient file")
        named = claimed.patient_email.strip().lower()
        if str(claimed.id) != str(patient_file_id):
            raise ExchangeRefused("the server answered with another patient file: nothing was sent")
        patient = patient or self.file_patients.get(claimed.id)
        if patient is not None and named != patient.strip().lower():
            raise ExchangeRefused(
                f"the server says this file is {claimed.patient_email}'s, not {patient}'s: "
                "nothing was sent"
            )
        if patient is None and named not in {address.strip().lower() for address in to}:
            raise ExchangeRefused(
                "this device does not know whom this patient file is about, and does not "
                "take the server's word for it: name the patient (patient=..., uhs send "
                "--patient) or send without the patient's copy (to_patient=False): "
                "nothing was sent"
            )
        try:
            entry = self.directory.lookup(named)
        except ApiError as exc:
            if exc.status != 404:
                raise
            return None, claimed
        if entry.account_id != claimed.patient_id:
            raise ExchangeRefused(
                f"the key directory proves {named} to be another account than the one the "
                "server names as this file's patient: nothing was sent"
            )
        return entry, claimed

    def _wait_for_patient(self, document_id: uuid.UUID, claimed: PatientFileOut) -> None:
        """The patient has no keys yet: their copy waits as a pending share (PROTOCOL
        11.6), which needs the practice's open invitation of them.

        :raises PatientCopyRefused: it cannot wait (the document is sent all the same).
        """
        raise PatientCopyRefused(
            f"{claimed.patient_email} has no keys yet: document {document_id} was sent to "
            "the others only; share it with them once they have joined",
            document_id,
        )

    def new_version(
        self,
        document_id: uuid.UUID | str,
        source: Path,
        *,
        title: str | None = None,
        progress: Progress | None = None,
        confirm: Sequence[str] = (),
        before_encrypting: BeforeEncrypting | None = None,
        before_changing: BeforeChanging | None = None,
    ) -> int:
        """Replace a document by a new version under a new key, for the people who can
        read the latest one now (a revoked person never receives it) and whom its
        author or one of its readers signed for (``readers_of_next_version``).
        ``before_changing`` is shown the document whose history the version continues,
        when this account can read it."""
        view = self.document_view(document_id)
        number = view.latest_version + 1
        recipients = self.readers_of_next_version(view, confirm)
        # The chain that readers_of_next_version verified, continued.
        manifests = _served_manifests(view)
        previous = manifests[number - 1].digest()
        latest = view.versions[-1]
        if before_changing and latest.wrapped_key:
            self.verified_signer(manifests[latest.number], latest)
            # The title shown is that version's, under its proven key.
            before_changing(self._summary(view, self._version_key(latest)))
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
        delays: dict[uuid.UUID, datetime] | None = None,
    ) -> tuple[VersionIn, list[ShareIn]]:
        """Encrypt and upload a version for ``recipients`` (the author first), each
        share ending at its ``expiry`` (none where it names no end) and held back until
        its ``delays`` entry, signed (R28): the version as posted, with the first
        readers' shares, and the shares that follow it."""
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
            readers=tuple(reader_of(r) for r in recipients),
            previous=previous,
        )
        shares = [
            share_of(key, summary.header, r, expiry.get(r.account_id))
            if r.account_id not in (delays or {})
            else self._held_back_share(
                key, summary.header, r, expiry.get(r.account_id), document_id, number, delays
            )
            for r in recipients
        ]
        version = VersionIn(
            readers=readers_io(manifest.readers or ()),
            blob_id=blob.id,
            envelope_header=summary.header,
            metadata_envelope=metadata_envelope,
            signature=manifest.sign(self.keys.signing),
            signer_key_index=signer.index,
            shares=shares[:SHARES_PER_REQUEST],
        )
        return version, shares[SHARES_PER_REQUEST:]

    def _held_back_share(
        self,
        key: bytes,
        header: bytes,
        recipient: VerifiedEntry,
        expires_at: datetime | None,
        document_id: uuid.UUID,
        number: int,
        delays: dict[uuid.UUID, datetime] | None,
    ) -> ShareIn:
        """``recipient``'s share, not readable before their ``delays`` time, which this
        account signs in a share statement (format 2)."""
        assert delays is not None
        when = delays[recipient.account_id]
        signer = self.my_entry()
        statement = ShareStatement(
            document_id,
            number,
            self.account.id,
            signer.index,
            reader_of(recipient),
            int(when.timestamp()),
        )
        share = share_of(
            key,
            header,
            recipient,
            expires_at,
            ShareStatementIn(
                recipient_email=recipient.entry.email,
                signer_key_index=signer.index,
                signature=statement.sign(self.keys.signing),
            ),
        )
        return share.model_copy(update={"available_from": when})

    def _encrypt_and_upload(
        self, key: bytes, source: Path, progress: Progress | None
    ) -> tuple[BlobOut, envelope.EnvelopeSummary]:
        """Encrypt to a temporary file, hashing the ciphertext as it is written, then
        upload it: the upload is signed over that hash (its Content-Digest, R3), which
        must be known before the first byte is sent. Memory stays a few chunks."""
        with tempfile.TemporaryFile(prefix="uhs-envelope-") as ciphertext:
            hashing = _HashingWriter(ciphertext)
            with source.open("rb") as plain:
                summary = envelope.encrypt_stream(key, plain, hashing)
            ciphertext.seek(0)
            blob = self._upload(ciphertext, hashing.size, hashing.sha256.digest(), progress)
        return blob, summary

    def _upload(
        self, ciphertext: BinaryIO, size: int, sha256: bytes, progress: Progress | None
    ) -> BlobOut:
        """Stream ``ciphertext`` (``size`` bytes of this SHA-256) to ``POST /blobs``."""

        def counted() -> Iterator[bytes]:
            done = 0
            while chunk := ciphertext.read(UPLOAD_CHUNK):
                done += len(chunk)
                yield chunk
                if progress:
                    progress(done, size)

        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(size),
            CONTENT_DIGEST_HEADER: content_digest(sha256),
        }
        try:
            answer = self.call("POST", "/blobs", content=counted(), headers=headers)
        except ApiError as refusal:
            # Signed by a clock the server finds more than 10 minutes off: `call` took
            # its time for the next signature; the file is sent once more.
            if stale_signature_time(refusal) is None:
                raise
            ciphertext.seek(0)
            answer = self.call("POST", "/blobs", content=counted(), headers=headers)
        return parse(BlobOut, answer, ExchangeRefused, "an upload")


def _patient_delay(when: datetime) -> datetime:
    """The time the patient's copy becomes readable, in whole seconds (as signed); the
    server judges its range (after now, at most 30 days on: PROTOCOL 11.7)."""
    if when.tzinfo is None:
        raise ExchangeRefused("give the time the patient's copy becomes available with its zone")
    return when.astimezone(UTC).replace(microsecond=0)


class _HashingWriter:
    """A sink that writes to a file and hashes what it writes."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: memoryview) -> int:
        self._file.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)


def share_of(
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
