"""A document's history as this device verifies it (PROTOCOL 11.4): every version's
manifest chained and signed, who vouched for each reader, whose access ended, and so
whom the next version may be encrypted to.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from uhealthsec.client.directory import VerifiedEntry
from uhealthsec.client.errors import ExchangeRefused
from uhealthsec.client.exchange.models import Revoked, RevokedReader, reader_of, served_readers
from uhealthsec.client.exchange.session import ExchangeSession
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.manifest import (
    NO_PREVIOUS,
    Reader,
    RevocationStatement,
    ShareStatement,
    VersionManifest,
)
from uhealthsec.protocol.records import DocumentOut, RevocationOut, ShareStatementOut, VersionOut


class SignedHistory(ExchangeSession):
    """Checks of a document's signed history, for sending, receiving and sharing."""

    def readers_of_next_version(
        self, view: DocumentOut, confirm: Sequence[str] = ()
    ) -> list[VerifiedEntry]:
        """Whom the next version of a document is encrypted to, from what this device
        verified: the readers vouched for in the latest version (``vouched_readers``),
        kept only while the server still lists them as readers (it may only leave
        someone out), each resolved in the key directory. Anyone else the server lists
        is refused with the reason, a revoked reader with who revoked them.

        While its patient restricts the document, only they are kept (11.8).

        A latest version signed before readers were signed (manifest version 1) proves
        no one: its readers are the people the user names in ``confirm``, never a list
        that only the server vouches for."""
        latest = view.latest_version
        if not any(v.number == latest and v.wrapped_key for v in view.versions):
            raise ExchangeRefused("you cannot read the latest version, so you cannot replace it")
        mine = self.my_entry()
        listed = {r.account_id: r.email for r in view.recipients if r.account_id != mine.account_id}
        if view.restricted_at is not None:
            # Restricted by its patient (11.8): the next version is theirs and yours alone
            # (a server that lies about it only leaves readers out).
            listed = {a: e for a, e in listed.items() if a == view.patient_id}
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
        signed_readers: list[Reader] = []
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
            signed_readers.append(reader)
        for entry in self.resolve_many(signed_readers, f"version {latest}"):
            found[entry.account_id] = entry
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
            entry.account_id: reader_of(entry)
            for entry in (self.directory.lookup_many(confirm) if confirm else [])
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
                signed_for = {signer.account_id: reader_of(signer), **named}
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
                    manifest.document_id,
                    number,
                    raw.granter_id,
                    raw.signer_key_index,
                    recipient,
                    None if raw.available_from is None else int(raw.available_from.timestamp()),
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
            readers = served_readers(version.readers)
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
