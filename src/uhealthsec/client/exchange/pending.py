"""Pending shares: a document waiting for a patient the practice invited who has no
account yet, completed by this device once they have joined (docs/PROTOCOL.md 11.6).

The server names the patient's account and says they joined; neither is believed. The
statement this device signed when asking binds the version to one account and one
address; on completion the address is looked up in the key directory here, and the
key is wrapped only for a proven entry of that very account and address.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from uhealthsec.client.directory import VerifiedEntry
from uhealthsec.client.errors import (
    ApiError,
    DirectoryRefused,
    ExchangeRefused,
    LogRefused,
    PatientCopyRefused,
)
from uhealthsec.client.exchange.history import _served_manifests
from uhealthsec.client.exchange.models import reader_of
from uhealthsec.client.exchange.sending import DocumentSending, share_of
from uhealthsec.client.wire import body, parse
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.manifest import Reader, ShareStatement
from uhealthsec.protocol.pending import (
    PatientInvitationOut,
    PendingCompletionIn,
    PendingShareIn,
    PendingShareOut,
    PendingState,
)
from uhealthsec.protocol.records import PatientFileOut, ShareStatementIn


@dataclass(frozen=True)
class PendingOutcome:
    """What became of one pending share this device looked at."""

    pending: PendingShareOut
    completed: bool
    #: Why it was not completed (a server that named someone else, a key the directory
    #: does not prove), for the sender to see.
    refused: str | None = None


class PendingSharing(DocumentSending):
    """Documents waiting for invited patients, shared by this device when they join."""

    def _wait_for_patient(self, document_id: uuid.UUID, claimed: PatientFileOut) -> None:
        """A new document's patient has no keys yet (R28): their copy waits as a pending
        share, named by the practice's open invitation of that very address."""
        invitation = next(
            (
                i
                for i in self.patient_invitations(claimed.practice_id)
                if i.email == claimed.patient_email
            ),
            None,
        )
        if invitation is None:
            raise PatientCopyRefused(
                f"{claimed.patient_email} has no keys and no open invitation: document "
                f"{document_id} was sent to the others only",
                document_id,
            )
        try:
            self.share_pending(document_id, invitation.id)
        except ApiError as exc:
            if exc.status >= 500 or exc.status in (401, 429):
                raise
            raise PatientCopyRefused(
                f"document {document_id} was sent to the others; its copy for "
                f"{claimed.patient_email} cannot wait for them: {exc.detail}",
                document_id,
            ) from exc

    def patient_invitations(self, practice_id: uuid.UUID | str) -> list[PatientInvitationOut]:
        """The practice's patients invited and not joined yet."""
        answer = self.call("GET", f"/practices/{practice_id}/patient-invitations")
        return parse(list[PatientInvitationOut], answer, ExchangeRefused, "patient invitations")

    def share_pending(
        self, document_id: uuid.UUID | str, invitation_id: uuid.UUID | str
    ) -> PendingShareOut:
        """Ask that the latest version you read wait for the invited patient of the
        document's file, with your signed statement naming them (their account as the
        file names it, the invitation's address)."""
        view = self.document_view(document_id)
        readable = [v for v in view.versions if v.wrapped_key]
        if not readable:
            raise ExchangeRefused("you cannot read this document, so you cannot share it")
        version = readable[-1]
        self.verified_signer(_served_manifests(view)[version.number], version)
        invitation = next(
            (
                i
                for i in self.patient_invitations(view.practice_id)
                if str(i.id) == str(invitation_id)
            ),
            None,
        )
        if invitation is None:
            raise ExchangeRefused(
                "no open patient invitation of this document's practice has this id"
            )
        signer = self.my_entry()
        reader = Reader(view.patient_id, invitation.email)
        statement = ShareStatement(view.id, version.number, self.account.id, signer.index, reader)
        request = PendingShareIn(
            invitation_id=invitation.id,
            version=version.number,
            statement=ShareStatementIn(
                recipient_email=invitation.email,
                signer_key_index=signer.index,
                signature=statement.sign(self.keys.signing),
            ),
        )
        answer = self.call("POST", f"/documents/{view.id}/pending-shares", json=body(request))
        return parse(PendingShareOut, answer, ExchangeRefused, "a pending share")

    def pending_shares(self) -> list[PendingShareOut]:
        answer = self.call("GET", "/pending-shares")
        return parse(list[PendingShareOut], answer, ExchangeRefused, "the pending shares")

    def cancel_pending(self, pending_id: uuid.UUID | str) -> PendingShareOut:
        answer = self.call("DELETE", f"/pending-shares/{pending_id}")
        return parse(PendingShareOut, answer, ExchangeRefused, "a cancelled pending share")

    def complete_pending_shares(self) -> list[PendingOutcome]:
        """Complete each pending share whose patient has joined, as a share from this
        device: what the server says is checked first (see ``_proven_patient``); one
        refused leaves the others to go on."""
        outcomes = []
        for pending in self.pending_shares():
            if pending.state != PendingState.JOINED:
                continue
            try:
                done = self._complete(pending)
            except (ExchangeRefused, DirectoryRefused, LogRefused) as exc:
                outcomes.append(PendingOutcome(pending, False, str(exc)))
                continue
            except ApiError as exc:
                # The server refused this share (its rules); one that failed to answer
                # is asked again next time.
                if exc.status >= 500 or exc.status in (401, 429):
                    raise
                outcomes.append(PendingOutcome(pending, False, exc.detail))
                continue
            outcomes.append(PendingOutcome(done, True))
        return outcomes

    def _complete(self, pending: PendingShareOut) -> PendingShareOut:
        patient = self._proven_patient(pending)
        view = self.document_view(pending.document_id)
        version = next(
            (v for v in view.versions if v.number == pending.version and v.wrapped_key), None
        )
        if version is None:
            raise ExchangeRefused(f"you can no longer read version {pending.version}")
        self.verified_signer(_served_manifests(view)[version.number], version)
        key = self._version_key(version)
        signer = self.my_entry()
        statement = ShareStatement(
            view.id, version.number, self.account.id, signer.index, reader_of(patient)
        )
        share = share_of(
            key,
            version.envelope_header,
            patient,
            None,
            ShareStatementIn(
                recipient_email=patient.entry.email,
                signer_key_index=signer.index,
                signature=statement.sign(self.keys.signing),
            ),
        )
        assert share.statement is not None
        request = PendingCompletionIn(wrapped_key=share.wrapped_key, statement=share.statement)
        answer = self.call("POST", f"/pending-shares/{pending.id}/completion", json=body(request))
        return parse(PendingShareOut, answer, ExchangeRefused, "a completed pending share")

    def _proven_patient(self, pending: PendingShareOut) -> VerifiedEntry:
        """The patient's directory entry, if everything the server says of them holds:
        the statement is this account's own, signed for this document, version, account
        and address; the address is proven in the directory, and to that account."""
        asked = ShareStatement(
            pending.document_id,
            pending.version,
            self.account.id,
            pending.signer_key_index,
            Reader(pending.patient_id, pending.patient_email),
        )
        try:
            asked.verify(self.public_keys.signing, pending.signature)
        except CryptoError as exc:
            raise ExchangeRefused(
                f"the pending share for {pending.patient_email} is not the one you signed "
                "(another document, version, account or address): nothing was shared"
            ) from exc
        try:
            entry = self.directory.lookup(pending.patient_email)
        except ApiError as exc:
            if exc.status != 404:
                raise
            raise ExchangeRefused(
                f"the key directory publishes no keys for {pending.patient_email}, whom the "
                "server says joined: nothing was shared"
            ) from exc
        if entry.account_id != pending.patient_id or entry.entry.email != pending.patient_email:
            raise ExchangeRefused(
                f"the key directory proves {pending.patient_email} to be another account "
                "than the one you signed for: nothing was shared"
            )
        return entry
