"""Sending a document, or a new version of one: encrypted and uploaded while it is
read, its key wrapped for proven readers only, its manifest signed here.
"""

from __future__ import annotations

import hashlib
import mimetypes
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from uhealthsec.client.directory import VerifiedEntry
from uhealthsec.client.errors import ApiError, ExchangeRefused
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
from uhealthsec.client.transport import CONTENT_DIGEST_HEADER, content_digest
from uhealthsec.client.wire import body, parse
from uhealthsec.crypto import envelope
from uhealthsec.crypto.manifest import NO_PREVIOUS, VersionManifest
from uhealthsec.crypto.wrap import wrap_document_key
from uhealthsec.protocol.records import (
    BlobOut,
    DocumentIn,
    NewVersionIn,
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
            readers=tuple(reader_of(r) for r in recipients),
            previous=previous,
        )
        shares = [share_of(key, summary.header, r, expiry.get(r.account_id)) for r in recipients]
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
            # Signed by a clock the server finds more than 10 minutes off: it gave its
            # time, which the next signature takes; the file is sent once more.
            if not self.clock.learn(refusal):
                raise
            ciphertext.seek(0)
            answer = self.call("POST", "/blobs", content=counted(), headers=headers)
        return parse(BlobOut, answer, ExchangeRefused, "an upload")


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
