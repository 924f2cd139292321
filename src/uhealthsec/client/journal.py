"""Verifying the server's journal from a client (``uhs journal verify``).

The client fetches the journal's signed head (consistent with the one it pinned
before), the signed checkpoints (a head at every multiple of 1,024 entries; with
``all_heads``, every head, one per batch of entries), and the leaf hash of every
entry; it recomputes the tree and compares its root at each signed size. A changed,
dropped, inserted or moved entry makes the first signed head after it disagree, which
names the range; with the leaf hashes it verified last time (kept in a local file) it
names the exact entries. A forked or rolled-back journal
fails the consistency proof. Responses that changed something carry the entry that
recorded them and its inclusion proof, which ``check_receipt`` verifies.

A patient's history (and a practice's activity) is proven complete by
``check_history``: reading it is itself journaled, and that entry's link in the
subject's chain, proven in a signed head that extends the device's pinned one, is where
the client starts (the request carries a fresh nonce, so only this request's entry
describes it: an earlier check's receipt cannot be replayed); it walks the
chain back through the served entries (each proven in the same head) to the first,
and names every range of entries the server left out.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from uhealthsec.client.errors import HistoryIncomplete, JournalTampered, LogRefused
from uhealthsec.client.logs import LogKey, LogPin, accept_head, log_key
from uhealthsec.client.state_files import write_atomically
from uhealthsec.client.transport import journaled_digest
from uhealthsec.client.wire import parse
from uhealthsec.crypto import merkle
from uhealthsec.crypto.checkpoint import Checkpoint
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.journal import ENTRY_VERSION_UNCHAINED, JournalEntry
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode
from uhealthsec.protocol.journal import HistoryItemOut, LeavesOut
from uhealthsec.protocol.logs import CheckpointOut, LogHeadOut

JOURNAL_LOG = "journal"
PAGE = 10_000
#: History entries per request (the server's maximum).
HISTORY_PAGE = 500
#: Whole entries per request, for a witness (the server's maximum).
ENTRIES_PAGE = 1_000
#: The random value that makes a history's anchoring request unique (128 bits).
ANCHOR_NONCE_BYTES = 16


@dataclass(frozen=True)
class Gap:
    """Entries of a chain the server did not serve: numbers ``first`` to ``last`` of
    the subject's chain, at journal indexes from ``from_index`` to ``to_index`` (the
    newest missing one is exactly at ``to_index``)."""

    first: int
    last: int
    from_index: int
    to_index: int

    def __str__(self) -> str:
        count = self.last - self.first + 1
        entries = f"entry {self.first}" if count == 1 else f"entries {self.first} to {self.last}"
        where = (
            f"journal entry {self.to_index}"
            if self.from_index == self.to_index
            else f"between journal entries {self.from_index} and {self.to_index}"
        )
        return f"{entries} of the chain ({count} missing, {where})"


@dataclass(frozen=True)
class ChainPin:
    """Where a subject's chain stood when this device last proved it complete: the
    entry numbered ``sequence`` was at journal index ``index``. A later chain must
    still hold that entry there; a chain restarted or rewritten since does not."""

    sequence: int
    index: int


@dataclass(frozen=True)
class HistoryCheck:
    """A history proven complete back to the start of its chain."""

    #: The served items (as the server describes them), newest first.
    items: list[dict[str, Any]]
    #: Entries on the chain, each proven in the head of ``tree_size`` entries.
    chained: int
    #: Entries written before chains existed (version 1): listed, each proven in the
    #: head, but their completeness cannot be shown.
    unchained: int
    tree_size: int
    #: Where the chain stands now (the anchor): pass it to the next check.
    pin: ChainPin | None = None
    gaps: list[Gap] = field(default_factory=list)


@dataclass(frozen=True)
class Verification:
    head: Checkpoint
    heads: int
    previous_size: int

    @property
    def size(self) -> int:
        return self.head.size


Call = Callable[..., httpx2.Response]


class JournalClient:
    def __init__(
        self,
        call: Call,
        pin: LogPin | None = None,
        on_pin_change: Callable[[LogPin], None] | None = None,
        leaf_cache: Path | None = None,
    ) -> None:
        self._call = call
        self.pin = pin or LogPin()
        self._on_pin_change = on_pin_change
        self._cache = leaf_cache

    def verify(
        self, progress: Callable[[int, int], None] | None = None, all_heads: bool = False
    ) -> Verification:
        params = {"since": self.pin.size} if self.pin.size else {}
        served = self._head(params)
        head, pin = accept_head(served, self.pin, JOURNAL_LOG, "the journal")
        signed = self._signed_heads(pin.key(), head.size, all_heads)
        every = merkle.CHECKPOINT_INTERVAL
        checkpoints = [h.size for h in signed if h.size % every == 0]
        # Counted, not listed: a served size of 2^62 must not make a list of them.
        for position, found in enumerate([*checkpoints, None], start=1):
            if position > head.size // every:
                break
            if found != position * every:
                raise JournalTampered(
                    f"the journal has no signed checkpoint at {position * every} entries "
                    f"(it signs one every {every:,} entries)"
                )
        if not signed or signed[-1].size != head.size:
            signed.append(head)
        known = self._cached_leaves()
        seen: list[bytes] | None = [] if self._cache is not None else None
        builder = merkle.RootBuilder()
        checked_from = 0
        pending = iter(signed)
        next_head = next(pending, None)
        for start in range(0, head.size, PAGE):
            end = min(start + PAGE, head.size)
            page = self._call("GET", "/journal/leaves", params={"start": start, "end": end})
            packed = parse(LeavesOut, page, JournalTampered, "the journal's leaves").hashes
            leaves = [packed[i : i + 32] for i in range(0, len(packed) - len(packed) % 32, 32)]
            if len(leaves) != end - start:
                raise JournalTampered(
                    f"the journal serves {start + len(leaves)} entries where its signed head "
                    f"counts {head.size}: entries were removed"
                )
            for offset, leaf in enumerate(leaves):
                index = start + offset
                if index < len(known) and known[index] != leaf:
                    raise JournalTampered(
                        f"journal entry {index} is not the one this device verified before: "
                        "it was changed or moved"
                    )
                builder.add(leaf)
                if seen is not None:
                    seen.append(leaf)
                while next_head is not None and next_head.size == builder.size:
                    if builder.root() != next_head.root:
                        raise JournalTampered(
                            f"journal entries {checked_from} to {builder.size - 1} do not match "
                            f"the head the server signed for {builder.size} entries: an entry "
                            "there was changed, removed, added or moved"
                        )
                    checked_from = builder.size
                    next_head = next(pending, None)
            if progress:
                progress(end, head.size)
        if builder.root() != head.root:
            raise JournalTampered("the journal's entries do not make the root it signed")
        if seen is not None and self._cache is not None:
            self._cache.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self._cache, b"".join(seen))
        previous = self.pin.size
        if pin != self.pin:
            self.pin = pin
            if self._on_pin_change is not None:
                self._on_pin_change(pin)
        return Verification(head, len(signed), previous)

    def _signed_heads(self, key: LogKey, size: int, all_heads: bool) -> list[Checkpoint]:
        heads: list[Checkpoint] = []
        from_size = 1
        while True:
            params = {"from_size": from_size, "limit": PAGE, "checkpoints": not all_heads}
            page = self._checkpoints(params)
            for raw in page:
                head = _opened(key, raw)
                if head.size > size:
                    return heads
                if heads and head.size <= heads[-1].size:
                    raise JournalTampered("the journal's checkpoints are not in order")
                heads.append(head)
            if len(page) < PAGE:
                return heads
            from_size = heads[-1].size + 1

    def _head(self, params: dict[str, int] | None = None) -> LogHeadOut:
        answer = self._call("GET", "/journal/head", params=params or {})
        return parse(LogHeadOut, answer, JournalTampered, "the journal's head")

    def _checkpoints(self, params: dict[str, int | bool]) -> list[CheckpointOut]:
        answer = self._call("GET", "/journal/heads", params=params)
        return parse(list[CheckpointOut], answer, JournalTampered, "the journal's checkpoints")

    # -- local copy of verified leaf hashes ---------------------------------------------

    def _cached_leaves(self) -> list[bytes]:
        if self._cache is None or not self._cache.exists():
            return []
        data = self._cache.read_bytes()
        return [data[i : i + 32] for i in range(0, len(data) - len(data) % 32, 32)]

    def _log_key(self) -> LogKey:
        """The journal's key and origin: as pinned, else as served now (and checked
        against whatever the pin holds)."""
        if self.pin.log_key and self.pin.origin:
            return self.pin.key()
        try:
            return log_key(self._head().log_key, self.pin, JOURNAL_LOG, "the journal")
        except LogRefused as exc:
            raise JournalTampered(str(exc)) from exc

    # -- receipts ------------------------------------------------------------------------

    def check_receipt(
        self, response: httpx2.Response, actor: str, sent_body: bytes = b""
    ) -> tuple[int, JournalEntry]:
        """The entry that recorded this response's request: it must describe this
        request by this actor, and be proven in a signed head of the journal."""
        index, entry, _, _ = self._receipt(response, actor, sent_body)
        return index, entry

    def _receipt(
        self, response: httpx2.Response, actor: str, sent_body: bytes
    ) -> tuple[int, JournalEntry, Checkpoint, LogKey]:
        """The receipt's index and entry, the checkpoint that proves it, and the key
        that signed that checkpoint."""
        try:
            data = b64u_decode(response.headers["uhs-journal-entry"])
            index_text, size_text, proof_text = response.headers["uhs-journal-proof"].split(";")
            index, size = int(index_text), int(size_text)
            proof = [b64u_decode(p) for p in proof_text.split(",") if p]
            entry = JournalEntry.decode(data)
        except (KeyError, ValueError, CryptoError) as exc:
            raise JournalTampered("the response carries no valid journal receipt") from exc
        expected = journaled_digest(response.request, hashlib.sha256(sent_body).digest())
        if str(entry.actor) != actor or entry.request_digest != expected:
            raise JournalTampered("the journal entry does not describe this request")
        key = self._log_key()
        heads = self._checkpoints({"from_size": size, "limit": 1})
        signed = _opened(key, heads[0]) if heads else None
        if signed is None or signed.size != size:
            raise JournalTampered(f"the journal has no signed checkpoint of size {size}")
        try:
            merkle.verify_inclusion(merkle.leaf_hash(data), index, size, proof, signed.root)
        except CryptoError as exc:
            raise JournalTampered(f"journal entry {index} is not proven in the journal") from exc
        return index, entry, signed, key

    # -- completeness of a history -------------------------------------------------------

    def check_history(
        self, me: str, practice_id: str | None = None, known: ChainPin | None = None
    ) -> HistoryCheck:
        """Your access history (a patient) or your practice's activity (an admin, with
        ``practice_id``), proven complete: raises ``HistoryIncomplete`` naming each
        range of entries the server left out, ``JournalTampered`` for anything else
        that does not hold, including a chain that no longer holds the entry this
        device saw last time (``known``)."""
        path = f"/practices/{practice_id}/journal" if practice_id else "/journal/history"
        subject = uuid.UUID(practice_id or me)
        whose = "the practice" if practice_id else "you"
        # A fresh nonce makes the anchoring request, hence the entry that journals it,
        # unlike any earlier one: the receipt of an earlier check cannot be replayed.
        nonce = b64u_encode(os.urandom(ANCHOR_NONCE_BYTES))
        answer = self._call("GET", path, params={"limit": 1, "nonce": nonce})
        if answer.request.url.params.get("nonce") != nonce:
            raise JournalTampered(
                "the journal receipt of the history is not for this request: it answers an "
                "earlier one"
            )
        anchor_index, anchor, head, key = self._receipt(answer, me, b"")
        self._extend_pin(head, key)
        link = anchor.link(subject)
        if link is None:
            raise JournalTampered(f"reading the history was not journaled as about {whose}")
        if known is not None and link.sequence <= known.sequence:
            raise JournalTampered(
                f"the chain of {whose} is shorter than when this device last checked it: "
                "it was rewound"
            )
        items: list[HistoryItemOut] = []
        before = anchor_index  # what was read after the anchor is not in its chain
        while True:
            params = {"limit": HISTORY_PAGE, "before": before, "tree_size": head.size}
            answer = self._call("GET", path, params=params)
            page = parse(list[HistoryItemOut], answer, JournalTampered, f"the history of {whose}")
            items += page
            if len(page) < HISTORY_PAGE:
                break
            before = page[-1].index
        check_journal_order([item.index for item in items], anchor_index)
        proven = [(item.index, self._proven(item, head)) for item in items]
        # Version 1 is read only before the cut-over: an entry of version 1 after one of
        # version 2 was written by a server that keeps entries out of the chains.
        chained_indexes = [i for i, e in proven if e.version != ENTRY_VERSION_UNCHAINED]
        cut_over = min([anchor_index, *chained_indexes])
        # Walk the chain back from the anchor: the next entry wanted is number
        # ``wanted`` of the chain, at journal index ``at``.
        wanted, at = link.sequence - 1, link.previous
        gaps: list[Gap] = []
        chained = unchained = 0
        for index, entry in proven:
            found = entry.link(subject)
            if found is None:
                if entry.version != ENTRY_VERSION_UNCHAINED:
                    raise JournalTampered(f"journal entry {index} is listed but not about {whose}")
                if index > cut_over:
                    raise JournalTampered(
                        f"journal entry {index} is of version 1, written after entry "
                        f"{cut_over} of version 2: it was kept out of the chain of {whose}"
                    )
                unchained += 1
                continue
            if wanted < 0 or index > at or found.sequence > wanted:
                raise JournalTampered(
                    f"journal entry {index} claims a place in the chain of {whose} that another "
                    "entry holds: the chain was forked"
                )
            if (index == at) != (found.sequence == wanted):
                raise JournalTampered(
                    f"journal entry {index} is not where the chain of {whose} places it"
                )
            if index < at:
                gaps.append(Gap(found.sequence + 1, wanted, index + 1, at))
            if known is not None and found.sequence == known.sequence and index != known.index:
                raise JournalTampered(
                    f"entry {known.sequence} of the chain of {whose} was at journal index "
                    f"{known.index} when this device last checked it, and is now at {index}: "
                    "the chain was rewritten"
                )
            chained += 1
            wanted, at = found.sequence - 1, found.previous
        if wanted >= 0:
            gaps.append(Gap(0, wanted, 0, at))
        if gaps:
            raise HistoryIncomplete(gaps)
        pin = ChainPin(link.sequence, anchor_index)
        served = [item.model_dump(mode="json") for item in items]
        return HistoryCheck(served, chained, unchained, head.size, pin)

    def _extend_pin(self, head: Checkpoint, key: LogKey) -> None:
        """Accept a receipt's signed head only if it extends the journal this device
        pinned (an anchor from a forked or older journal proves nothing), then pin it."""
        if head.size < self.pin.size:
            raise JournalTampered(
                f"the journal's head of {head.size} entries is older than the one of "
                f"{self.pin.size} entries this device already saw: the answer was replayed"
            )
        if head.size == self.pin.size:
            if b64u_decode(self.pin.root) != head.root:
                raise JournalTampered(
                    f"the journal's head of {head.size} entries is not the one this device "
                    "saw before: the server shows different journals"
                )
            return
        if self.pin.size:
            params = {"since": self.pin.size, "size": head.size}
            served = self._head(params)
            try:
                proven, pin = accept_head(served, self.pin, JOURNAL_LOG, "the journal")
            except LogRefused as exc:
                raise JournalTampered(str(exc)) from exc
            if (proven.size, proven.root) != (head.size, head.root):
                raise JournalTampered(
                    f"the journal's head of {head.size} entries is not the one it proves "
                    "consistent with what this device saw"
                )
        else:  # the key that signed the head, not one fetched again
            pin = LogPin(b64u_encode(key.key), head.size, b64u_encode(head.root), key.origin)
        self.pin = pin
        if self._on_pin_change is not None:
            self._on_pin_change(pin)

    @staticmethod
    def _proven(item: HistoryItemOut, head: Checkpoint) -> JournalEntry:
        """A served item's entry, once proven in the signed head."""
        index, data = item.index, item.entry
        try:
            proof = item.inclusion or []
            merkle.verify_inclusion(merkle.leaf_hash(data), index, head.size, proof, head.root)
        except (ValueError, CryptoError) as exc:
            raise JournalTampered(
                f"journal entry {index} of the history is not proven in the journal"
            ) from exc
        return decoded_entry(index, data)


def decoded_entry(index: int, data: bytes) -> JournalEntry:
    """Journal entry ``index``, refused if it breaks the format's rules (a version 2
    entry naming a patient or practice outside their chain, for one)."""
    try:
        return JournalEntry.decode(data)
    except (ValueError, CryptoError) as exc:
        raise JournalTampered(f"journal entry {index} is not a valid entry: {exc}") from exc


def _opened(key: LogKey, raw: CheckpointOut) -> Checkpoint:
    """The checkpoint of a served signed note, signed by ``key``.

    :raises JournalTampered: anything else."""
    try:
        return key.open(raw.checkpoint, "the journal")
    except LogRefused as exc:
        raise JournalTampered(str(exc)) from exc


def check_journal_order(indexes: list[int], anchor_index: int) -> None:
    """A history's entries as the server must serve them: newest first, each once, all
    before the entry that anchors it. The chain places the chained ones itself; this
    also holds entries of version 1, which no chain places (shown twice or out of
    order, they would tell another story).

    :raises JournalTampered: an entry served twice, out of order or after the anchor.
    """
    previous = anchor_index
    for index in indexes:
        if index >= previous:
            raise JournalTampered(
                f"journal entry {index} is served out of the journal's order, or twice"
            )
        previous = index
