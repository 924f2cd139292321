"""Checking the server's key directory before trusting any key it hands out.

The device remembers the directory's signing key and the last tree head it verified
(its *pin*). Every new head must be signed by that key and proven, by an RFC 9162
consistency proof, to extend the pinned one; every key used must be proven, by an
inclusion proof, to be in the verified tree and to belong to the address asked for.
A server that swaps a key, forks the log or rolls it back is refused, with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from uhealthsec.client.api import ApiError
from uhealthsec.client.logs import LogPin, LogRefused, accept_head
from uhealthsec.crypto import merkle
from uhealthsec.crypto.directory import DirectoryEntry
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.protocol.encoding import b64u_decode

KEY_DIRECTORY_LOG = "keys"


class DirectoryRefused(LogRefused):
    """The key directory could not prove what it said; nothing was sent or trusted."""


@dataclass(frozen=True)
class VerifiedEntry:
    index: int
    entry: DirectoryEntry

    @property
    def account_id(self) -> uuid.UUID:
        return self.entry.account_id


Call = Callable[..., httpx.Response]


class KeyDirectoryClient:
    def __init__(
        self,
        call: Call,
        pin: LogPin,
        on_pin_change: Callable[[LogPin], None] | None = None,
    ) -> None:
        self._call = call
        self.pin = pin
        self._on_pin_change = on_pin_change
        self._head: merkle.TreeHead | None = None
        #: Entries proven against the current head (cleared when the head moves).
        self._proven: dict[str | int, VerifiedEntry] = {}

    def head(self) -> merkle.TreeHead:
        """The verified head of this session (fetched and checked once)."""
        return self._head or self.refresh()

    def refresh(self) -> merkle.TreeHead:
        params = {"since": self.pin.size} if self.pin.size else {}
        body = self._call("GET", "/keys/head", params=params).json()
        try:
            head, pin = accept_head(body, self.pin, KEY_DIRECTORY_LOG, "the key directory")
        except LogRefused as exc:
            raise DirectoryRefused(str(exc)) from exc
        if self._head is None or self._head.size != head.size:
            self._proven.clear()
        self._head = head
        if pin != self.pin:
            self.pin = pin
            if self._on_pin_change is not None:
                self._on_pin_change(pin)
        return head

    def lookup(self, email: str) -> VerifiedEntry:
        """The keys of an address, proven to be in the verified directory."""
        address = email.strip().lower()
        if address in self._proven:
            return self._proven[address]

        def fetch(head: merkle.TreeHead) -> dict[str, Any]:
            params = {"email": address, "tree_size": head.size}
            return self._call("GET", "/keys/entries", params=params).json()  # type: ignore[no-any-return]

        head = self.head()
        try:
            body = fetch(head)
        except ApiError as exc:
            if exc.status != 404:
                raise
            # The address may have joined after this session's head: look once more in
            # the newest (verified) directory.
            head = self.refresh()
            body = fetch(head)
        verified = self._verify(body, head, f"the keys of {address}")
        if verified.entry.email != address:
            raise DirectoryRefused(
                f"the key directory answered for {verified.entry.email} when asked for {address}"
            )
        self._proven[address] = verified
        return verified

    def entry(self, index: int) -> VerifiedEntry:
        """The directory entry at a position (a document names its signer's entry)."""
        if index in self._proven:
            return self._proven[index]
        head = self.head()
        if index >= head.size:
            head = self.refresh()
        body = self._call("GET", f"/keys/entries/{index}", params={"tree_size": head.size}).json()
        verified = self._verify(body, head, f"directory entry {index}")
        if verified.index != index:
            raise DirectoryRefused(f"the key directory answered with another entry than {index}")
        self._proven[index] = verified
        return verified

    def _verify(self, body: dict[str, Any], head: merkle.TreeHead, what: str) -> VerifiedEntry:
        data = b64u_decode(body["entry"])
        index = int(body["index"])
        try:
            if int(body["tree_size"]) != head.size:
                raise merkle.InvalidProof("proof for another tree")
            merkle.verify_inclusion(
                merkle.leaf_hash(data),
                index,
                head.size,
                [b64u_decode(p) for p in body["inclusion"]],
                head.root,
            )
            entry = DirectoryEntry.decode(data)
        except CryptoError as exc:
            raise DirectoryRefused(
                f"the key directory cannot prove {what}: refusing to use that key"
            ) from exc
        return VerifiedEntry(index, entry)
