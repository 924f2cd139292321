"""Giving readers a document's keys, and ending someone's access, each signed here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from uhealthsec.client.errors import ApiError, ExchangeRefused
from uhealthsec.client.exchange.history import _served_manifests
from uhealthsec.client.exchange.models import (
    SHARES_PER_REQUEST,
    BeforeChanging,
    BeforeEncrypting,
    RevokedReader,
    reader_of,
)
from uhealthsec.client.exchange.receiving import DocumentReceiving
from uhealthsec.client.exchange.sending import share_of
from uhealthsec.client.wire import body, parse
from uhealthsec.crypto.manifest import RevocationStatement, ShareStatement
from uhealthsec.protocol.records import (
    RestrictionOut,
    RevocationIn,
    RevokedOut,
    SharesIn,
    ShareStatementIn,
)


class DocumentSharing(DocumentReceiving):
    """Readers added and removed, each with a statement signed on this device."""

    def share(
        self,
        document_id: uuid.UUID | str,
        to: Sequence[str],
        *,
        expires_at: datetime | None = None,
        before_encrypting: BeforeEncrypting | None = None,
        before_changing: BeforeChanging | None = None,
    ) -> None:
        """Give more people every version you can read: each key is unwrapped here and
        wrapped for each of them, with your signed statement that you gave it (which
        lets the next version's author encrypt to them). ``before_changing`` is shown
        the document those keys are of."""
        view = self.document_view(document_id)
        manifests = _served_manifests(view)
        readable = [v for v in view.versions if v.wrapped_key]
        keys = {}
        for version in readable:
            # Only a key proven to be this version's is passed on, whatever the
            # server put beside it (another document's wrapped key and header).
            self.verified_signer(manifests[version.number], version)
            keys[version.number] = self._version_key(version)
        if before_changing:
            before_changing(self._summary(view, keys[readable[-1].number]))
        recipients = self.directory.lookup_many(to)
        if before_encrypting:
            before_encrypting(recipients)
        me, signer = self.account.id, self.my_entry()
        for batch_start in range(0, len(recipients), SHARES_PER_REQUEST):
            batch = recipients[batch_start : batch_start + SHARES_PER_REQUEST]
            for version in readable:
                shares = [
                    share_of(
                        keys[version.number],
                        version.envelope_header,
                        r,
                        expires_at,
                        ShareStatementIn(
                            recipient_email=r.entry.email,
                            signer_key_index=signer.index,
                            signature=ShareStatement(
                                view.id, version.number, me, signer.index, reader_of(r)
                            ).sign(self.keys.signing),
                        ),
                    )
                    for r in batch
                ]
                request = SharesIn(version=version.number, shares=shares)
                self.call("POST", f"/documents/{document_id}/shares", json=body(request))

    def restrict(self, document_id: uuid.UUID | str, restricted: bool = True) -> datetime | None:
        """(The document's patient) Restrict it to yourself and its author, or lift that
        with ``restricted=False`` (R28, PROTOCOL 11.8), signed like every change. Those
        it was shared with keep their access, unserved until you lift it; a copy they
        already opened cannot be taken back. Returns since when it is restricted."""
        document = uuid.UUID(str(document_id))
        method = "POST" if restricted else "DELETE"
        answer = self.call(method, f"/documents/{document}/restriction")
        result = parse(RestrictionOut, answer, ExchangeRefused, "a restriction")
        if result.document_id != document or (result.restricted_at is None) == restricted:
            raise ExchangeRefused("the server answered about another restriction than asked")
        return result.restricted_at

    def revoke(self, document_id: uuid.UUID | str, email: str) -> int:
        """End someone's access to every version at once, with your signed statement
        that you did, at the document's latest version: the next author's client leaves
        them out whoever the server lists, and this device remembers it too, should
        the server withhold the statement later (PROTOCOL 11.3, 11.4)."""
        document = uuid.UUID(str(document_id))
        reader = reader_of(self.directory.lookup(email))
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
