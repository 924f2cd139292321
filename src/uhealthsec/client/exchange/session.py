"""The exchange client's footing: its authenticated (and signed) requests, the
signed-in account and its own proven keys, and addresses resolved in the key directory.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpx2

from uhealthsec.client.directory import KeyDirectoryClient, VerifiedEntry
from uhealthsec.client.errors import ApiError, ExchangeRefused
from uhealthsec.client.exchange.models import RevokedReader
from uhealthsec.client.logs import LogPin
from uhealthsec.client.transport import (
    CONTENT_DIGEST_HEADER,
    IDEMPOTENCY_KEY_HEADER,
    SIGNATURE_HEADER,
    ServerClock,
    check_response,
    idempotency_key,
    sha256_of_content_digest,
    signed_nonce,
)
from uhealthsec.client.wire import body, parse
from uhealthsec.crypto.errors import DecryptionFailed, MalformedInput
from uhealthsec.crypto.journal import SignedRequest, signed_request_digest
from uhealthsec.crypto.keys import PublicKeys, UserKeys
from uhealthsec.crypto.keystore import Keystore, open_former_keys
from uhealthsec.crypto.manifest import Reader
from uhealthsec.crypto.wrap import unwrap_document_key
from uhealthsec.protocol.accounts import AccountOut
from uhealthsec.protocol.encoding import b64u_encode
from uhealthsec.protocol.records import DocumentOut, PatientFileIn, PatientFileOut
from uhealthsec.protocol.signin import KeystoreOut

__all__ = ["SIGNATURE_HEADER", "ExchangeSession"]


class ExchangeSession:
    """What every part of the exchange client stands on: requests, the account, its keys."""

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
        unlock: Callable[[], UserKeys] | None = None,
    ) -> None:
        """``keys`` may be None for calls that need no private key (listing, checking
        the directory); ``public_keys`` then says which keys are this account's, and
        ``unlock`` opens the keys (asking for the password) once a change must be
        signed. ``revoked`` are the readers this device revoked before (its saved
        state), and ``on_revoke`` is told of each new one, to save it."""
        self.http = http
        self._token = token
        #: The time a signature says it was made at, which the server refuses when
        #: more than 10 minutes away from its own (and then gives its own).
        self.clock = ServerClock()
        self._keys = keys
        self._unlock = unlock
        if public_keys is None and keys is None:
            raise ValueError("give the unlocked keys or at least the public keys")
        self.public_keys = public_keys or keys.public()  # type: ignore[union-attr]
        self.directory = KeyDirectoryClient(self.call, pin or LogPin(), on_pin_change)
        self._account: AccountOut | None = None
        self.revoked = list(revoked)
        #: Whom each patient file this device opened is about, in the author's own words
        #: (the address given to ``patient_file``): the patient a document defaults to.
        self.file_patients: dict[uuid.UUID, str] = {}
        self._on_revoke = on_revoke
        #: The key sets held before rotations, newest first, once needed (7.5).
        self._former: list[UserKeys] | None = None

    def call(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        """An authenticated request, signed by the user so that the journal holds their
        own proof of the action (R3): every change, the keys unlocked for it if they
        are locked, and reads while they are unlocked; not key lookups, which the
        signature depends on. A streamed body is signed over the SHA-256 its
        ``Content-Digest`` header declares (RFC 9530), which the server checks it
        against."""
        headers = httpx2.Headers(kwargs.pop("headers", {}))
        headers.setdefault("Authorization", f"Bearer {self._token()}")
        change = method not in ("GET", "HEAD")
        if change and IDEMPOTENCY_KEY_HEADER not in headers:
            # A retry after a lost answer is then answered, not carried out again.
            headers[IDEMPOTENCY_KEY_HEADER] = idempotency_key()
        request = self.http.build_request(method, path, headers=headers, **kwargs)
        unlockable = change and self._unlock is not None
        signed: tuple[str, bytes, str] | None = None
        if _signable(path) and (self._keys is not None or unlockable):
            declared = request.headers.get(CONTENT_DIGEST_HEADER)
            body = sha256_of_content_digest(declared) if declared else None
            if body is None and not _streamed(kwargs):
                body = hashlib.sha256(request.read()).digest()
            if body is not None:
                signed = (request.url.raw_path.decode("ascii"), body, signed_nonce(request))
                request.headers[SIGNATURE_HEADER] = self.request_signature(method, *signed)
        try:
            return check_response(self.http.send(request))
        except ApiError as refusal:
            # Signed by a clock more than 10 minutes from the server's: signed again at
            # the server's time, and sent once more if its body can be (13.0).
            if signed is None or not self.clock.learn(refusal) or _streamed(kwargs):
                raise
        request.headers[SIGNATURE_HEADER] = self.request_signature(method, *signed)
        return check_response(self.http.send(request))

    def request_signature(
        self,
        method: str,
        target: str,
        body_sha256: bytes,
        nonce: str = "",
        signed_at_ms: int | None = None,
    ) -> str:
        """The ``UHS-Signature`` value of a request (PROTOCOL section 13): the user's
        signature over its signed digest, now (or at ``signed_at_ms``), with its single-use
        ``nonce`` (its Idempotency-Key; empty for a GET or HEAD), and the index of their
        key in the directory."""
        index = self.my_entry().index
        if signed_at_ms is None:
            signed_at_ms = int(self.clock().timestamp() * 1000)
        digest = signed_request_digest(method, target, body_sha256, signed_at_ms, nonce)
        signature = SignedRequest(digest).sign(self.keys.signing)
        return f"{index};{signed_at_ms};{b64u_encode(signature)}"

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
        if self._keys is None and self._unlock is not None:
            self._keys = self._unlock()
        if self._keys is None:
            raise ExchangeRefused("this needs your keys: unlock them with your password")
        return self._keys

    def unwrap(self, wrapped: bytes, envelope_header: bytes) -> bytes:
        """A document key wrapped to this account: to its current keys or, for what was
        wrapped before a rotation, to one of its former ones (docs/PROTOCOL.md, 10.6).

        :raises CryptoError: no key set of this account opens it (DecryptionFailed).
        """
        try:
            return unwrap_document_key(wrapped, self.keys, envelope_header)
        except DecryptionFailed:
            former = self.former_keys()
            if not former:
                raise
        for keys in former:
            try:
                return unwrap_document_key(wrapped, keys, envelope_header)
            except DecryptionFailed:
                continue
        raise DecryptionFailed(
            "the document key could not be unwrapped: it is not for this recipient, "
            "not for this document, or it was modified"
        )

    def former_keys(self) -> list[UserKeys]:
        """The key sets this account held before its rotations, newest first, opened from
        the stored keystore with the current keys (no password needed: 7.5). The server
        cannot make them up: the slot is sealed under a key derived from the current set."""
        if self._former is None:
            answer = self.call("GET", "/accounts/me/keystore")
            raw = parse(KeystoreOut, answer, ExchangeRefused, "your keystore").keystore
            try:
                stored = Keystore.decode(raw)
                if not stored.public_keys.same_as(self.keys.public()):
                    raise MalformedInput("the stored keystore holds other keys")
                former = open_former_keys(stored, self.keys)
            except MalformedInput as exc:
                raise ExchangeRefused(
                    f"your keystore on the server does not open with your keys ({exc}): "
                    "unlock your keys again with your password"
                ) from exc
            self._former = [f.keys for f in reversed(former)]
        return self._former

    def use_keys(self, keys: UserKeys, former: list[UserKeys]) -> None:
        """After a rotation on this device: sign and read with the new keys from now on,
        the directory proven anew (this account's entry changed)."""
        self._keys = keys
        self.public_keys = keys.public()
        self._former = former
        self.directory.refresh()
        self.directory.forget()

    # -- patient files ------------------------------------------------------------------

    def patient_file(self, practice_id: uuid.UUID | str, patient_email: str) -> dict[str, Any]:
        """The patient's file in the practice (made on first use), as JSON."""
        request = PatientFileIn(
            practice_id=uuid.UUID(str(practice_id)), patient_email=patient_email
        )
        answer = self.call("POST", "/patient-files", json=body(request))
        opened = parse(PatientFileOut, answer, ExchangeRefused, "a patient file")
        if opened.patient_email.strip().lower() != patient_email.strip().lower():
            raise ExchangeRefused(
                f"the server opened a file of {opened.patient_email}'s, not {patient_email}'s"
            )
        self.file_patients[opened.id] = patient_email.strip().lower()
        return opened.model_dump(mode="json")

    def _recipients(self, emails: Sequence[str]) -> list[VerifiedEntry]:
        mine = self.my_entry()
        found = {mine.account_id: mine}
        for entry in self.directory.lookup_many(emails):
            found[entry.account_id] = entry
        return list(found.values())

    def resolve(self, reader: Reader, what: str) -> VerifiedEntry:
        """The proven keys of a signed reader: the directory entry of the signed address,
        refused unless it belongs to the signed account."""
        return _signed_as(reader, self.directory.lookup(reader.email), what)

    def resolve_many(self, readers: Sequence[Reader], what: str) -> list[VerifiedEntry]:
        """``resolve`` for several readers, all looked up in one batch (one head)."""
        entries = self.directory.lookup_many([r.email for r in readers])
        return [_signed_as(r, e, what) for r, e in zip(readers, entries, strict=True)]


def _signed_as(reader: Reader, entry: VerifiedEntry, what: str) -> VerifiedEntry:
    if entry.account_id != reader.account_id:
        raise ExchangeRefused(
            f"{what} names {reader.email} for an account that the key directory does "
            "not give this address to: nothing was encrypted"
        )
    return entry


def _signable(path: str) -> bool:
    return not path.startswith("/keys/") and path != "/accounts/me"


def _streamed(kwargs: dict[str, Any]) -> bool:
    content = kwargs.get("content")
    return content is not None and not isinstance(content, bytes | str)
