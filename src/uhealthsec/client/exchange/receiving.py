"""Listing, downloading, decrypting and verifying documents."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2

from uhealthsec.client.errors import ApiError, ExchangeRefused
from uhealthsec.client.exchange.history import SignedHistory, _served_manifests
from uhealthsec.client.exchange.models import (
    DOCUMENTS_PAGE,
    DocumentSummary,
    Metadata,
    Progress,
    ReceivedDocument,
)
from uhealthsec.client.exchange.streams import UPLOAD_CHUNK, ChunkReader, check_response_stream
from uhealthsec.client.wire import parse
from uhealthsec.crypto import envelope
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.protocol.records import DocumentOut, VersionOut


def inbox_pages(call: Callable[..., httpx2.Response]) -> Iterator[httpx2.Response]:
    """Every page of ``GET /documents``."""
    return listing_pages(call, "/documents", DOCUMENTS_PAGE)


def listing_pages(
    call: Callable[..., httpx2.Response], path: str, limit: int
) -> Iterator[httpx2.Response]:
    """Every page of a listing (``GET /documents``, ``GET /threads``), each after the
    position the one before ends at (its ``Link: <...>; rel="next"``). Only that link's
    ``after`` is taken: the server names no address for the client to call, and a
    position it gives twice ends the walk."""
    params: dict[str, str | int] = {"limit": limit}
    seen: set[str] = set()
    while True:
        answer = call("GET", path, params=params)
        yield answer
        following = answer.links.get("next", {}).get("url")
        after = httpx2.URL(following).params.get("after") if following else None
        if after is None or after in seen:
            return
        seen.add(after)
        params = {"limit": limit, "after": after}


class DocumentReceiving(SignedHistory):
    """Documents read on this device: listed, downloaded, decrypted and verified."""

    def documents(self, limit: int = 50, offset: int = 0) -> list[DocumentSummary]:
        """Documents you can read, with their titles decrypted here."""
        answer = self.call("GET", "/documents", params={"limit": limit, "offset": offset})
        views = parse(list[DocumentOut], answer, ExchangeRefused, "your documents")
        return [self._summary(view) for view in views]

    def all_documents(self) -> Iterator[DocumentSummary]:
        """Every document you can read, a page at a time."""
        for answer in inbox_pages(self.call):
            views = parse(list[DocumentOut], answer, ExchangeRefused, "your documents")
            yield from (self._summary(view) for view in views)

    def document(self, document_id: uuid.UUID | str) -> DocumentSummary:
        return self._summary(self.document_view(document_id))

    def _summary(self, view: DocumentOut, latest_key: bytes | None = None) -> DocumentSummary:
        """The document as listed, from its latest version you can read (whose key
        ``latest_key`` is, when the caller unwrapped it already)."""
        readable = [v for v in view.versions if v.wrapped_key]
        held = [v for v in view.versions if v.available_from]
        if not readable and held:
            return _held_back(view, held[-1])
        if not readable:
            raise ExchangeRefused(
                f"the server lists document {view.id} with no version you can read"
            )
        latest = readable[-1]
        metadata = self._metadata(latest, latest_key or self._unwrap(latest))
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
            read_at=latest.read_at,
            restricted_at=view.restricted_at,
        )

    def fetch(
        self,
        document_id: uuid.UUID | str,
        destination: Path,
        *,
        version: int | None = None,
        progress: Progress | None = None,
        replace: bool = False,
        receipt: bool = True,
    ) -> ReceivedDocument:
        """Download, decrypt and verify a version. ``destination`` is a file path, or a
        directory to write the document under its own file name. The file appears only
        once the whole envelope authenticated and the author's signature verified; a
        file already there is replaced only with ``replace`` (the name in a directory is
        the author's choice: a document must not write over another file). Without
        ``receipt`` the version is not marked as opened (read for the search index,
        not by its reader)."""
        view = self.document_view(document_id)
        versions = {v.number: v for v in view.versions if v.wrapped_key}
        held = [v.available_from for v in view.versions if v.available_from]
        if not versions and held:
            raise ExchangeRefused(
                f"this document is available to you from {held[-1]:%Y-%m-%d %H:%M} UTC: its "
                "author holds it back until then"
            )
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
                    key, ChunkReader(response.iter_bytes(UPLOAD_CHUNK), advance), sink
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
        if receipt and chosen.read_at is None:
            self._send_read_receipt(view.id, number)
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

    def _send_read_receipt(self, document_id: uuid.UUID, number: int) -> None:
        """Tells the server this version was opened, once it decrypted and verified.
        The document is delivered whatever the receipt's fate: one that fails is sent
        again at the next opening, the version still listed as new until then."""
        with contextlib.suppress(ApiError):
            self.call("POST", f"/documents/{document_id}/versions/{number}/read")

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
            return self.unwrap(version.wrapped_key, version.envelope_header)
        except CryptoError as exc:
            raise ExchangeRefused(f"the document key could not be opened: {exc}") from exc

    def _metadata(self, version: VersionOut, key: bytes) -> Metadata:
        try:
            return Metadata.decode(envelope.decrypt(key, version.metadata_envelope))
        except CryptoError as exc:
            raise ExchangeRefused(
                "the document's title and type failed their integrity check"
            ) from exc


def _safe_name(filename: str) -> str:
    """A file name chosen by the author, reduced to a plain name in the target directory."""
    name = Path(filename.replace("\\", "/")).name.strip().lstrip(".")
    return name or "document"


def _held_back(view: DocumentOut, version: VersionOut) -> DocumentSummary:
    """A document whose author holds your copy back (R28): listed with its date only."""
    return DocumentSummary(
        id=view.id,
        version=version.number,
        title="",
        filename="",
        media_type="",
        size=version.size,
        author_email=view.author_email,
        author_name=view.author_name,
        patient_id=view.patient_id,
        patient_file_id=view.patient_file_id,
        created_at=version.created_at,
        recipients=[r.email for r in view.recipients],
        read_at=version.read_at,
        available_from=version.available_from,
        restricted_at=view.restricted_at,
    )
