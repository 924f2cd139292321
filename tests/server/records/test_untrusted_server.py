"""A server that lies is caught by the SDK, and stores nothing it could read."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import delete, func, select, text, update

from tests.server.records.conftest import Practice, device
from tests.server_fixtures import User
from uhealthsec.client.directory import audit
from uhealthsec.client.errors import DirectoryRefused, ExchangeRefused
from uhealthsec.client.exchange import MessagingClient, _message_body
from uhealthsec.client.logs import LogPin
from uhealthsec.crypto import account_map, envelope, merkle
from uhealthsec.crypto.account_map import AccountMap, MapCommitment, MapValue
from uhealthsec.crypto.directory import DirectoryEntry
from uhealthsec.crypto.manifest import (
    NO_PREVIOUS,
    MessageManifest,
    Reader,
    ShareStatement,
    ThreadMembership,
    decode_readers,
    encode_readers,
)
from uhealthsec.crypto.wrap import wrap_document_key
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.keys.models import DirectoryRecord, MapCommitmentRecord
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.messaging.models import (
    Message,
    MessageKey,
    Thread,
    ThreadMembershipRecord,
    ThreadParticipant,
)
from uhealthsec.server.records.models import (
    Blob,
    Document,
    DocumentVersion,
    Share,
    ShareStatementRecord,
)
from uhealthsec.server.records.service import stored_manifest
from uhealthsec.server.storage.merkle_log import (
    KEY_DIRECTORY_LOG,
    CheckpointRecord,
    MerkleLogState,
    MerkleNode,
)
from uhealthsec.server.tables import metadata


def _entry_of(db, email: str) -> DirectoryRecord:
    return db.scalar(select(DirectoryRecord).where(DirectoryRecord.email == email))


def test_a_swapped_key_in_the_directory_is_refused(practice: Practice, ctx, users, report):
    mallory = users.signed_in("mallory@example.org")
    with ctx.sessions.begin() as db:
        bob = _entry_of(db, practice.bob.email)
        forged = DirectoryEntry.decode(_entry_of(db, mallory.email).entry)
        genuine = DirectoryEntry.decode(bob.entry)
        bob.entry = DirectoryEntry(
            genuine.account_id, 1, genuine.kind, genuine.email, forged.bundle
        ).encode()
    with pytest.raises(DirectoryRefused, match=r"cannot prove the keys of bob@example\.org"):
        practice.alice.exchange.send(
            report, patient_file_id=practice.patient_file, to=[practice.bob.email]
        )


def test_a_second_key_for_an_address_is_refused_by_everyone(practice: Practice, ctx, users, report):
    """A server may log a second key for an address, openly (its map then counts two
    entries): keys are never replaced, so every client refuses the address, its owner
    included, and nothing goes to the key the server made."""
    mallory = users.signed_in("mallory@example.org")
    with ctx.sessions.begin() as db:
        bob = db.get(Account, uuid.UUID(practice.bob.user.account_id))
        stolen = db.get(Account, uuid.UUID(mallory.account_id))
        bob.public_keys = stolen.public_keys
        KeyDirectory(db, ctx).publish(bob)
    # Four entries, each followed by the map's commitment.
    assert practice.alice.exchange.directory.refresh().size == 10
    with pytest.raises(DirectoryRefused, match=r"holds 2 sets of keys for the account of bob@"):
        practice.alice.exchange.send(
            report, patient_file_id=practice.patient_file, to=[practice.bob.email]
        )
    with pytest.raises(DirectoryRefused, match="holds 2 sets of keys"):
        practice.bob.exchange.my_entry()


def _append_rogue_entry(
    ctx, db, owner: User, bundle_of: User, account: User | None = None, address: str = ""
) -> int:
    """What a hostile server writes: an entry holding another account's keys, for
    ``account`` (``owner``'s by default) under ``address`` (``owner``'s by default).
    Returns its index."""
    directory = KeyDirectory(db, ctx)
    genuine = DirectoryEntry.decode(_entry_of(db, owner.email).entry)
    account_id = uuid.UUID(account.account_id) if account else genuine.account_id
    rogue = replace(
        genuine,
        account_id=account_id,
        email=address or genuine.email,
        bundle=DirectoryEntry.decode(_entry_of(db, bundle_of.email).entry).bundle,
    ).encode()
    index = directory.log.append([rogue])
    db.add(
        DirectoryRecord(
            log_index=index,
            account_id=account_id,
            key_version=2,  # the row is the server's own: it orders lookups
            email=address or genuine.email,
            entry=rogue,
            created_at=ctx.now(),
        )
    )
    db.flush()
    return index


def _commit_map(ctx, db, names: dict[uuid.UUID, int] | None = None) -> None:
    """Commit the map of the log (honest), or one in which each account of ``names``
    has the given leaf as its only entry (false), and make the server serve it."""
    directory = KeyDirectory(db, ctx)
    size = directory.log.size()
    if names is None:
        directory._commit_map(size)
        directory.log.sign_head()
        return
    rows = db.scalars(select(DirectoryRecord).order_by(DirectoryRecord.log_index)).all()
    chosen = {r.account_id: r for r in rows if r.account_id not in names}
    chosen |= {r.account_id: r for r in rows if names.get(r.account_id) == r.log_index}
    tree = AccountMap(
        (
            account_map.map_key(r.account_id),
            MapValue(r.log_index, merkle.leaf_hash(r.entry), 1).encode(),
        )
        for r in chosen.values()
    )
    directory.log.append([MapCommitment(size, tree.root()).encode()])
    db.add(MapCommitmentRecord(log_index=size, root=tree.root()))
    db.flush()
    directory.log.sign_head()
    ctx.account_maps[(size, tree.root())] = tree


def _account(person) -> uuid.UUID:
    return uuid.UUID(person.user.account_id)


def test_keys_the_map_does_not_name_are_refused(practice: Practice, ctx, users, report):
    """The server logs keys of its own for Bob's account but commits to a map that
    still names Bob's genuine entry, and serves its own entry when Alice asks for Bob:
    the inclusion proof holds, the map's does not."""
    mallory = users.signed_in("mallory@example.org")
    with ctx.sessions.begin() as db:
        genuine = _entry_of(db, practice.bob.email).log_index
        _append_rogue_entry(ctx, db, practice.bob.user, mallory)
        _commit_map(ctx, db, {_account(practice.bob): genuine})
    with pytest.raises(DirectoryRefused, match="map does not name the keys of bob@example"):
        practice.alice.exchange.send(
            report, patient_file_id=practice.patient_file, to=[practice.bob.email]
        )


def test_a_map_proof_withheld_or_from_another_head_is_refused(
    practice: Practice, report, monkeypatch
):
    alice = practice.alice.exchange
    honest = alice.call
    older: dict = {}

    def lying(method, path, **kwargs):
        response = honest(method, path, **kwargs)
        if path == "/keys/entries" and kwargs["params"]["email"] == practice.bob.email:
            answer = response.json()
            answer["map"] = older.get("map")
            response._content = json.dumps(answer).encode()
        if path == "/keys/lookups":  # the batch a send looks its recipients up with
            answer = response.json()
            for email, entry in zip(kwargs["json"]["emails"], answer["entries"], strict=True):
                if email == practice.bob.email and entry is not None:
                    entry["map"] = older.get("map")
            response._content = json.dumps(answer).encode()
        return response

    monkeypatch.setattr(alice, "call", lying)
    monkeypatch.setattr(alice.directory, "_call", lying)
    with pytest.raises(DirectoryRefused, match="cannot prove the keys of bob@example"):
        alice.send(report, patient_file_id=practice.patient_file, to=[practice.bob.email])
    # The map proof of an older head: its commitment is not the tree's last leaf.
    alice.directory.refresh()
    older["map"] = honest(
        "GET",
        "/keys/entries",
        params={"email": practice.alice.email, "tree_size": alice.directory.head().size},
    ).json()["map"]
    with pytest.raises(DirectoryRefused, match="cannot prove the keys of bob@example"):
        alice.send(report, patient_file_id=practice.patient_file, to=[practice.bob.email])


def test_a_message_signed_with_a_second_entry_of_the_senders_account_is_refused(
    practice: Practice, ctx, users, client
):
    """The server logs, under a fresh address, an entry with Alice's account id and keys
    it holds, commits an honest map, and writes a message "from Alice" signed with it.
    The map counts two entries for Alice's account: Bob's device refuses the signer."""
    mallory = users.signed_in("mallory@example.org")
    mallory_keys = device(client, users, mallory).keys
    alice = MessagingClient(practice.alice.exchange)
    thread_id = alice.start_thread([practice.bob.email])["id"]
    alice.send(thread_id, "Bonjour")
    alice_id = _account(practice.alice)
    with ctx.sessions.begin() as db:
        rogue = _append_rogue_entry(
            ctx, db, practice.alice.user, mallory, address="alice.other@example.net"
        )
        _commit_map(ctx, db)
    bob = practice.bob.exchange
    key = envelope.generate_document_key()
    body = envelope.encrypt(key, _message_body("Envoyez-moi le dossier", []), chunk_log2=12)
    message_id = uuid.uuid4()
    manifest = MessageManifest(
        message_id, uuid.UUID(thread_id), alice_id, rogue, envelope.content_digest(body)
    )
    with ctx.sessions.begin() as db:
        thread = db.get(Thread, uuid.UUID(thread_id))
        thread.last_seq += 1
        db.add(
            Message(
                id=message_id,
                thread_id=thread.id,
                seq=thread.last_seq,
                sender_id=alice_id,
                body_envelope=body,
                signature=manifest.sign(mallory_keys.signing),
                signer_key_index=rogue,
                created_at=ctx.now(),
            )
        )
        db.flush()
        db.add(
            MessageKey(
                message_id=message_id,
                recipient_id=_account(practice.bob),
                wrapped_key=wrap_document_key(
                    key, bob.my_entry().entry.public_keys, body[: envelope.HEADER_SIZE]
                ),
            )
        )
    bob.directory.refresh()
    with pytest.raises(DirectoryRefused, match="holds 2 sets of keys for the account of alice@"):
        MessagingClient(bob).read(thread_id)


def test_a_map_that_lies_fools_a_reader_once_and_is_caught(
    practice: Practice, ctx, users, client, report
):
    """The one lie a map can still tell: the server commits to a map in which Bob's
    account names keys of its own as its only ones. Alice's device cannot know; Bob's
    own device refuses that head if it looks, and a monitor replaying the log names the
    forged entry and the false commitment."""
    mallory = users.signed_in("mallory@example.org")
    with ctx.sessions.begin() as db:
        rogue = _append_rogue_entry(ctx, db, practice.bob.user, mallory)
        _commit_map(ctx, db, {_account(practice.bob): rogue})
    alice = practice.alice.exchange
    assert alice.directory.lookup(practice.bob.email).index == rogue
    with pytest.raises(ExchangeRefused, match="not the ones on this device"):
        practice.bob.exchange.my_entry()

    ctx.settings = ctx.settings.model_copy(update={"directory_monitors": [mallory.email]})
    monitor = device(client, users, mallory)
    report_ = audit(monitor.call, monitor.directory.refresh())
    assert report_.problems == [
        f"leaf {rogue}: keys of version 1 for account {practice.bob.user.account_id} "
        "(bob@example.org), its entry number 2",
        f"leaf {rogue + 1}: the map committed to is not the map of the entries before it",
    ]


def test_a_second_account_for_an_address_is_found_by_a_monitor(
    practice: Practice, ctx, users, client
):
    """What the map leaves to monitors and safety numbers: an entry of a new account
    under Bob's address, with an honest map. Someone who never wrote to Bob cannot tell
    it from his (a map keyed by address would tell anyone who is registered, section
    10.4); a reader who has a signature vouching for Bob's account refuses it (11.4)."""
    mallory = users.signed_in("mallory@example.org")
    ghost = users.signed_in("ghost@example.org")
    with ctx.sessions.begin() as db:
        rogue = _append_rogue_entry(ctx, db, practice.bob.user, mallory, account=ghost)
        _commit_map(ctx, db)
    ctx.settings = ctx.settings.model_copy(update={"directory_monitors": [mallory.email]})
    monitor = device(client, users, mallory)
    assert audit(monitor.call, monitor.directory.refresh()).problems == [
        f"leaf {rogue}: keys of version 1 for account {ghost.account_id} (bob@example.org), "
        "its entry number 2",
        f"leaf {rogue}: a second account's entry for the address bob@example.org "
        "(the first is leaf 4)",
    ]


def test_a_monitor_finds_nothing_to_report_in_an_honest_directory(
    practice: Practice, ctx, users, client
):
    monitor_user = users.signed_in("monitor@example.org")
    ctx.settings = ctx.settings.model_copy(update={"directory_monitors": [monitor_user.email]})
    monitor = device(client, users, monitor_user)
    result = audit(monitor.call, monitor.directory.refresh())
    assert (result.size, result.accounts, result.commitments, result.problems) == (8, 4, 4, [])
    # Anyone else may read only some entries, and is told who audits.
    bob = practice.bob.exchange
    with pytest.raises(DirectoryRefused, match="only the monitors"):
        audit(bob.call, bob.directory.refresh())


def _drop_log_guards(ctx, db) -> None:
    """What an operator in full control of the database removes first: the guards
    against shrinking a log and changing its checkpoints."""
    if ctx.engine.dialect.name == "postgresql":
        db.execute(text("DROP TRIGGER merkle_logs_only_grow ON merkle_logs"))
        db.execute(text("DROP TRIGGER merkle_checkpoints_append_only ON merkle_checkpoints"))
    else:
        for name in ("merkle_logs_only_grow", "merkle_checkpoints_no_delete"):
            db.execute(text(f"DROP TRIGGER {name}"))


def _rewrite_directory(ctx, order) -> None:
    """The operator rebuilds the key directory log with the same signing key (removing
    the database's guard against shrinking a log first)."""
    with ctx.sessions.begin() as db:
        _drop_log_guards(ctx, db)
        leaves = {r.log_index: r.entry for r in db.scalars(select(DirectoryRecord))}
        for c in db.scalars(select(MapCommitmentRecord)):
            leaves[c.log_index] = MapCommitment(c.log_index, c.root).encode()
        entries = order([leaves[i] for i in sorted(leaves)])
        db.execute(delete(MerkleNode).where(MerkleNode.log == KEY_DIRECTORY_LOG))
        db.execute(delete(CheckpointRecord).where(CheckpointRecord.log == KEY_DIRECTORY_LOG))
        db.execute(
            update(MerkleLogState).where(MerkleLogState.name == KEY_DIRECTORY_LOG).values(size=0)
        )
        directory = KeyDirectory(db, ctx)
        directory.log.append(entries)
        directory.log.sign_head()


def test_a_forked_directory_is_refused(practice: Practice, ctx, users, client):
    alice = practice.alice.exchange
    seen = alice.directory.refresh()
    pin = alice.directory.pin
    assert (pin.size, seen.size) == (6, 6)

    _rewrite_directory(ctx, lambda leaves: [leaves[1], leaves[0], *leaves[2:]])
    later = device(client, users, practice.alice.user, LogPin(**pin.to_dict()))
    with pytest.raises(DirectoryRefused, match="does not extend the one this device saw"):
        later.directory.refresh()

    # Growing the forked log does not help: it still does not extend what was seen.
    users.signed_in("eve@example.org")
    with pytest.raises(DirectoryRefused, match="does not extend"):
        later.directory.refresh()
    # A device that never saw the old log accepts the new one: hence safety numbers.
    fresh = device(client, users, practice.alice.user)
    assert fresh.directory.refresh().size == 8


def test_a_directory_signed_by_another_key_is_refused(practice: Practice, ctx, users, client):
    alice = practice.alice.exchange
    alice.directory.refresh()
    pin = LogPin(**alice.directory.pin.to_dict())
    ctx.log_key = ed25519.Ed25519PrivateKey.generate()  # the server signs with another key
    with ctx.sessions.begin() as db:
        _drop_log_guards(ctx, db)
        db.execute(delete(CheckpointRecord).where(CheckpointRecord.log == KEY_DIRECTORY_LOG))
    later = device(client, users, practice.alice.user, pin)
    with pytest.raises(DirectoryRefused, match="signed by another key"):
        later.directory.refresh()


def test_modified_ciphertext_or_metadata_is_refused_and_nothing_is_written(
    practice: Practice, ctx, report, tmp_path
):
    alice, bob = practice.alice.exchange, practice.bob
    first = alice.send(report, patient_file_id=practice.patient_file, to=[bob.email], title="A")
    second = alice.send(report, patient_file_id=practice.patient_file, to=[bob.email], title="B")
    with ctx.sessions.begin() as db:
        version = db.scalar(select(DocumentVersion).where(DocumentVersion.document_id == first))
        other = db.scalar(select(DocumentVersion).where(DocumentVersion.document_id == second))
        blob_key = version.blob_id.hex
    path = ctx.settings.blob_dir / blob_key[:2] / blob_key
    data = bytearray(path.read_bytes())
    data[500] ^= 1
    path.write_bytes(bytes(data))
    target = tmp_path / "out.txt"
    with pytest.raises(ExchangeRefused, match="chunk 0 failed authentication"):
        bob.exchange.fetch(first, target)
    assert not target.exists()
    assert not list(tmp_path.glob(".uhs-*"))  # no partial file left behind

    # The second document, with the first one's title swapped in by the server.
    with ctx.sessions.begin() as db:
        other = db.merge(other)
        other.metadata_envelope = version.metadata_envelope
    with pytest.raises(ExchangeRefused, match="not what its author signed"):
        bob.exchange.fetch(second, target)
    assert not target.exists()


def test_no_plaintext_reaches_the_database_or_the_blob_store(practice: Practice, ctx, tmp_path):
    """R1: no title, content or file name reaches the database or the blob store in clear.
    R24: titles and file names are stored encrypted only.
    """
    alice, bob, carol = practice.alice.exchange, practice.bob, practice.carol
    secret_title = "Resultats VIH de Mme Carole Durand"
    content = b"Charge virale indetectable; CD4 650/mm3. Patiente informee." * 300
    source = tmp_path / "resultats.txt"
    source.write_bytes(content)
    document_id = alice.send(
        source, patient_file_id=practice.patient_file, to=[bob.email], title=secret_title
    )
    alice.share(document_id, [carol.email])
    alice.revoke(document_id, bob.email)
    source.write_bytes(content + b" Controle dans 6 mois.")
    alice.new_version(document_id, source, title=secret_title)
    (tmp_path / "carol").mkdir()
    carol.exchange.fetch(document_id, tmp_path / "carol")
    messaging = MessagingClient(alice)
    thread = messaging.start_thread([carol.email])
    messaging.send(thread["id"], "Votre charge virale reste indetectable, bravo.")
    assert MessagingClient(carol.exchange).read(thread["id"])[0].text.startswith("Votre")

    needles = [
        secret_title.encode(),
        content[:40],
        content[1000:1040],
        b"resultats.txt",
        b"Controle dans 6 mois",
        b"charge virale reste",
    ]
    stored = bytearray()
    with ctx.engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(table.select()):
                for value in row:
                    stored += value if isinstance(value, bytes) else str(value).encode()
    if ctx.engine.dialect.name == "sqlite":
        for file in ctx.settings.data_dir.glob("uhealthsec.db*"):
            stored += file.read_bytes()
    for file in ctx.settings.data_dir.rglob("*"):
        if file.is_file() and "outbox" not in file.parts:
            stored += file.read_bytes()
    assert len(stored) > 2 * len(content)  # the blobs were read
    for needle in needles:
        assert needle not in stored, needle
    with ctx.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM blobs")).scalar() == 2


# -- whom a client encrypts to ----------------------------------------------------------


def _blob_count(ctx) -> int:
    with ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(Blob))


def _latest_version(db, document_id) -> DocumentVersion:
    return db.scalar(
        select(DocumentVersion)
        .where(DocumentVersion.document_id == document_id)
        .order_by(DocumentVersion.number.desc())
        .limit(1)
    )


def _slip_in_reader(ctx, document_id: uuid.UUID, intruder: str) -> None:
    """The server gives the intruder a share of the latest version (a copy of the
    author's wrapped key: it holds no other)."""
    with ctx.sessions.begin() as db:
        version = _latest_version(db, document_id)
        author_share = db.scalar(
            select(Share).where(
                Share.version_id == version.id, Share.recipient_id == version.author_id
            )
        )
        db.add(
            Share(
                document_id=document_id,
                version_id=version.id,
                recipient_id=uuid.UUID(intruder),
                wrapped_key=author_share.wrapped_key,
                granted_by=version.author_id,
                created_at=author_share.created_at,
                version_created_at=version.created_at,
            )
        )


def test_a_reader_added_by_the_server_gets_no_new_version(
    practice: Practice, ctx, users, client, report
):
    mallory = users.signed_in("mallory@example.org")
    alice = practice.alice.exchange
    document_id = alice.send(report, patient_file_id=practice.patient_file, to=[practice.bob.email])
    _slip_in_reader(ctx, document_id, mallory.account_id)
    blobs = _blob_count(ctx)
    shown = []
    with pytest.raises(
        ExchangeRefused,
        match=r"lists mallory@example\.org as a reader of version 1, but neither its author "
        r"nor any of its readers signed for them: nothing was encrypted",
    ):
        alice.new_version(document_id, report, before_encrypting=shown.append)
    assert shown == []  # refused before anything was shown, let alone encrypted
    assert _blob_count(ctx) == blobs

    # A statement Mallory signs for herself does not help: she was never a reader.
    mallory_keys = device(client, users, mallory).keys
    with ctx.sessions.begin() as db:
        version = _latest_version(db, document_id)
        index = KeyDirectory(db, ctx).current_version(uuid.UUID(mallory.account_id)).log_index
        me = Reader(uuid.UUID(mallory.account_id), mallory.email)
        db.add(
            ShareStatementRecord(
                version_id=version.id,
                recipient_id=me.account_id,
                recipient_email=me.email,
                granter_id=me.account_id,
                signer_key_index=index,
                signature=ShareStatement(document_id, 1, me.account_id, index, me).sign(
                    mallory_keys.signing
                ),
                created_at=version.created_at,
            )
        )
    with pytest.raises(ExchangeRefused, match="nor any of its readers signed for them"):
        alice.new_version(document_id, report)
    assert _blob_count(ctx) == blobs


def test_a_reader_signed_in_is_kept_and_a_rewritten_reader_list_is_refused(
    practice: Practice, ctx, report
):
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    bob.exchange.share(document_id, [carol.email])  # Bob signs for Carol
    shown = []
    assert alice.exchange.new_version(document_id, report, before_encrypting=shown.append) == 2
    assert sorted(e.entry.email for e in shown[0]) == [alice.email, bob.email, carol.email]
    # The server swaps the signed reader list for one that names Mallory... it no longer
    # matches the author's signature.
    with ctx.sessions.begin() as db:
        version = _latest_version(db, document_id)
        readers = list(decode_readers(version.readers))
        readers[0] = Reader(readers[0].account_id, "mallory@example.org")
        version.readers = encode_readers(readers)
    with pytest.raises(ExchangeRefused, match="version 2 is not what its author signed"):
        alice.exchange.new_version(document_id, report)


def test_a_reader_renamed_in_the_directory_is_refused(
    practice: Practice, ctx, users, client, report
):
    """The server makes the key directory give Bob's address to Mallory's account: the
    map counts two entries for Mallory's account, and once the server commits to a false
    map naming only this one, the signed reader list still names Bob's account."""
    mallory = users.signed_in("mallory@example.org")
    document_id = practice.alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[practice.bob.email]
    )
    with ctx.sessions.begin() as db:
        renamed = _append_rogue_entry(ctx, db, practice.bob.user, mallory, account=mallory)
        _commit_map(ctx, db)
    blobs = _blob_count(ctx)
    alice = device(client, users, practice.alice.user)
    with pytest.raises(DirectoryRefused, match=r"holds 2 sets of keys for the account of bob@"):
        alice.new_version(document_id, report)
    with ctx.sessions.begin() as db:
        _commit_map(ctx, db, {uuid.UUID(mallory.account_id): renamed})
    alice = device(client, users, practice.alice.user)
    with pytest.raises(
        ExchangeRefused,
        match=r"names bob@example\.org for an account that the key directory does not give "
        r"this address to: nothing was encrypted",
    ):
        alice.new_version(document_id, report)
    assert _blob_count(ctx) == blobs


def _thread_of_alice_and_bob(practice: Practice) -> tuple[MessagingClient, str]:
    alice = MessagingClient(practice.alice.exchange)
    thread = alice.start_thread([practice.bob.email])
    alice.send(thread["id"], "Bonjour")
    return alice, thread["id"]


def _message_count(ctx) -> int:
    with ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(Message))


def test_a_participant_added_by_the_server_gets_no_message(practice: Practice, ctx, users):
    mallory = users.signed_in("mallory@example.org")
    alice, thread_id = _thread_of_alice_and_bob(practice)
    with ctx.sessions.begin() as db:
        db.add(
            ThreadParticipant(
                thread_id=uuid.UUID(thread_id), account_id=uuid.UUID(mallory.account_id)
            )
        )
    with pytest.raises(
        ExchangeRefused,
        match=r"lists mallory@example\.org in this thread, but no member signed them in",
    ):
        alice.send(thread_id, "Le bilan de Mme Durand est joint.")
    assert _message_count(ctx) == 1
    # Nor does Bob's client trust a sender the members did not sign in.
    with pytest.raises(ExchangeRefused, match="no member signed them in"):
        MessagingClient(practice.bob.exchange).read(thread_id)


def test_a_participant_renamed_by_the_server_is_refused(practice: Practice, ctx):
    """The server shows Bob's account under another address: the signed membership
    says who that account is."""
    alice, thread_id = _thread_of_alice_and_bob(practice)
    with ctx.sessions.begin() as db:
        db.get(Account, uuid.UUID(practice.bob.user.account_id)).email = "robert@example.org"
    with pytest.raises(
        ExchangeRefused,
        match=r"names a member of this thread robert@example\.org, but its signed membership "
        r"calls that account bob@example\.org",
    ):
        alice.send(thread_id, "Le bilan de Mme Durand est joint.")
    assert _message_count(ctx) == 1


def test_a_rewritten_thread_membership_is_refused(practice: Practice, ctx, users):
    mallory = users.signed_in("mallory@example.org")
    alice, thread_id = _thread_of_alice_and_bob(practice)
    with ctx.sessions.begin() as db:
        link = db.scalar(select(ThreadMembershipRecord))
        members = [
            *decode_readers(link.members),
            Reader(uuid.UUID(mallory.account_id), mallory.email),
        ]
        link.members = encode_readers(members)
        db.add(
            ThreadParticipant(
                thread_id=uuid.UUID(thread_id), account_id=uuid.UUID(mallory.account_id)
            )
        )
    with pytest.raises(
        ExchangeRefused, match=r"membership of this thread does not verify \(change 1\)"
    ):
        alice.send(thread_id, "Le bilan de Mme Durand est joint.")
    assert _message_count(ctx) == 1


def test_a_thread_chain_replaced_by_one_a_server_made_account_started_is_refused(
    practice: Practice, ctx, users, client, monkeypatch
):
    """The server replaces the first link Alice signed (Alice, Bob) by one its own
    account Mallory signed for Alice, Bob and Mallory, under the thread's id, and lists
    Mallory. Mallory's link cannot derive the id Alice's did, with Alice's nonce or
    any other: her client encrypts nothing."""
    mallory = users.signed_in("mallory@example.org", "practitioner")
    mallory_keys = device(client, users, mallory).keys
    alice, thread_id = _thread_of_alice_and_bob(practice)
    members = tuple(
        Reader(uuid.UUID(u.account_id), u.email)
        for u in (practice.alice.user, practice.bob.user, mallory)
    )
    # A hostile server serves any directory entry it likes (its access rule is its own).
    monkeypatch.setattr(KeyDirectory, "_may_see", lambda *a, **k: True)
    with ctx.sessions() as db:
        index = KeyDirectory(db, ctx).current_version(uuid.UUID(mallory.account_id)).log_index
    for nonce in (None, bytes(range(32))):  # Alice's nonce kept, or Mallory's own
        with ctx.sessions.begin() as db:
            link = db.scalar(select(ThreadMembershipRecord))
            forged = ThreadMembership(
                uuid.UUID(thread_id), 1, uuid.UUID(mallory.account_id), index, NO_PREVIOUS, members
            )
            link.actor_id, link.signer_key_index = forged.actor_id, index
            link.members = encode_readers(members)
            link.signature = forged.sign(mallory_keys.signing)
            link.nonce = nonce or link.nonce
            db.merge(
                ThreadParticipant(
                    thread_id=uuid.UUID(thread_id), account_id=uuid.UUID(mallory.account_id)
                )
            )
        with pytest.raises(
            ExchangeRefused,
            match=r"membership of this thread does not verify \(change 1\): the first "
            r"membership does not derive the thread's id",
        ):
            alice.send(thread_id, "Le bilan de Mme Durand est joint.")
    assert _message_count(ctx) == 1


def test_another_thread_served_for_the_one_asked_is_refused(
    practice: Practice, users, client, monkeypatch, ctx
):
    """Mallory, the server's account, starts a genuine thread with Alice and Bob; when
    Alice writes to her thread with Bob, the server answers with Mallory's, whose
    chain verifies for its own id."""
    mallory_user = users.signed_in("mallory@example.org", "practitioner")
    monkeypatch.setattr(KeyDirectory, "_may_see", lambda *a, **k: True)
    mallory = MessagingClient(device(client, users, mallory_user))
    alice, thread_id = _thread_of_alice_and_bob(practice)
    other = mallory.start_thread([practice.alice.email, practice.bob.email])["id"]
    genuine = practice.alice.exchange.call

    def swapped(method: str, path: str, **kwargs):
        return genuine(method, path.replace(thread_id, other), **kwargs)

    monkeypatch.setattr(practice.alice.exchange, "call", swapped)
    with pytest.raises(ExchangeRefused, match="answered with another thread than the one asked"):
        alice.send(thread_id, "Le bilan de Mme Durand est joint.")
    assert _message_count(ctx) == 1


def test_a_thread_started_before_members_were_signed_is_read_but_not_written_to(
    practice: Practice, ctx, monkeypatch
):
    """Such a thread has a random id and no membership chain."""
    alice = MessagingClient(practice.alice.exchange)
    thread_id = uuid.uuid4()
    people = [uuid.UUID(u.account_id) for u in (practice.alice.user, practice.bob.user)]
    with ctx.sessions.begin() as db:
        db.add(Thread(id=thread_id, created_by=people[0], created_at=ctx.now()))
        db.flush()
        db.add_all(ThreadParticipant(thread_id=thread_id, account_id=p) for p in people)
    with monkeypatch.context() as old_client:  # which wrote to whoever the server listed
        listed = [alice.exchange.my_entry(), alice.exchange.directory.lookup(practice.bob.email)]
        old_client.setattr(MessagingClient, "recipients", lambda self, thread: listed)
        alice.send(thread_id, "Bonjour")
    assert [m.text for m in MessagingClient(practice.bob.exchange).read(thread_id)] == ["Bonjour"]
    with pytest.raises(ExchangeRefused, match="started before its members were signed"):
        alice.send(thread_id, "Suite")


def test_a_thread_whose_signed_members_are_withheld_is_refused(practice: Practice, ctx):
    """The server serves a thread without its chain, as if it were started before
    members were signed, to have its participants trusted as senders: its derived id
    says it had one."""
    alice, thread_id = _thread_of_alice_and_bob(practice)
    with ctx.sessions.begin() as db:
        db.execute(delete(ThreadMembershipRecord))
    with pytest.raises(ExchangeRefused, match="withholds the signed membership"):
        MessagingClient(practice.bob.exchange).read(thread_id)
    with pytest.raises(ExchangeRefused, match="withholds the signed membership"):
        alice.send(thread_id, "Suite")
    assert _message_count(ctx) == 1


def test_readers_of_a_version_signed_before_readers_were_signed_must_be_confirmed(
    practice: Practice, ctx, report
):
    """A version 1 manifest names no readers: the server's list of them is not taken
    on its word, and not shown to the user to confirm either: the user names them."""
    alice, bob = practice.alice.exchange, practice.bob
    document_id = alice.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    with ctx.sessions.begin() as db:
        version = _latest_version(db, document_id)
        blob = db.get(Blob, version.blob_id)
        # Version 1 as written before readers were signed: a version 1 manifest.
        version.readers = None
        version.signature = stored_manifest(
            db.get(Document, document_id), version, blob.sha256, NO_PREVIOUS
        ).sign(alice.keys.signing)
    blobs = _blob_count(ctx)
    with pytest.raises(ExchangeRefused, match="version 1 was signed before readers") as asked:
        alice.new_version(document_id, report)
    assert bob.email not in str(asked.value)
    assert _blob_count(ctx) == blobs
    shown = []
    alice.new_version(document_id, report, confirm=[bob.email], before_encrypting=shown.append)
    assert sorted(e.entry.email for e in shown[0]) == [practice.alice.email, bob.email]


def test_share_does_not_rewrap_a_key_served_beside_another_document(
    practice: Practice, ctx, report, tmp_path, monkeypatch
):
    """The server puts, in the view of a harmless document X that Alice shares with
    Bob, the wrapped key and header of document Y (Bob not a reader): Alice's client
    must not hand Bob Y's key."""
    alice, bob = practice.alice, practice.bob
    secret = tmp_path / "psychiatrie.txt"
    secret.write_bytes(b"Bilan psychiatrique: episode depressif majeur.\n")
    y = alice.exchange.send(secret, patient_file_id=practice.patient_file, to=[], title="Psy")
    x = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[], title="CR")
    y_version = alice.exchange.call("GET", f"/documents/{y}").json()["versions"][-1]
    honest = alice.exchange.call

    def lying(method, path, **kwargs):
        response = honest(method, path, **kwargs)
        if method == "GET" and path == f"/documents/{x}":
            view = response.json()
            for version in view["versions"]:
                version["wrapped_key"] = y_version["wrapped_key"]
                version["envelope_header"] = y_version["envelope_header"]
            response._content = json.dumps(view).encode()
        return response

    monkeypatch.setattr(alice.exchange, "call", lying)
    with pytest.raises(ExchangeRefused, match="title and type failed their integrity check"):
        alice.exchange.share(x, [bob.email])
    with ctx.sessions() as db:
        assert not db.scalars(
            select(Share).where(Share.recipient_id == uuid.UUID(bob.user.account_id))
        ).all()


def _forge_version_2(ctx, practice: Practice, document_id, mallory, mallory_keys) -> None:
    """What a server can do with an account of its own: append to the document a
    version 2 signed by that account, chained to version 1 like an honest one, naming
    the account among its readers, and give it a key."""
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    with ctx.sessions.begin() as db:
        first = db.scalar(select(DocumentVersion).where(DocumentVersion.document_id == document_id))
        document = db.get(Document, document_id)
        blob = db.get(Blob, first.blob_id)
        index = KeyDirectory(db, ctx).current_version(uuid.UUID(mallory.account_id)).log_index
        readers = tuple(
            Reader(uuid.UUID(u.account_id), u.email)
            for u in (alice.user, bob.user, carol.user, mallory)
        )
        manifest = replace(
            stored_manifest(document, first, blob.sha256, NO_PREVIOUS),
            version=2,
            author_id=uuid.UUID(mallory.account_id),
            signer_key_index=index,
            readers=readers,
            previous=stored_manifest(document, first, blob.sha256, NO_PREVIOUS).digest(),
        )
        copy = Blob(
            owner_id=uuid.UUID(mallory.account_id),
            size=blob.size,
            sha256=blob.sha256,
            created_at=blob.created_at,
            attached_at=blob.created_at,
        )
        db.add(copy)
        db.flush()
        forged = DocumentVersion(
            document_id=document_id,
            number=2,
            author_id=manifest.author_id,
            blob_id=copy.id,
            envelope_header=first.envelope_header,
            metadata_envelope=first.metadata_envelope,
            signature=manifest.sign(mallory_keys.signing),
            signer_key_index=index,
            created_at=first.created_at,
            readers=encode_readers(readers),
        )
        db.add(forged)
        db.flush()
        shares = db.scalars(select(Share).where(Share.version_id == first.id)).all()
        for recipient_id, wrapped_key in [
            *((s.recipient_id, s.wrapped_key) for s in shares),
            (manifest.author_id, shares[0].wrapped_key),
        ]:
            db.add(
                Share(
                    document_id=document_id,
                    version_id=forged.id,
                    recipient_id=recipient_id,
                    wrapped_key=wrapped_key,
                    granted_by=manifest.author_id,
                    created_at=first.created_at,
                    version_created_at=forged.created_at,
                )
            )
        document.latest_version = 2


def test_a_version_forged_by_a_server_made_account_does_not_add_readers(
    practice: Practice, ctx, users, client, report
):
    """Nothing used to link version 2 to version 1: the client took the latest
    version's signer as the root of trust, and Alice's next version went to Mallory."""
    mallory = users.signed_in("mallory@example.org", "practitioner")
    mallory_keys = device(client, users, mallory).keys
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email, carol.email]
    )
    _forge_version_2(ctx, practice, document_id, mallory, mallory_keys)
    blobs = _blob_count(ctx)
    shown = []
    with pytest.raises(ExchangeRefused, match=r"mallory@example\.org, whom no one vouched for"):
        alice.exchange.new_version(document_id, report, before_encrypting=shown.append)
    assert (shown, _blob_count(ctx)) == ([], blobs)


def test_a_signed_reader_list_stripped_by_the_server_is_not_read_as_version_1(
    practice: Practice, ctx, users, report
):
    """The server serves Alice's version 2 manifest without its reader list, as if it
    were a version 1 manifest, and lists Mallory as a reader: even if the user
    confirms the addresses, a manifest that does not verify is refused."""
    mallory = users.signed_in("mallory@example.org", "practitioner")
    alice, bob = practice.alice, practice.bob
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    with ctx.sessions.begin() as db:
        version = _latest_version(db, document_id)
        version.readers = None  # the downgrade
        author_share = db.scalar(
            select(Share).where(
                Share.version_id == version.id, Share.recipient_id == version.author_id
            )
        )
        db.add(
            Share(
                document_id=document_id,
                version_id=version.id,
                recipient_id=uuid.UUID(mallory.account_id),
                wrapped_key=author_share.wrapped_key,
                granted_by=version.author_id,
                created_at=author_share.created_at,
                version_created_at=version.created_at,
            )
        )
    shown = []
    for confirm in ((), (bob.email, mallory.email)):
        with pytest.raises(ExchangeRefused, match="version 1 is not what its author signed"):
            alice.exchange.new_version(
                document_id, report, confirm=confirm, before_encrypting=shown.append
            )
    assert shown == []


@pytest.mark.parametrize(
    ("rewrite", "reason"),
    [
        (lambda view: view["versions"][0].update(wrapped_key="not base64!"), "wrapped_key"),
        (lambda view: view.pop("latest_version"), "latest_version: Field required"),
        (lambda view: view["recipients"].append({"email": 5}), "recipients.1.account_id"),
    ],
)
def test_a_malformed_document_view_is_refused_with_what_is_wrong(
    practice: Practice, report, tmp_path, monkeypatch, rewrite, reason
):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    """What the server answers is read as the protocol's model: a field missing, of
    another type or not base64url is refused as the server's fault, naming the field,
    before anything of it is used."""
    alice = practice.alice.exchange
    # The author alone reads it: the recipient appended below is the second.
    document_id = alice.send(report, patient_file_id=practice.patient_file, to=[], to_patient=False)
    honest = alice.call

    def lying(method, path, **kwargs):
        response = honest(method, path, **kwargs)
        if method == "GET" and path == f"/documents/{document_id}":
            view = response.json()
            rewrite(view)
            response._content = json.dumps(view).encode()
        return response

    monkeypatch.setattr(alice, "call", lying)
    with pytest.raises(ExchangeRefused, match="answer for a document is malformed") as refused:
        alice.fetch(document_id, inbox)
    assert reason in str(refused.value)
    assert list(inbox.iterdir()) == []


def test_the_document_a_change_is_about_is_shown_from_the_answers_it_is_made_from(
    practice: Practice, report, tmp_path
):
    """A command line that took a document from a listing (an id prefix) shows which
    document it is before encrypting for it: from the verified view the share or the
    new version is made from, not from another answer the server could make differ."""
    alice = practice.alice.exchange
    document_id = alice.send(
        report,
        patient_file_id=practice.patient_file,
        to=[],
        title="Bilan du genou",
        to_patient=False,  # shared with Carol below
    )
    shown = []

    def stop_here(summary):
        shown.append(summary)
        raise KeyboardInterrupt  # the person answered no

    with pytest.raises(KeyboardInterrupt):
        alice.share(document_id, [practice.carol.email], before_changing=stop_here)
    with pytest.raises(KeyboardInterrupt):
        alice.new_version(document_id, report, before_changing=stop_here)
    assert [(s.id, s.title, s.version) for s in shown] == [(document_id, "Bilan du genou", 1)] * 2
    # Stopped before anything changed: no new reader, no new version.
    after = alice.document(document_id)
    assert practice.carol.email not in after.recipients and after.version == 1


def test_a_sender_signed_in_under_another_member_s_address_is_refused(
    practice: Practice, users, client, monkeypatch
):
    """Mallory, the server's account, signs a genuine first link naming herself by
    Alice's address, and the server takes it and lists her so: her key signs truly,
    so only the key directory tells Bob that address is not hers. Read, her message
    must not be Alice's."""
    mallory_user = users.signed_in("mallory@example.org", "practitioner")
    monkeypatch.setattr(KeyDirectory, "_may_see", lambda *a, **k: True)
    mallory = MessagingClient(device(client, users, mallory_user))
    alice_email, mallory_id = practice.alice.email, mallory_user.account_id
    bob = practice.bob.user
    thread_id, request = mallory.thread_request(
        [Reader(uuid.UUID(mallory_id), alice_email), Reader(uuid.UUID(bob.account_id), bob.email)]
    )
    # The hostile server's check of each signed address against its account.
    monkeypatch.setattr(
        "uhealthsec.server.messaging.service.normalize_email",
        lambda email: mallory_user.email if email == alice_email else email,
    )
    started = mallory.exchange.call("POST", "/threads", json=request.model_dump(mode="json"))
    assert started.status_code == 201, started.text

    def listed_as_alice(exchange) -> None:
        genuine = exchange.call

        def call(method: str, path: str, **kwargs):
            answer = genuine(method, path, **kwargs)
            if method != "GET" or path != f"/threads/{thread_id}":
                return answer
            served = answer.json()
            for p in served["participants"]:
                if p["account_id"] == mallory_id:
                    p["email"], p["display_name"] = alice_email, "Alice"
            return httpx2.Response(200, json=served, request=answer.request)

        monkeypatch.setattr(exchange, "call", call)

    listed_as_alice(mallory.exchange)
    listed_as_alice(practice.bob.exchange)
    forged = "C'est Alice : envoyez-moi le dossier de Mme Durand."
    # An honest client refuses the link her own key signed under Alice's address...
    with pytest.raises(ExchangeRefused, match="who names themselves"):
        mallory.send(thread_id, forged)
    # ...so hers takes the chain as she signed it.
    with monkeypatch.context() as hers:
        as_signed = [
            Reader(uuid.UUID(mallory_id), alice_email),
            Reader(uuid.UUID(bob.account_id), bob.email),
        ]
        signed = {r.account_id: r for r in as_signed}
        hers.setattr(mallory, "members", lambda thread: signed)
        mallory.send(thread_id, forged)
    try:
        [message] = MessagingClient(practice.bob.exchange).read(thread_id)
    except ExchangeRefused:
        return
    assert message.sender_email == mallory_user.email


def test_a_message_served_again_at_another_place_is_read_once(practice: Practice, monkeypatch):
    """A message's signature binds its id and thread, not its place: served again in
    the next one's place, in the same page or a later one, it is refused, never read
    twice (a prescription said twice)."""
    alice, bob = MessagingClient(practice.alice.exchange), practice.bob.exchange
    thread_id = alice.start_thread([practice.bob.email])["id"]
    for said in ("Prenez un comprimé ce soir.", "Rappelez-moi demain."):
        alice.send(thread_id, said)
    first, second = bob.call("GET", f"/threads/{thread_id}/messages").json()
    genuine = bob.call

    def serving(messages: list[dict]) -> None:
        def call(method: str, path: str, **kwargs):
            answer = genuine(method, path, **kwargs)
            if method != "GET" or path != f"/threads/{thread_id}/messages":
                return answer
            return httpx2.Response(200, json=messages, request=answer.request)

        monkeypatch.setattr(bob, "call", call)

    serving([first, {**first, "seq": second["seq"]}])
    with pytest.raises(ExchangeRefused, match="serves again, as message 2"):
        MessagingClient(bob).read(thread_id)
    reader = MessagingClient(bob)
    serving([first, second])
    assert [m.text for m in reader.read(thread_id)] == [
        "Prenez un comprimé ce soir.",
        "Rappelez-moi demain.",
    ]
    serving([{**first, "seq": second["seq"] + 1}])
    with pytest.raises(ExchangeRefused, match="already read as 1"):
        reader.read(thread_id, after=second["seq"])
