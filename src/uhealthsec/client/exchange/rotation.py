"""Replacing this account's keys (docs/PROTOCOL.md, 10.6): new keys, a keystore of
version 2 holding them and the former ones, and the statement both the current and
the new signing keys sign, which readers require before they take the new entry."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from uhealthsec.client.errors import ExchangeRefused
from uhealthsec.client.exchange.receiving import inbox_pages, listing_pages
from uhealthsec.client.exchange.session import ExchangeSession
from uhealthsec.client.wire import body, parse
from uhealthsec.crypto import envelope
from uhealthsec.crypto.directory import DirectoryEntry
from uhealthsec.crypto.errors import CryptoError, WrongPassword
from uhealthsec.crypto.key_rotation import sign_rotation
from uhealthsec.crypto.keystore import (
    Keystore,
    open_former_keys,
    rotate_keystore,
    unlock_with_password,
)
from uhealthsec.crypto.wrap import unwrap_document_key, wrap_document_key
from uhealthsec.protocol.keys import KeyRotationIn, KeyRotationOut
from uhealthsec.protocol.messaging import (
    MessageOut,
    MessageRewrapIn,
    MessageRewrapsIn,
    ThreadOut,
)
from uhealthsec.protocol.records import (
    MAX_REWRAPS,
    DocumentOut,
    RewrapIn,
    RewrappedOut,
    RewrapsIn,
)
from uhealthsec.protocol.signin import KeystoreOut


@dataclass(frozen=True)
class Rotation:
    """What a rotation made: the new entry's place and version, and the new recovery
    key, to show the user once (the former words no longer open the keystore)."""

    index: int
    key_version: int
    recovery_key: bytes = field(repr=False)


#: A page of a thread's messages (their keys go back ``MAX_REWRAPS`` at a time).
_MESSAGES_PAGE = 500
_THREADS_PAGE = 200


@dataclass(frozen=True)
class Rewrapped:
    """What re-wrapping after a rotation changed: the versions of documents and the
    messages whose key the server now holds wrapped to the current keys only, and
    those no key set of this account opens (left as they are)."""

    versions: int
    messages: int
    unopened: int


class KeyRotation(ExchangeSession):
    def rotate_keys(self, password: str) -> Rotation:
        """Replace this account's keys. The password seals the new keystore as it
        sealed the current one (so signing in does not change); it is checked first
        against the stored keystore. Needs a second factor proven in the last minutes
        (the server answers 403 otherwise); other devices are signed out.

        :raises ExchangeRefused: the password is wrong, the stored keystore is not this
            device's, or the server refused the rotation.
        """
        answer = self.call("GET", "/accounts/me/keystore")
        raw = parse(KeystoreOut, answer, ExchangeRefused, "your keystore").keystore
        try:
            stored = Keystore.decode(raw)
            current = unlock_with_password(stored, password)
        except WrongPassword as exc:
            raise ExchangeRefused("wrong password: your keys were not replaced") from exc
        except CryptoError as exc:
            raise ExchangeRefused(f"your stored keystore does not open ({exc})") from exc
        if not current.public().same_as(self.keys.public()):
            raise ExchangeRefused(
                "your stored keystore holds other keys than this device's: they were "
                "replaced from another device; unlock your keys again"
            )
        mine = self.my_entry().entry
        rotated = rotate_keystore(stored, current, mine.key_version, password)
        new_entry = DirectoryEntry(
            mine.account_id,
            mine.key_version + 1,
            mine.kind,
            mine.email,
            rotated.keys.public().encode(),
        )
        keystore = rotated.keystore.encode()
        statement = sign_rotation(mine, new_entry, keystore, current.signing, rotated.keys.signing)
        request = KeyRotationIn(
            bundle=new_entry.bundle, keystore=keystore, statement=statement.encode()
        )
        published = parse(
            KeyRotationOut,
            self.call("POST", "/keys/rotations", json=body(request)),
            ExchangeRefused,
            "the key rotation",
        )
        former = open_former_keys(rotated.keystore, rotated.keys)
        self.use_keys(rotated.keys, [f.keys for f in reversed(former)])
        if self.my_entry().index != published.index:
            raise ExchangeRefused(
                "the key directory does not publish your new keys where the server said: "
                "tell your security contact"
            )
        return Rotation(published.index, new_entry.key_version, rotated.recovery_key)

    def rewrap_to_current_keys(self) -> Rewrapped:
        """After a rotation for a suspected compromise (docs/PROTOCOL.md, 10.6): every
        wrapped key of this account that only a former key set opens (documents'
        versions, messages) is unwrapped here and wrapped again to the current keys, and
        the server overwrites its copy, so a thief of the former private keys no longer
        finds one it opens. Safe to run again: what the current keys open is skipped.
        Needs a second factor proven in the last minutes (403 otherwise: prove one and
        run it again, it goes on where it stopped).

        :raises ApiError: the server refused a batch (nothing of that batch changed).
        :raises ExchangeRefused: an answer was not what was asked for.
        """
        versions = messages = unopened = 0
        batch: list[RewrapIn] = []
        for document_id, number, wrapped, header in self._my_document_keys():
            rewrapped = self._rewrapped(wrapped, header)
            if rewrapped is None:
                unopened += 1
            elif rewrapped:
                batch.append(
                    RewrapIn(document_id=document_id, version=number, wrapped_key=rewrapped)
                )
            if len(batch) == MAX_REWRAPS:
                versions += self._send_rewraps("/documents/rewraps", RewrapsIn(keys=batch))
                batch = []
        if batch:
            versions += self._send_rewraps("/documents/rewraps", RewrapsIn(keys=batch))
        for thread_id, page in self._my_message_pages():
            keys = []
            for message in page:
                rewrapped = self._rewrapped(
                    message.wrapped_key, message.body_envelope[: envelope.HEADER_SIZE]
                )
                if rewrapped is None:
                    unopened += 1
                elif rewrapped:
                    keys.append(MessageRewrapIn(message_id=message.id, wrapped_key=rewrapped))
            for start in range(0, len(keys), MAX_REWRAPS):
                messages += self._send_rewraps(
                    f"/threads/{thread_id}/rewraps",
                    MessageRewrapsIn(keys=keys[start : start + MAX_REWRAPS]),
                )
        return Rewrapped(versions, messages, unopened)

    def _rewrapped(self, wrapped: bytes, header: bytes) -> bytes | None:
        """``wrapped`` wrapped again to the current keys if only a former key set opens
        it; empty if the current keys open it already; None if none opens it."""
        try:
            unwrap_document_key(wrapped, self.keys, header)
            return b""
        except CryptoError:
            pass
        for keys in self.former_keys():
            try:
                key = unwrap_document_key(wrapped, keys, header)
                # The key must be the one the envelope's header commits to: a wrapped
                # key the server moved here from elsewhere is not wrapped again.
                envelope.check_header(key, header)
            except CryptoError:
                continue
            return wrap_document_key(key, self.keys.public(), header)
        return None

    def _my_document_keys(self) -> Iterator[tuple[uuid.UUID, int, bytes, bytes]]:
        for answer in inbox_pages(self.call):
            for view in parse(list[DocumentOut], answer, ExchangeRefused, "your documents"):
                for version in view.versions:
                    if version.wrapped_key is not None:
                        yield view.id, version.number, version.wrapped_key, version.envelope_header

    def _my_message_pages(self) -> Iterator[tuple[uuid.UUID, list[MessageOut]]]:
        for answer in listing_pages(self.call, "/threads", _THREADS_PAGE):
            for thread in parse(list[ThreadOut], answer, ExchangeRefused, "your threads"):
                after = 0
                while True:
                    page = parse(
                        list[MessageOut],
                        self.call(
                            "GET",
                            f"/threads/{thread.id}/messages",
                            params={"after": after, "limit": _MESSAGES_PAGE},
                        ),
                        ExchangeRefused,
                        "the thread's messages",
                    )
                    if not page or page[-1].seq <= after:
                        break
                    yield thread.id, page
                    after = page[-1].seq
                    if len(page) < _MESSAGES_PAGE:
                        break

    def _send_rewraps(self, path: str, request: RewrapsIn | MessageRewrapsIn) -> int:
        answer = self.call("POST", path, json=body(request))
        return parse(RewrappedOut, answer, ExchangeRefused, "your keys wrapped again").versions
