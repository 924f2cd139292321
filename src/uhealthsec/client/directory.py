"""Checking the server's key directory before trusting any key it hands out.

The device remembers the directory's signing key and the last tree head it verified
(its *pin*). Every new head must be signed by that key and proven, by an RFC 9162
consistency proof, to extend the pinned one; every key used must be proven, by an
inclusion proof, to be in the verified tree and to belong to the address asked for,
and, by the map the tree ends with, to be that address's newest keys. An account
that replaced its keys is accepted only with the chain of its rotations, each signed
by the keys it replaced (docs/PROTOCOL.md, 10.6). A server that swaps a key, shows an
address's older keys, forks the log or rolls it back is refused, with the reason. A
monitor replays the whole log (``audit``) to check that every map the server committed
to says what the entries before it say, and that every rotation was signed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx2

from uhealthsec.client.errors import ApiError, DirectoryRefused, LogRefused, NoKeysPublished
from uhealthsec.client.logs import LogPin, accept_head
from uhealthsec.client.wire import parse
from uhealthsec.crypto import account_map, key_rotation, merkle
from uhealthsec.crypto.account_map import AccountMap, MapCommitment, MapProof, MapValue
from uhealthsec.crypto.checkpoint import Checkpoint
from uhealthsec.crypto.directory import DirectoryEntry
from uhealthsec.crypto.errors import CryptoError, InvalidProof
from uhealthsec.protocol.keys import (
    MAX_LOOKUPS,
    ChainLinkOut,
    DirectoryEntryOut,
    DirectoryLookupsIn,
    DirectoryLookupsOut,
    MapProofOut,
)
from uhealthsec.protocol.logs import LogEntryOut, LogHeadOut

KEY_DIRECTORY_LOG = "keys"


@dataclass(frozen=True)
class VerifiedEntry:
    index: int
    entry: DirectoryEntry
    #: The account's newest keys in the verified head: the only ones encrypted to. An
    #: older entry of a rotated account (proven by its chain) only checks signatures.
    current: bool = True

    @property
    def account_id(self) -> uuid.UUID:
        return self.entry.account_id


Call = Callable[..., httpx2.Response]


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
        self._head: Checkpoint | None = None
        #: Entries proven against the current head (cleared when the head moves).
        self._proven: dict[str | int, VerifiedEntry] = {}

    def forget(self) -> None:
        """Drop the entries proven so far (this account's own keys changed)."""
        self._proven.clear()

    def head(self) -> Checkpoint:
        """The verified head of this session (fetched and checked once)."""
        return self._head or self.refresh()

    def refresh(self) -> Checkpoint:
        params = {"since": self.pin.size} if self.pin.size else {}
        answer = self._call("GET", "/keys/head", params=params)
        try:
            served = parse(LogHeadOut, answer, LogRefused, "the key directory's head")
            head, pin = accept_head(served, self.pin, KEY_DIRECTORY_LOG, "the key directory")
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

        def fetch(head: Checkpoint) -> DirectoryEntryOut:
            params = {"email": address, "tree_size": head.size}
            answer = self._call("GET", "/keys/entries", params=params)
            return parse(DirectoryEntryOut, answer, DirectoryRefused, f"the keys of {address}")

        head = self.head()
        try:
            body = fetch(head)
        except ApiError as exc:
            if exc.status not in (404, 409):
                raise
            # The address may have joined after this session's head, or the head may end
            # before the map (409): look once more in the newest (verified) directory.
            head = self.refresh()
            body = fetch(head)
        verified = self._verify_address(body, head, address)
        self._proven[address] = verified
        return verified

    def lookup_many(self, emails: Sequence[str]) -> list[VerifiedEntry]:
        """The keys of several addresses, in the order given, each proven as ``lookup``
        proves one, all against one verified head, in one request per ``MAX_LOOKUPS``
        addresses not proven before. Refuses them all if any is not proven; an address
        without keys (or not this account's to see) raises ``NoKeysPublished`` naming
        every such address."""
        addresses = [e.strip().lower() for e in emails]
        if not addresses:
            return []
        found = {a: self._proven[a] for a in addresses if a in self._proven}
        wanted = [a for a in dict.fromkeys(addresses) if a not in found]
        head = self.head()
        for start in range(0, len(wanted), MAX_LOOKUPS):
            part = wanted[start : start + MAX_LOOKUPS]
            try:
                answers = self._fetch_many(part, head)
            except ApiError as exc:
                if exc.status != 409:
                    raise
                head = self.refresh()  # this head ends before the map: take the newest
                answers = self._fetch_many(part, head)
            missing = [a for a, body in zip(part, answers, strict=True) if body is None]
            if missing and head.size != self.refresh().size:
                # Some may have joined after this session's head: ask the newest once.
                head = self.head()
                answers = self._fetch_many(part, head)
                missing = [a for a, body in zip(part, answers, strict=True) if body is None]
            if missing:
                raise NoKeysPublished(missing)
            # Verified only once all are served: one failure refuses them all, by name.
            verified = [
                self._verify_address(body, head, address)
                for address, body in zip(part, answers, strict=True)
                if body is not None
            ]
            # Kept only when every one of this part is proven.
            found.update(zip(part, verified, strict=True))
            self._proven.update(zip(part, verified, strict=True))
        return [found[a] for a in addresses]

    def _fetch_many(self, addresses: list[str], head: Checkpoint) -> list[DirectoryEntryOut | None]:
        request = DirectoryLookupsIn(emails=addresses, tree_size=head.size)
        answer = self._call("POST", "/keys/lookups", json=request.model_dump(mode="json"))
        body = parse(DirectoryLookupsOut, answer, DirectoryRefused, "the keys asked for")
        if body.tree_size != head.size or len(body.entries) != len(addresses):
            raise DirectoryRefused(
                f"the key directory answered {len(body.entries)} entries in a tree of "
                f"{body.tree_size} when asked for {len(addresses)} in the tree of "
                f"{head.size} this device verified: refusing them all"
            )
        return body.entries

    def _verify_address(
        self, body: DirectoryEntryOut, head: Checkpoint, address: str
    ) -> VerifiedEntry:
        """The served entry of ``address``, proven in ``head`` and for that address."""
        verified = self._verify(body, head, f"the keys of {address}")
        if not verified.current:
            raise DirectoryRefused(
                f"the key directory answered former keys of {address}, not its newest: "
                "refusing them"
            )
        if verified.entry.email != address:
            raise DirectoryRefused(
                f"the key directory answered for {verified.entry.email} when asked for {address}"
            )
        return verified

    def entry(self, index: int) -> VerifiedEntry:
        """The directory entry at a position (a document names its signer's entry)."""
        if index in self._proven:
            return self._proven[index]
        head = self.head()
        if index >= head.size:
            head = self.refresh()

        def fetch(head: Checkpoint) -> DirectoryEntryOut:
            params = {"tree_size": head.size}
            answer = self._call("GET", f"/keys/entries/{index}", params=params)
            return parse(DirectoryEntryOut, answer, DirectoryRefused, f"directory entry {index}")

        try:
            body = fetch(head)
        except ApiError as exc:
            if exc.status != 409:
                raise
            head = self.refresh()  # this head ends before the map: take the newest
            body = fetch(head)
        verified = self._verify(body, head, f"directory entry {index}")
        if verified.index != index:
            raise DirectoryRefused(f"the key directory answered with another entry than {index}")
        self._proven[index] = verified
        return verified

    def _verify(self, body: DirectoryEntryOut, head: Checkpoint, what: str) -> VerifiedEntry:
        index = body.index
        try:
            data = _proven_leaf(body, head, index)
            entry = DirectoryEntry.decode(data)
            value = _map_value(body.map, head, entry.account_id)
        except _MALFORMED as exc:
            raise DirectoryRefused(
                f"the key directory cannot prove {what}: refusing to use that key"
            ) from exc
        if entry.email != entry.email.strip().lower():
            raise DirectoryRefused(f"the key directory gives {what} under an unusual address")
        if value.count != 1:
            # Keys replaced: only with the chain of rotations their owner signed (10.6).
            return self._verify_chain(body.chain, head, index, data, entry, value, what)
        if value.index != index or value.leaf_hash != merkle.leaf_hash(data):
            raise DirectoryRefused(
                f"the key directory's map does not name {what} (entry {index}) as the "
                f"keys of {entry.email}'s account: refusing them"
            )
        if entry.key_version != 1:
            raise DirectoryRefused(
                f"the key directory gives keys of version {entry.key_version} for "
                f"{entry.email} without the rotations that replaced the former ones: "
                "refusing them"
            )
        return VerifiedEntry(index, entry)

    def _verify_chain(
        self,
        chain: list[ChainLinkOut],
        head: Checkpoint,
        index: int,
        data: bytes,
        entry: DirectoryEntry,
        value: MapValue,
        what: str,
    ) -> VerifiedEntry:
        """``entry`` of an account that rotated its keys: every entry of the account,
        versions 1 to the map's count, proven in ``head`` and linked by statements
        each signed by the keys it replaced (docs/PROTOCOL.md, 10.6, rules 1, 2, 5)."""
        try:
            if len(chain) != value.count:
                raise InvalidProof("a chain of rotations with missing entries")
            for link in chain:
                _verify_leaf(link.entry, link.index, link.inclusion, head)
            entries = key_rotation.verify_chain(
                [link.entry for link in chain], [link.rotation for link in chain]
            )
            last = chain[-1]
            if last.index != value.index or merkle.leaf_hash(last.entry) != value.leaf_hash:
                raise InvalidProof("the map names another newest entry")
            if entries[0].account_id != entry.account_id or not any(
                link.index == index and link.entry == data for link in chain
            ):
                raise InvalidProof("the entry asked for is not in its account's chain")
        except _MALFORMED as exc:
            raise DirectoryRefused(
                f"the key directory holds {value.count} sets of keys for the account of "
                f"{entry.email} without the chain of rotations its owner signed ({exc}): "
                "some may have been published without their owner. Nothing is sent to "
                f"them; compare safety numbers with {entry.email}"
            ) from exc
        return VerifiedEntry(index, entry, current=index == value.index)


def _proven_leaf(body: LogEntryOut, head: Checkpoint, index: int) -> bytes:
    """The leaf bytes of a served entry, proven to be leaf ``index`` of the verified
    head.

    :raises CryptoError: another tree, or a proof that does not verify.
    """
    if body.tree_size != head.size:
        raise InvalidProof("proof for another tree")
    _verify_leaf(body.entry, index, body.inclusion, head)
    return body.entry  # type: ignore[no-any-return]


def _verify_leaf(data: bytes, index: int, proof: list[bytes], head: Checkpoint) -> None:
    """:raises CryptoError: ``data`` is not leaf ``index`` of the verified head by the
    served inclusion proof."""
    merkle.verify_inclusion(merkle.leaf_hash(data), index, head.size, proof, head.root)


#: What a hostile server's answer, well formed as JSON, can raise while it is checked
#: (numbers out of range, bytes that do not decode, proofs that do not verify).
_MALFORMED = (CryptoError, ValueError, ArithmeticError)


def _map_value(raw: MapProofOut | None, head: Checkpoint, account: uuid.UUID) -> MapValue:
    """The account's value in the map the head ends with, its proof checked.

    :raises CryptoError: no map, or a proof that does not verify.
    """
    if raw is None:
        raise InvalidProof("no map proof")
    commitment = MapCommitment.decode(raw.commitment)
    last = head.size - 1
    if commitment.entries != last:
        raise InvalidProof("the map is not the one the tree ends with")
    _verify_leaf(raw.commitment, last, raw.commitment_inclusion, head)
    proof = MapProof(raw.depth, raw.present, tuple(raw.siblings))
    account_map.verify(commitment.root, account_map.map_key(account), raw.value, proof)
    return MapValue.decode(raw.value)


@dataclass(frozen=True)
class AuditReport:
    size: int
    accounts: int
    commitments: int
    problems: list[str]


def audit(
    call: Call, head: Checkpoint, progress: Callable[[int, int], None] | None = None
) -> AuditReport:
    """Replay the whole key directory, as a monitor does (only monitors may read every
    entry): every leaf proven in ``head``, every map commitment equal to the map of the
    entries before it, each account's entries numbered 1, 2, … and each after the first
    carried by a rotation its former keys signed (10.6), one account for each address."""
    tree = AccountMap()
    of_account: dict[uuid.UUID, int] = {}
    newest: dict[uuid.UUID, DirectoryEntry] = {}
    of_address: dict[str, tuple[int, uuid.UUID]] = {}
    problems: list[str] = []
    commitments, last_is_commitment = 0, False
    for index in range(head.size):
        if progress is not None:
            progress(index + 1, head.size)
        try:
            answer = call("GET", f"/keys/entries/{index}", params={"tree_size": head.size})
        except ApiError as exc:
            if exc.status == 404:
                raise DirectoryRefused(
                    f"entry {index} of the key directory is not readable by this account: "
                    "only the monitors the server's operator lists (UHS_DIRECTORY_MONITORS) "
                    "audit it"
                ) from exc
            problems.append(f"leaf {index}: the server refused it ({exc.status})")
            continue
        try:
            body = parse(DirectoryEntryOut, answer, DirectoryRefused, f"leaf {index}")
            if body.index != index:
                raise InvalidProof("another leaf")
            data = _proven_leaf(body, head, index)
            last_is_commitment = MapCommitment.is_one(data)
            if last_is_commitment:
                commitments += 1
                commitment = MapCommitment.decode(data)
                if commitment.entries != index or commitment.root != tree.root():
                    problems.append(
                        f"leaf {index}: the map committed to is not the map of the "
                        "entries before it"
                    )
                continue
            entry = DirectoryEntry.decode(data)
        except (DirectoryRefused, *_MALFORMED) as exc:
            problems.append(f"leaf {index}: not proven or not readable ({exc})")
            continue
        address = entry.email.strip().lower()
        count = of_account.get(entry.account_id, 0) + 1
        of_account[entry.account_id] = count
        if entry.key_version != count:
            problems.append(
                f"leaf {index}: keys of version {entry.key_version} for account "
                f"{entry.account_id} ({entry.email}), its entry number {count}"
            )
        elif count > 1:
            link = next((link for link in body.chain if link.index == index), None)
            try:
                if link is None or link.rotation is None:
                    raise InvalidProof("served without its rotation statement")
                statement = key_rotation.RotationStatement.decode(link.rotation)
                statement.verify(newest[entry.account_id], entry)
            except _MALFORMED as exc:
                problems.append(
                    f"leaf {index}: keys of version {count} for account {entry.account_id} "
                    f"({entry.email}) not carried by a rotation its former keys signed ({exc})"
                )
        newest[entry.account_id] = entry
        first = of_address.setdefault(address, (index, entry.account_id))
        if first[1] != entry.account_id or address != entry.email:
            problems.append(
                f"leaf {index}: a second account's entry for the address {entry.email} "
                f"(the first is leaf {first[0]})"
            )
        key = account_map.map_key(entry.account_id)
        tree.set(key, MapValue(index, merkle.leaf_hash(data), count).encode())
    if head.size and not last_is_commitment:
        problems.append("the directory does not end with a map commitment")
    return AuditReport(head.size, len(of_account), commitments, problems)
