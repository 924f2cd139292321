"""The key directory: every account's public keys as entries of a verifiable log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import ClassVar, Protocol

from sqlalchemy import ColumnElement, Exists, and_, delete, exists, func, select
from sqlalchemy.orm import Session, aliased

from uhealthsec.crypto.account_map import AccountMap, MapCommitment, MapProof, MapValue, map_key
from uhealthsec.crypto.directory import AccountKindCode, DirectoryEntry
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.key_rotation import RotationStatement, keystore_digest
from uhealthsec.crypto.keys import PublicKeys
from uhealthsec.crypto.keystore import Keystore
from uhealthsec.protocol.keys import MAX_LOOKUPS
from uhealthsec.server.accounts.models import (
    Account,
    AccountKind,
    Membership,
    Role,
    may_act_on_health_data,
)
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
)
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.keys.interfaces import Acquaintances, Owner
from uhealthsec.server.keys.models import (
    DirectoryMisses,
    DirectoryRecord,
    KeyRevocation,
    MapCommitmentRecord,
)
from uhealthsec.server.storage.db import upsert, window_start
from uhealthsec.server.storage.merkle_log import (
    KEY_DIRECTORY_LOG,
    MerkleLog,
    MerkleNode,
)

_KIND_CODES = {
    AccountKind.PRACTITIONER: AccountKindCode.PRACTITIONER,
    AccountKind.PATIENT: AccountKindCode.PATIENT,
}


class SignedByAccount(Protocol):
    """A manifest (crypto/manifest.py) that a user signs."""

    what: ClassVar[str]

    def verify(self, signing_key: bytes, signature: bytes) -> None: ...


@dataclass(frozen=True)
class ProvenMapValue:
    """An account's value in the map committed at the end of a head (section 10.4)."""

    commitment: bytes
    commitment_proof: list[bytes]
    value: MapValue
    proof: MapProof


@dataclass(frozen=True)
class ChainLink:
    """One entry of a rotated account, proven in the same tree (docs/PROTOCOL.md, 10.6)."""

    index: int
    leaf: bytes
    proof: list[bytes]
    rotation: bytes | None


@dataclass(frozen=True)
class ProvenEntry:
    index: int
    leaf: bytes
    tree_size: int
    proof: list[bytes]
    #: For an entry, its account's value in the map; None for a map commitment.
    map: ProvenMapValue | None
    #: For an entry of an account that rotated its keys, every entry of it, oldest first.
    chain: list[ChainLink] = field(default_factory=list)


#: Rotations an account may make in a day: each appends to the log for good.
ROTATIONS_PER_DAY = 5


#: Maps kept by each process, by (log size, committed root): a map at a size never
#: changes, and rebuilding one reads every entry.
_KEPT_MAPS = 4


#: Addresses an account may look up in an hour and be answered no keys for: far more
#: than a practice meets (a patient invited before she registers is one), and a bound
#: on testing which addresses are practitioners here (1,000 a request, otherwise).
MISSES_PER_HOUR = 300
MISS_WINDOW = timedelta(hours=1)


class NoKeys(NotFound):
    """No entry the caller may see at that address; the miss it counted stays counted."""

    keep_changes = True


class KeyDirectory:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx
        self.log = MerkleLog(db, KEY_DIRECTORY_LOG, ctx.log_key, int(ctx.now().timestamp() * 1000))

    def publish(self, account: Account) -> DirectoryRecord:
        """Append the account's current keys to the log (at activation)."""
        # The account's entries are counted under the log's lock, which the append
        # below holds too: two publications of one account cannot take one version.
        self.log.lock()
        return self._append(self._next_entry(account, account.public_keys), None)

    def _next_entry(self, account: Account, bundle: bytes) -> DirectoryEntry:
        """The entry the account's next publication of ``bundle`` appends (under the lock)."""
        versions = self.db.scalar(
            select(func.count()).where(DirectoryRecord.account_id == account.id)
        )
        return DirectoryEntry(
            account_id=account.id,
            key_version=(versions or 0) + 1,
            kind=_KIND_CODES[AccountKind(account.kind)],
            email=account.email,
            bundle=bundle,
        )

    def _append(self, entry: DirectoryEntry, rotation: bytes | None) -> DirectoryRecord:
        leaf = entry.encode()
        index = self.log.append([leaf])
        record = DirectoryRecord(
            log_index=index,
            account_id=entry.account_id,
            key_version=entry.key_version,
            email=entry.email,
            entry=leaf,
            created_at=self.ctx.now(),
            rotation=rotation,
        )
        self.db.add(record)
        self.db.flush()
        self._commit_map(index + 1)
        self.log.sign_head()
        return record

    def rotate(
        self, account: Account, bundle: bytes, keystore: bytes, statement: bytes
    ) -> DirectoryRecord:
        """Publish the account's next keys, carried by a statement its current keys and
        the new ones signed, and store the keystore holding them (docs/PROTOCOL.md,
        10.6). Nothing is written unless every check passes. The caller proved a second
        factor recently (the route asks, as for the other changes of credentials)."""
        self.log.lock()  # one rotation at a time: the version and the budget are counted under it
        current = self.current_version(account.id)
        if current is None:
            raise Forbidden("this account has no published keys yet")
        since = self.ctx.now() - timedelta(days=1)
        recent = self.db.scalar(
            select(func.count()).where(
                DirectoryRecord.account_id == account.id,
                DirectoryRecord.key_version > 1,
                DirectoryRecord.created_at > since,
            )
        )
        if (recent or 0) >= ROTATIONS_PER_DAY:
            raise TooManyRequests(
                f"your keys were replaced {ROTATIONS_PER_DAY} times in the last 24 hours: "
                "try again tomorrow",
                86400,
            )
        try:
            PublicKeys.decode(bundle)
            rotation = RotationStatement.decode(statement)
            new_keystore = Keystore.decode(keystore)
            stored = Keystore.decode(account.keystore)
        except CryptoError as exc:
            raise InvalidInput(f"the new keys, keystore or rotation statement: {exc}") from exc
        if new_keystore.public_keys.encode() != bundle:
            raise InvalidInput("the new keystore holds other keys than the ones published")
        entry = self._next_entry(account, bundle)
        if new_keystore.former is None or new_keystore.former.current_version != entry.key_version:
            raise InvalidInput(
                f"the new keystore must hold your former keys and name key version "
                f"{entry.key_version}"
            )
        if new_keystore.password_params != stored.password_params:
            # The sign-in derives its secret from these: other ones would lock the owner out.
            raise InvalidInput("the new keystore must keep the password's Argon2id parameters")
        published = self.db.scalars(
            select(DirectoryRecord.entry).where(DirectoryRecord.account_id == account.id)
        )
        if any(DirectoryEntry.decode(leaf).bundle == bundle for leaf in published):
            raise InvalidInput("these keys were published for this account before: make new ones")
        if rotation.keystore_digest != keystore_digest(keystore):
            raise InvalidInput("the rotation statement names another keystore")
        try:
            rotation.verify(DirectoryEntry.decode(current.entry), entry)
        except CryptoError as exc:
            raise InvalidInput(
                "the rotation statement is not signed by your current keys and the new ones "
                f"for key version {entry.key_version} of this account"
            ) from exc
        account.public_keys = bundle
        account.key_fingerprint = PublicKeys.decode(bundle).fingerprint()
        account.keystore = keystore
        return self._append(entry, statement)

    def commit_map(self) -> bool:
        """Append the map's commitment if the log does not end with one (a log written
        before maps existed); returns whether one was appended. Holds the log's lock, so
        that two starting processes do not both append."""
        size = self.log.lock()
        if size == 0 or self.db.get(MapCommitmentRecord, size - 1) is not None:
            return False
        self._commit_map(size)
        self.log.sign_head()
        return True

    def _commit_map(self, entries: int) -> None:
        """Append the root of the map of the first ``entries`` leaves, as leaf ``entries``."""
        root = self._map_of(entries).root()
        self.log.append([MapCommitment(entries, root).encode()])
        self.db.add(MapCommitmentRecord(log_index=entries, root=root))
        self.db.flush()

    def _map_at(self, tree_size: int) -> tuple[MapCommitmentRecord, AccountMap]:
        """The map committed to by the last leaf of a tree of ``tree_size`` leaves."""
        commitment = self.db.get(MapCommitmentRecord, tree_size - 1)
        if commitment is None:
            raise Conflict(
                "this head of the key directory commits to no map of accounts: "
                "ask for the newest head"
            )
        if tree_size <= self.log.size() - 2 * _KEPT_MAPS:
            # Proofs only against the last few maps, which processes keep: a map of an
            # older size would cost a rebuild from every entry, on request.
            raise Conflict("this head of the key directory is too old: ask for the newest head")
        tree = self._map_of(commitment.log_index)
        if tree.root() != commitment.root:
            raise LookupError("the stored map commitment does not match the directory")
        return commitment, tree

    def _map_of(self, entries: int) -> AccountMap:
        """The map of the first ``entries`` leaves: kept by this process, or built from
        the newest kept map before it (a few entries to apply), or from every entry.

        Maps are kept by (entries, root): a root names one map, so a map computed in a
        transaction that then rolled back is never taken for the one committed."""
        kept = self.ctx.account_maps
        best: tuple[int, AccountMap] | None = None
        for (covered, root), tree in list(kept.items()):  # other threads may change it
            if covered == entries and self._committed(covered, root):
                return tree
            newer = covered < entries and (best is None or covered > best[0])
            if newer and self._committed(covered, root):
                best = (covered, tree)
        tree = self._build_map(entries, best)
        kept[(entries, tree.root())] = tree
        for old in list(kept)[:-_KEPT_MAPS]:
            kept.pop(old, None)
        return tree

    def _committed(self, entries: int, root: bytes) -> bool:
        record = self.db.get(MapCommitmentRecord, entries)
        return record is not None and record.root == root

    def _build_map(self, entries: int, base: tuple[int, AccountMap] | None) -> AccountMap:
        """The newest entry of each account among the first ``entries`` leaves, and how
        many entries it has had, from ``base`` (a map of fewer leaves) if given."""
        start = base[0] if base is not None else 0
        rows = self.db.execute(
            select(DirectoryRecord.log_index, DirectoryRecord.account_id, MerkleNode.hash)
            .join(
                MerkleNode,
                and_(
                    MerkleNode.log == KEY_DIRECTORY_LOG,
                    MerkleNode.level == 0,
                    MerkleNode.index == DirectoryRecord.log_index,
                ),
            )
            .where(DirectoryRecord.log_index >= start, DirectoryRecord.log_index < entries)
            .order_by(DirectoryRecord.log_index)
        ).all()
        if base is None:  # built in one go: sorting once beats inserting one by one
            newest: dict[uuid.UUID, tuple[int, bytes, int]] = {}
            for index, account_id, leaf_hash in rows:
                count = newest[account_id][2] + 1 if account_id in newest else 1
                newest[account_id] = (index, leaf_hash, count)
            return AccountMap(
                (map_key(account), MapValue(*value).encode()) for account, value in newest.items()
            )
        tree = base[1].copy()
        for index, account_id, leaf_hash in rows:
            key = map_key(account_id)
            before = tree.get(key)
            count = MapValue.decode(before).count + 1 if before is not None else 1
            tree.set(key, MapValue(index, leaf_hash, count).encode())
        return tree

    def _map_value(
        self, account_id: uuid.UUID, tree_size: int, commitment_proof: list[bytes]
    ) -> ProvenMapValue:
        """The account's value in the map the tree's last leaf commits to;
        ``commitment_proof`` is that leaf's inclusion proof."""
        commitment, tree = self._map_at(tree_size)
        key = map_key(account_id)
        value = tree.get(key)
        if value is None:  # an entry before the commitment is always in its map
            raise LookupError("an entry is missing from the directory's map")
        return ProvenMapValue(
            MapCommitment(commitment.log_index, commitment.root).encode(),
            commitment_proof,
            MapValue.decode(value),
            tree.prove(key),
        )

    def lookup(self, viewer: Account, email: str, tree_size: int) -> ProvenEntry:
        """The newest keys of an address, with their inclusion proof in a tree of
        ``tree_size`` entries; none for a revoked account's address (answered as an
        address without keys: the refusal tells nobody the address was ever used)."""
        record = self.db.scalar(
            select(DirectoryRecord)
            .where(DirectoryRecord.email == email.strip().lower())
            .where(DirectoryRecord.log_index < tree_size)
            .order_by(DirectoryRecord.key_version.desc())
            .limit(1)
        )
        if record is not None and self._revoked({record.account_id}):
            record = None
        try:
            return self._proven(viewer, record, tree_size, by_index=False)
        except NotFound:
            self._count_misses(viewer, 1)
            raise NoKeys("no keys are published for this address") from None

    def lookup_many(
        self, viewer: Account, emails: Sequence[str], tree_size: int
    ) -> list[ProvenEntry | None]:
        """The newest keys of each address, in the order asked, all proven in one tree of
        ``tree_size`` entries; None where the single lookup answers 404 (no keys, or
        not the viewer's to see: the same None). A constant number of statements,
        whatever the number of addresses: the records, the rule for every owner, the
        proofs' stored hashes (each node read once), the map."""
        addresses = [e.strip().lower() for e in emails]  # as lookup() reads them
        if not 1 <= len(addresses) <= MAX_LOOKUPS:
            raise InvalidInput(f"look up 1 to {MAX_LOOKUPS} addresses at once")
        if len(set(addresses)) != len(addresses):
            raise InvalidInput("each address is looked up once")
        newest: dict[str, DirectoryRecord] = {}
        for record in self.db.scalars(
            select(DirectoryRecord)
            .where(DirectoryRecord.email.in_(addresses), DirectoryRecord.log_index < tree_size)
            .order_by(DirectoryRecord.key_version)
        ):
            newest[record.email] = record
        revoked = self._revoked({r.account_id for r in newest.values()})
        newest = {a: r for a, r in newest.items() if r.account_id not in revoked}
        # An address without an entry stands for a placeholder owner of its own, so that
        # the rule's statement asks about as many owners whichever addresses exist.
        owners = [
            newest[a].account_id if a in newest else uuid.UUID(int=n + 1)
            for n, a in enumerate(addresses)
        ]
        kinds = self._visible_by_address(viewer, owners)
        shown = [
            newest[a] if a in newest and newest[a].account_id in kinds else None for a in addresses
        ]
        found = [r for r in shown if r is not None]
        self._count_misses(viewer, len(shown) - len(found))
        if not found:
            return [None] * len(addresses)
        for record in found:
            if kinds[record.account_id] == AccountKind.PATIENT and record.account_id != viewer.id:
                # Who is a patient here is health data: each read goes to her history,
                # and counts against the viewer's reads, as one lookup of her would.
                current_draft().about_patient(record.account_id, None)
                current_draft().reads += 1
        last = tree_size - 1
        commitment, tree = self._map_at(tree_size)
        # Rotated accounts (rare) carry their chain: one more read for all of them.
        rotated = {r.account_id for r in found if r.key_version > 1}
        chains = self._chain_records(rotated, tree_size)
        wanted = [r.log_index for r in found] + [last]
        wanted += [link.log_index for links in chains.values() for link in links]
        proofs = self.log.inclusion_proofs(sorted(set(wanted)), tree_size)
        encoded = MapCommitment(commitment.log_index, commitment.root).encode()
        answers: list[ProvenEntry | None] = []
        for record in shown:
            if record is None:
                answers.append(None)
                continue
            key = map_key(record.account_id)
            value = tree.get(key)
            if value is None:  # an entry before the commitment is always in its map
                raise LookupError("an entry is missing from the directory's map")
            mapped = ProvenMapValue(encoded, proofs[last], MapValue.decode(value), tree.prove(key))
            answers.append(
                ProvenEntry(
                    record.log_index,
                    record.entry,
                    tree_size,
                    proofs[record.log_index],
                    mapped,
                    _links(chains.get(record.account_id, []), proofs),
                )
            )
        return answers

    def _chain_records(
        self, accounts: set[uuid.UUID], tree_size: int
    ) -> dict[uuid.UUID, list[DirectoryRecord]]:
        """Every entry of each account in the tree of ``tree_size`` leaves, oldest first."""
        chains: dict[uuid.UUID, list[DirectoryRecord]] = {}
        if not accounts:
            return chains
        for record in self.db.scalars(
            select(DirectoryRecord)
            .where(DirectoryRecord.account_id.in_(accounts), DirectoryRecord.log_index < tree_size)
            .order_by(DirectoryRecord.key_version)
        ):
            chains.setdefault(record.account_id, []).append(record)
        return chains

    def _visible_by_address(
        self, viewer: Account, owners: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, AccountKind]:
        """The owners whose entry the viewer may see by address, with their kind: the
        rule of ``_may_see``, asked about every owner in one statement."""
        rows = self.db.execute(
            select(Account.id, Account.kind, *self._relations(viewer, Account.id)).where(
                Account.id.in_(owners)
            )
        ).all()
        visible: dict[uuid.UUID, AccountKind] = {}
        for owner_id, kind, staff, reader, correspondent, _colleague in rows:
            shown = self._rule(
                viewer, owner_id, AccountKind(kind), staff or reader or correspondent, True
            )
            if shown is not None:
                visible[owner_id] = shown
        return visible

    def entry(self, viewer: Account, index: int, tree_size: int) -> ProvenEntry:
        """One entry by position: for a reader checking what was signed with it, and for
        monitors, who audit the whole log."""
        if self.is_monitor(viewer):
            # The operator named it to read every entry: past the journal's allowance,
            # its audit is not scraping (R27), as its misses are not counted either.
            current_draft().budgeted = False
        commitment = self.db.get(MapCommitmentRecord, index)
        if commitment is not None and index < tree_size:
            # A commitment is a root hash and a size: it tells nothing about anyone.
            leaf = MapCommitment(index, commitment.root).encode()
            return ProvenEntry(
                index, leaf, tree_size, self.log.inclusion_proof(index, tree_size), None
            )
        return self._proven(viewer, self.db.get(DirectoryRecord, index), tree_size, by_index=True)

    def _proven(
        self, viewer: Account, record: DirectoryRecord | None, tree_size: int, *, by_index: bool
    ) -> ProvenEntry:
        # One answer for "no such entry" and "not yours to see": no enumeration oracle.
        # The rule runs the same queries whether or not the entry exists (a placeholder
        # owner stands in), so the refusal does not tell a patient by its time either.
        visible = self._may_see(viewer, record, by_index=by_index)
        if record is None or record.log_index >= tree_size or visible is None:
            raise NotFound("no keys are published for this address")
        if visible == AccountKind.PATIENT and record.account_id != viewer.id:
            # Who is a patient here is health data: the read goes to their history.
            current_draft().about_patient(record.account_id, None)
        # The entry's, the commitment's and any chain's proofs, from one read of the
        # stored hashes. An account with one entry has no chain: its newest is version 1.
        last = tree_size - 1
        newest = self.current_version(record.account_id)
        rotated = newest is not None and newest.key_version > 1
        chain = self._chain_records({record.account_id}, tree_size) if rotated else {}
        links = chain.get(record.account_id, [])
        if len(links) < 2:  # rotated after this tree: at this size the account has one entry
            links = []
        wanted = sorted({record.log_index, last, *(link.log_index for link in links)})
        proofs = self.log.inclusion_proofs(wanted, tree_size)
        return ProvenEntry(
            record.log_index,
            record.entry,
            tree_size,
            proofs[record.log_index],
            self._map_value(record.account_id, tree_size, proofs[last]),
            _links(links, proofs),
        )

    def _count_misses(self, viewer: Account, misses: int) -> None:
        """Count addresses the viewer was answered no keys for.

        :raises TooManyRequests: past ``MISSES_PER_HOUR`` this hour; nothing of the
            request is answered, nor counted.
        """
        if not misses or self.is_monitor(viewer):
            return
        now = self.ctx.now()
        started = window_start(now, MISS_WINDOW)
        made = upsert(
            self.db,
            DirectoryMisses,
            {"account_id": viewer.id, "started_at": started},
            add={"count": misses},
            returning="count",
        )
        if made > MISSES_PER_HOUR:
            retry = int((started + MISS_WINDOW - now).total_seconds()) + 1
            raise TooManyRequests(
                f"this account looked up more than {MISSES_PER_HOUR} addresses without "
                f"keys in an hour: try again in {retry // 60 + 1} minutes",
                retry,
            )

    def purge_misses(self) -> int:
        """Forget the counts of past hours (``uhs-server cleanup``)."""
        now = self.ctx.now()
        return self.db.execute(  # type: ignore[attr-defined,no-any-return]
            delete(DirectoryMisses).where(DirectoryMisses.started_at < now - MISS_WINDOW)
        ).rowcount

    def is_monitor(self, account: Account) -> bool:
        """Monitors are the accounts the operator lists (setting UHS_DIRECTORY_MONITORS)."""
        return account.email in {m.strip().lower() for m in self.ctx.settings.directory_monitors}

    def _may_see(
        self, viewer: Account, record: DirectoryRecord | None, *, by_index: bool
    ) -> AccountKind | None:
        """The kind of the entry's owner if the viewer may see the entry, else None.
        Who is a patient here is health data, and the log must not be a list of who
        uses the service (docs/PROTOCOL.md, section 10.1):

        - a patient's entry, to the patient, and to an account that may act on health
          data (a verified practitioner) and is staff of a practice she joined, holds a
          share of a document in one of her files, or shares a thread with her;
        - a practitioner's entry, by address to any signed-in account (a colleague must
          be able to write to them), by index only to colleagues of a common practice;
        - any entry, by index, to whoever holds a document or message signed with it, or
          a document with a statement signed with it (a patient's only if that account
          may act on health data);
        - every entry to monitors.
        """
        owner_id = record.account_id if record is not None else _NO_OWNER
        index = record.log_index if record is not None else -1
        kind, staff, reader, correspondent, colleague = self.db.execute(
            select(
                select(Account.kind).where(Account.id == owner_id).scalar_subquery(),
                *self._relations(viewer, owner_id),
            )
        ).one()
        # Only a lookup by index asks what the viewer holds (the same for every owner).
        holds_signed = by_index and self._holds_signed_with(viewer.id, index)
        if kind is None:
            return None
        return self._rule(
            viewer,
            owner_id,
            AccountKind(kind),
            staff or reader or correspondent or holds_signed,
            not by_index or colleague or holds_signed,
        )

    def _relations(self, viewer: Account, owner_id: Owner) -> list[ColumnElement[bool]]:
        """What relates the viewer to the owner, as the rule asks it: staff of a practice
        the owner joined as patient, reader of a document of her files, in a thread with
        them, in a practice with them."""
        acquaintances = self.ctx.find(Acquaintances, self.db)
        return [
            _is_staff_of_practice_joined_by(viewer.id, owner_id),
            acquaintances.reads_files_of(viewer.id, owner_id, self.ctx.now()),
            acquaintances.shares_a_thread(viewer.id, owner_id),
            _shares_a_practice(viewer.id, owner_id),
        ]

    def _rule(
        self,
        viewer: Account,
        owner_id: uuid.UUID,
        owner_kind: AccountKind,
        related_to_patient: bool,
        sees_practitioner: bool,
    ) -> AccountKind | None:
        if owner_id == viewer.id or self.is_monitor(viewer):
            return owner_kind
        if owner_kind == AccountKind.PATIENT:
            return owner_kind if related_to_patient and may_act_on_health_data(viewer) else None
        return owner_kind if sees_practitioner else None

    def _holds_signed_with(self, viewer_id: uuid.UUID, index: int) -> bool:
        """The viewer received something signed with this key (section 11.3)."""
        received = self.ctx.find(Acquaintances, self.db).received_signed_with(viewer_id, index)
        return any(self.db.execute(select(*received)).one())

    def check_signature(
        self, signer: Account, signer_key_index: int, signed: SignedByAccount, signature: bytes
    ) -> None:
        """Refuse unless ``signature`` is ``signer``'s, made with the key the directory
        publishes for them now (the index is what readers will check it against)."""
        self.check_signatures(signer, [(signer_key_index, signed, signature)])

    def check_signatures(
        self, signer: Account, signed: Sequence[tuple[int, SignedByAccount, bytes]]
    ) -> None:
        """``check_signature`` of each (key index, what was signed, signature), with one
        read of the signer's current key for all of them."""
        current = self.current_version(signer.id)
        signing = PublicKeys.decode(signer.public_keys).signing
        for signer_key_index, what, signature in signed:
            if current is None or current.log_index != signer_key_index:
                raise InvalidInput("sign with your current key, as published in the key directory")
            try:
                what.verify(signing, signature)
            except CryptoError as exc:
                raise InvalidInput(f"the signature does not match this {what.what}") from exc

    def revoke(self, account: Account, reason: str) -> int:
        """Record the account's keys as revoked: its entries stay in the log (append-only;
        entries by index still prove what it signed), lookups by address no longer
        answer them. Returns how many entries the account has."""
        # The caller holds the account's row: one revocation per account.
        if self.db.get(KeyRevocation, account.id) is None:
            self.db.add(
                KeyRevocation(account_id=account.id, revoked_at=self.ctx.now(), reason=reason)
            )
            self.db.flush()
        return int(
            self.db.scalar(select(func.count()).where(DirectoryRecord.account_id == account.id))
            or 0
        )

    def address_retired(self, address: str) -> bool:
        """The address is bound in the log to a revoked account: it never holds another
        account, or a reader who checked its keys would be handed a stranger's."""
        return (
            self.db.scalar(
                select(DirectoryRecord.log_index)
                .join(KeyRevocation, KeyRevocation.account_id == DirectoryRecord.account_id)
                .where(DirectoryRecord.email == address)
                .limit(1)
            )
            is not None
        )

    def _revoked(self, accounts: set[uuid.UUID]) -> set[uuid.UUID]:
        if not accounts:
            return set()
        return set(
            self.db.scalars(
                select(KeyRevocation.account_id).where(KeyRevocation.account_id.in_(accounts))
            ).all()
        )

    def current_version(self, account_id: uuid.UUID) -> DirectoryRecord | None:
        return self.db.scalar(
            select(DirectoryRecord)
            .where(DirectoryRecord.account_id == account_id)
            .order_by(DirectoryRecord.key_version.desc())
            .limit(1)
        )


#: Stands for the owner of an entry that does not exist, so that the rule's queries run
#: all the same (no account has this id).
_NO_OWNER = uuid.UUID(int=0)


def _links(records: list[DirectoryRecord], proofs: dict[int, list[bytes]]) -> list[ChainLink]:
    return [ChainLink(r.log_index, r.entry, proofs[r.log_index], r.rotation) for r in records]


def _is_staff_of_practice_joined_by(viewer_id: uuid.UUID, patient_id: Owner) -> Exists:
    # One level of tables (aliases, no IN subquery), so that the patient may be a column
    # of the enclosing query: a batched lookup asks about every owner in one statement.
    patients = aliased(Membership)
    return exists().where(
        Membership.account_id == viewer_id,
        Membership.role != Role.PATIENT,
        patients.practice_id == Membership.practice_id,
        patients.account_id == patient_id,
        patients.role == Role.PATIENT,
    )


def _shares_a_practice(viewer_id: uuid.UUID, owner_id: Owner) -> Exists:
    theirs = aliased(Membership)
    return exists().where(
        Membership.account_id == viewer_id,
        theirs.practice_id == Membership.practice_id,
        theirs.account_id == owner_id,
    )
