"""The journal records every action (and every refusal), resists rewriting in the
database, and lets a client detect what it cannot prevent."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from tests.conftest import served_checkpoint
from tests.server.records.conftest import Practice, thread_body
from uhealthsec.client.api import ApiError
from uhealthsec.client.errors import HistoryIncomplete, JournalTampered, LogRefused
from uhealthsec.client.journal import JournalClient
from uhealthsec.client.logs import LogPin
from uhealthsec.crypto.journal import NOBODY, JournalEntry, ObjectKind, Outcome
from uhealthsec.protocol.encoding import b64u_decode
from uhealthsec.server.audit.models import JournalRecord


def _entries(ctx) -> list[tuple[int, JournalEntry]]:
    with ctx.sessions() as db:
        rows = db.execute(
            select(JournalRecord.log_index, JournalRecord.entry).order_by(JournalRecord.log_index)
        ).all()
    return [(i, JournalEntry.decode(e)) for i, e in rows]


def _after(ctx, start: int) -> list[JournalEntry]:
    return [e for i, e in _entries(ctx) if i >= start]


def test_actions_reads_and_refusals_are_journaled(practice: Practice, ctx, report, tmp_path):
    """R12: changes, reads and a refusal are journaled with who, what and outcome."""
    alice, bob = practice.alice, practice.bob
    start = len(_entries(ctx))
    # Without the patient, whose key lookup is journaled (her history shows it, below).
    document_id = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email], to_patient=False
    )
    bob.exchange.fetch(document_id, tmp_path / "copy.txt")
    alice.exchange.revoke(document_id, bob.email)
    with pytest.raises(ApiError):
        bob.exchange.fetch(document_id, tmp_path / "again.txt")

    entries = _after(ctx, start)
    done = [(e.action, str(e.actor)) for e in entries if e.outcome == Outcome.DONE]
    alice_id, bob_id = alice.user.account_id, bob.user.account_id
    for expected in [
        ("records.upload", alice_id),
        ("records.create_document", alice_id),
        ("records.document", bob_id),
        ("records.content", bob_id),
        ("records.revoke", alice_id),
    ]:
        assert expected in done
    [refused] = [e for e in entries if e.outcome == Outcome.DENIED]
    assert (refused.action, str(refused.actor), refused.status) == (
        "records.document",
        bob_id,
        404,
    )
    assert all(e.client == "uhs-cli" for e in entries)
    # The objects a route's path names are in its entry: the document revoked from,
    # and whose access ended.
    [revoke] = [e for e in entries if e.action == "records.revoke"]
    assert (ObjectKind.DOCUMENT, uuid.UUID(str(document_id))) in revoke.objects
    [read] = [e for e in entries if e.action == "records.content"]
    assert (ObjectKind.DOCUMENT, uuid.UUID(str(document_id))) in read.objects
    # Key lookups are not health data: not journaled.
    assert not [e for e in entries if e.action.startswith("keys.")]


def test_every_journaled_response_carries_a_verifiable_receipt(practice: Practice, ctx):
    alice = practice.alice.exchange
    response = alice.call("POST", "/threads", json=thread_body(alice, practice.bob.user))
    journal = JournalClient(alice.call)
    index, entry = journal.check_receipt(
        response, practice.alice.user.account_id, response.request.content
    )
    assert entry.action == "messaging.create_thread"
    assert index == _entries(ctx)[-1][0]
    # A receipt for another request does not pass for this one.
    with pytest.raises(JournalTampered, match="does not describe this request"):
        journal.check_receipt(response, practice.alice.user.account_id, b"{}")


def test_a_patient_sees_exactly_who_accessed_their_file(practice: Practice, ctx, report, tmp_path):
    """R13: the patient sees who accessed their file, and nobody else sees it.
    R28: information on access (which professional, what, when).
    """
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    bob.exchange.fetch(document_id, tmp_path / "copy.txt")
    history = carol.exchange.call("GET", "/journal/history").json()
    seen = [(h["actor_name"], h["action"], h["outcome"]) for h in reversed(history)]
    alice_name, bob_name = "Dr Alice", "Dr Bob"
    assert seen == [
        # Her acceptance of the invitation recorded that she was informed (R11).
        ("Dr Carol", "accounts.accept_invitation", "done"),
        (alice_name, "records.open_patient_file", "done"),
        ("Dr Carol", "consent.record_directive", "done"),  # her consent for Bob
        # Whom the file is about, asked to prove her before she is a reader (R28).
        (alice_name, "records.patient_file", "done"),
        (alice_name, "keys.lookup", "done"),  # her keys, proven in the directory
        (alice_name, "records.create_document", "done"),
        (bob_name, "records.document", "done"),
        (bob_name, "records.content", "done"),
        # Opened and verified on his device: his read receipt.
        (bob_name, "records.mark_read", "done"),
    ]
    # Nobody else may read it; practitioners have no access history of their own.
    with pytest.raises(ApiError) as refused:
        bob.exchange.call("GET", "/journal/history")
    assert refused.value.status == 404


def test_r28_the_access_history_is_readable_three_years_and_a_day_later(
    practice: Practice, ctx, clock, users, report, tmp_path
):
    """R28: the patient's access history is kept readable for at least three years.
    Three years and a day after an access, once every periodic job of the server ran
    (the technical log's purge of network data among them, and retention's), the
    patient signs in again and her history still lists it, proven complete."""
    from uhealthsec.server.cli import _maintain
    from uhealthsec.server.retention.service import purge

    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    bob.exchange.fetch(document_id, tmp_path / "copy.txt")
    me = carol.user.account_id
    then = JournalClient(carol.exchange.call).check_history(me)
    seen = {i["index"]: (i["at"], i["action"], i["actor_name"]) for i in then.items}
    assert ("Dr Bob", "records.content") in {(a, b) for _, b, a in seen.values()}

    clock.advance(days=3 * 366 + 1)
    _maintain(ctx)
    purge(ctx, clock.now.date())
    carol.user.tokens = users.sign_in_again(carol.user)
    later = JournalClient(carol.exchange.call).check_history(me)
    kept = {i["index"]: (i["at"], i["action"], i["actor_name"]) for i in later.items}
    assert {index: kept.get(index) for index in seen} == seen
    assert later.chained == len(later.items) and later.unchained == 0


def _statements(ctx) -> list[str]:
    return [
        "UPDATE journal_entries SET action = 'x'",
        "DELETE FROM journal_entries",
        "DELETE FROM journal_patients",
        "UPDATE merkle_nodes SET hash = hash WHERE log = 'journal'",
        "DELETE FROM merkle_checkpoints WHERE log = 'journal'",
        "UPDATE merkle_checkpoints SET note = note WHERE log = 'keys'",
        "UPDATE merkle_logs SET size = 0 WHERE name = 'journal'",
        "UPDATE merkle_logs SET origin = 'elsewhere.example/journal' WHERE name = 'journal'",
        "DELETE FROM merkle_logs",
        *(
            ["TRUNCATE journal_entries", "TRUNCATE merkle_checkpoints"]
            if ctx.engine.dialect.name == "postgresql"
            else []
        ),
    ]


def test_the_database_refuses_to_rewrite_the_journal(practice: Practice, ctx):
    """R14: journal rows can never be updated or deleted."""
    practice.alice.exchange.call("GET", "/practices")  # something happened before
    assert _entries(ctx)
    for statement in _statements(ctx):
        with pytest.raises((DBAPIError, IntegrityError)), ctx.engine.begin() as connection:
            connection.execute(text(statement))
    # The key directory's nodes stay writable by migrations; the journal's do not.
    assert len(_entries(ctx)) > 0


def _drop_guards(ctx) -> None:
    """What an operator with full control of the database can do first."""
    with ctx.engine.begin() as connection:
        names = ["journal_entries_no_update", "journal_entries_no_delete"]
        if ctx.engine.dialect.name == "postgresql":
            connection.execute(text("DROP TRIGGER journal_entries_append_only ON journal_entries"))
            connection.execute(text("GRANT UPDATE, DELETE ON journal_entries TO CURRENT_USER"))
        else:
            for name in names:
                connection.execute(text(f"DROP TRIGGER {name}"))


def _tamper_byte(ctx, index: int) -> None:
    with ctx.engine.begin() as connection:
        entry = connection.execute(
            text("SELECT entry FROM journal_entries WHERE log_index = :i"), {"i": index}
        ).scalar_one()
        changed = bytearray(entry)
        changed[20] ^= 1  # a bit of the actor id
        connection.execute(
            text("UPDATE journal_entries SET entry = :e WHERE log_index = :i"),
            {"e": bytes(changed), "i": index},
        )


def _swap(ctx, a: int, b: int) -> None:
    with ctx.engine.begin() as connection:
        rows = dict(
            connection.execute(
                text("SELECT log_index, entry FROM journal_entries WHERE log_index IN (:a, :b)"),
                {"a": a, "b": b},
            ).all()
        )
        for index, other in ((a, b), (b, a)):
            connection.execute(
                text("UPDATE journal_entries SET entry = :e WHERE log_index = :i"),
                {"e": rows[other], "i": index},
            )


def _drop(ctx, index: int) -> None:
    with ctx.engine.begin() as connection:
        connection.execute(text("DELETE FROM journal_entries WHERE log_index = :i"), {"i": index})


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda ctx: _tamper_byte(ctx, 3), r"journal entries \d+ to \d+ do not match the head"),
        (lambda ctx: _swap(ctx, 2, 4), r"journal entries \d+ to \d+ do not match the head"),
        (lambda ctx: _drop(ctx, 5), r"entries were removed|do not match the head"),
    ],
    ids=["one-bit", "reordered", "dropped"],
)
def test_verify_detects_a_rewritten_journal(practice: Practice, ctx, tamper, message, tmp_path):
    """R12: a client's verification names a rewritten journal."""
    alice = practice.alice.exchange
    for _ in range(3):
        alice.call("POST", "/threads", json=thread_body(alice, practice.bob.user))
    journal = JournalClient(alice.call)
    first = journal.verify()
    assert first.size == len(_entries(ctx))
    _drop_guards(ctx)
    tamper(ctx)
    again = JournalClient(alice.call, LogPin(**journal.pin.to_dict()))
    with pytest.raises(JournalTampered, match=message):
        again.verify()


def test_a_local_copy_names_the_exact_entry(practice: Practice, ctx, tmp_path):
    alice = practice.alice.exchange
    for _ in range(3):
        alice.call("POST", "/threads", json=thread_body(alice, practice.bob.user))
    cache = tmp_path / "journal.leaves"
    journal = JournalClient(alice.call, leaf_cache=cache)
    journal.verify()
    _drop_guards(ctx)
    _tamper_byte(ctx, 4)
    again = JournalClient(alice.call, LogPin(**journal.pin.to_dict()), leaf_cache=cache)
    with pytest.raises(
        JournalTampered, match="journal entry 4 is not the one this device verified"
    ):
        again.verify()


def test_a_forked_journal_fails_the_consistency_proof(practice: Practice, ctx):
    from uhealthsec.server.storage.merkle_log import JOURNAL_LOG, MerkleLog

    alice = practice.alice.exchange
    journal = JournalClient(alice.call)
    journal.verify()
    # The operator rebuilds the journal without its first entry and signs it again.
    with ctx.engine.begin() as connection:
        if ctx.engine.dialect.name == "postgresql":
            connection.execute(text("SET session_replication_role = replica"))  # no triggers
        else:
            for name in (
                "merkle_nodes_no_delete",
                "merkle_tree_heads_no_delete",
                "merkle_logs_only_grow",
            ):
                connection.execute(text(f"DROP TRIGGER {name}"))
        connection.execute(text("DELETE FROM merkle_nodes WHERE log = 'journal'"))
        connection.execute(text("DELETE FROM merkle_tree_heads WHERE log = 'journal'"))
        connection.execute(text("UPDATE merkle_logs SET size = 0 WHERE name = 'journal'"))
    entries = [e.encode() for _, e in _entries(ctx)][1:] + [b"forged"] * 3
    with ctx.sessions.begin() as db:
        log = MerkleLog(db, JOURNAL_LOG, ctx.log_key, 1)
        log.append(entries)
        log.sign_head()
    with pytest.raises(LogRefused, match="does not extend the one this device saw"):
        JournalClient(alice.call, LogPin(**journal.pin.to_dict())).verify()


def test_two_processes_append_to_one_consistent_journal(ctx, settings):
    """Both read the same server key file from the data directory, as two API
    processes of one deployment do."""
    import subprocess
    import sys

    from uhealthsec.crypto import merkle
    from uhealthsec.server.audit.service import JournalService

    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.server.audit.append_worker",
                settings.resolved_database_url,
                str(settings.data_dir),
                "300",
            ],
            stdout=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    results = [json.loads(w.communicate(timeout=180)[0]) for w in workers]
    assert all(w.returncode == 0 for w in workers)
    indexes = sorted(results[0]["indexes"] + results[1]["indexes"])
    assert indexes == list(range(indexes[0], indexes[0] + 600))  # no gap, no duplicate
    entries = _entries(ctx)
    with ctx.sessions() as db:
        service = JournalService(db, ctx)
        head, _ = service.head(None)
        leaves = service.leaf_hashes(0, head.size)
        heads = service.heads(1, 10_000)
    assert head.size == len(entries) and merkle.root_of(leaves) == head.root
    builder = merkle.RootBuilder()
    by_size = {h.size: h.root for h in heads}
    for leaf in leaves:
        builder.add(leaf)
        if builder.size in by_size:
            assert builder.root() == by_size[builder.size]
    # Both processes signed heads: more heads than one per process, fewer than entries.
    assert 2 <= len(heads) <= len(entries)


def test_connection_data_is_purged_after_the_cnil_retention(practice: Practice, ctx, clock):
    """R14: IP addresses are purged after NETWORK_RETENTION_DAYS; the journal stays."""
    from datetime import timedelta

    from uhealthsec.server.audit.models import JournalNetworkRecord, ReadBudgetCount, ReadCount
    from uhealthsec.server.audit.service import NETWORK_RETENTION_DAYS, JournalService

    alice = practice.alice.exchange
    alice.call("POST", "/threads", json=thread_body(alice, practice.bob.user))
    with ctx.sessions() as db:
        kept = len(db.scalars(select(JournalNetworkRecord)).all())
        reads = len(db.scalars(select(ReadCount)).all())  # this minute's, for the rate limit
        # This hour's and minute's, for the read budgets (R27).
        reads += len(db.scalars(select(ReadBudgetCount)).all())
    assert kept > 0
    with ctx.sessions.begin() as db:
        assert JournalService(db, ctx).purge_network_data(clock.now) == 0
        later = clock.now + timedelta(days=NETWORK_RETENTION_DAYS + 1)
        assert JournalService(db, ctx).purge_network_data(later) == kept + reads
    assert _entries(ctx)  # the journal itself stays


def test_signed_requests_leave_the_users_own_proof_in_the_journal(practice: Practice, ctx, report):
    """R3: a signed request's signature is kept in its entry; a forged one is refused."""
    from uhealthsec.crypto.journal import SignedRequest
    from uhealthsec.protocol.encoding import b64u_encode

    alice = practice.alice.exchange
    start = len(_entries(ctx))
    alice.send(report, patient_file_id=practice.patient_file, to=[practice.bob.email])
    created = [e for e in _after(ctx, start) if e.action == "records.create_document"]
    [entry] = created
    assert entry.signature is not None
    # Anyone holding the entry and Alice's published key can check it was her request.
    SignedRequest(entry.request_digest).verify(
        alice.keys.public().signing, entry.signature.signature
    )
    assert entry.signature.signer_key_index == alice.my_entry().index
    # An upload is streamed: signed over the digest its Content-Digest declared.
    [upload] = [e for e in _after(ctx, start) if e.action == "records.upload"]
    assert upload.signature is not None
    SignedRequest(upload.request_digest).verify(
        alice.keys.public().signing, upload.signature.signature
    )

    now_ms = int(ctx.now().timestamp() * 1000)
    forged = f"{alice.my_entry().index};{now_ms};{b64u_encode(bytes(64))}"
    response = alice.http.post(
        "/threads",
        json=thread_body(alice, practice.bob.user),
        headers={
            "Authorization": f"Bearer {practice.alice.user.tokens.access_token}",
            "Idempotency-Key": "f" * 32,
            "UHS-Signature": forged,
        },
    )
    assert response.status_code == 400
    assert "signature does not match this request" in response.json()["detail"]
    last = _entries(ctx)[-1][1]
    assert (last.action, last.outcome, str(last.actor)) == (
        "messaging.create_thread",
        Outcome.REFUSED,
        practice.alice.user.account_id,
    )


def test_exports_as_fhir_audit_events_and_json_lines(practice: Practice, ctx, report, tmp_path):
    from fhir.resources.R4B.bundle import Bundle

    from uhealthsec.crypto import merkle
    from uhealthsec.protocol.encoding import b64u_decode

    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    bob.exchange.fetch(document_id, tmp_path / "copy.txt")
    history = carol.exchange.call("GET", "/journal/history").json()

    response = carol.exchange.call("GET", "/journal/history/export", params={"format": "fhir"})
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(response.json())
    events = [e.resource for e in bundle.entry]
    # Reading one's history is about oneself: the first reading is in the export.
    assert len(events) == len(history) + 1
    assert events[-1].subtype[0].code == "audit.history"
    assert events[-2].subtype[0].code == "records.mark_read"  # Bob's read receipt
    download = events[-3]
    assert (download.subtype[0].code, download.action, download.outcome) == (
        "records.content",
        "R",
        "0",
    )
    assert download.agent[0].who.identifier.value == bob.user.account_id
    patients = [
        e.what.identifier.value
        for e in download.entity
        if e.what.identifier.system == "urn:uhealthsec:patient"
    ]
    assert patients == [carol.user.account_id]

    lines = carol.exchange.call(
        "GET", "/journal/history/export", params={"format": "jsonl"}
    ).text.splitlines()
    records = [json.loads(line) for line in lines]
    # ... and the first export is in the second.
    assert [r["action"] for r in records] == [
        *(e.subtype[0].code for e in events),
        "audit.export_history",
    ]
    for record in records:  # each line ties back to the verifiable journal
        assert b64u_decode(record["leaf_hash"]) == merkle.leaf_hash(b64u_decode(record["entry"]))

    admin = alice.exchange.call(
        "GET", f"/practices/{practice.id}/journal/export", params={"format": "jsonl"}
    ).text.splitlines()
    assert {json.loads(line)["action"] for line in admin} >= {"records.create_document"}
    with pytest.raises(ApiError) as refused:
        bob.exchange.call("GET", f"/practices/{practice.id}/journal/export")
    assert refused.value.status == 404


def _list_witness(ctx, key: bytes, email: str, name: str = "audit.example/witness") -> None:
    """What the operator does with ``uhs-server witnesses add``."""
    from uhealthsec.server.audit.service import JournalService

    with ctx.sessions.begin() as db:
        JournalService(db, ctx).list_witness(key, name, email)


def test_a_witness_countersigns_what_it_verified(practice: Practice, ctx, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from uhealthsec.client.witness import Witness, load_or_create_witness_key
    from uhealthsec.crypto import checkpoint
    from uhealthsec.protocol.encoding import b64u_decode, b64u_encode

    alice = practice.alice.exchange
    key_file = tmp_path / "witness" / "key"
    key = load_or_create_witness_key(key_file)
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert load_or_create_witness_key(key_file).private_bytes_raw() == key.private_bytes_raw()
    witness = Witness(alice.call, key, key_file.parent)
    _list_witness(ctx, witness.public_key, practice.alice.email)
    result = witness.cosign()

    [cosigned] = alice.call("GET", "/journal/cosignatures", params={"size": result.size}).json()
    assert b64u_decode(cosigned["witness_key"]) == witness.public_key
    assert cosigned["witness_name"] == "audit.example/witness"
    head = result.head
    head.verify_cosignature(
        witness.public_key, cosigned["timestamp"], b64u_decode(cosigned["signature"])
    )
    # The checkpoint as the ecosystem's tools read it: the log's signature and the
    # witness's cosignature line (C2SP tlog-cosignature), each with its key ID.
    note = alice.call("GET", "/journal/checkpoint", params={"size": result.size}).text
    served_key = alice.call("GET", "/journal/head").json()["log_key"]
    assert checkpoint.parse_verifier_key(served_key)[0] == head.origin
    log_public = checkpoint.parse_verifier_key(served_key)[1]
    assert checkpoint.open_checkpoint(note, head.origin, log_public) == head
    [(timestamp, signature)] = checkpoint.note_cosignatures(
        note, "audit.example/witness", witness.public_key
    )
    head.verify_cosignature(witness.public_key, timestamp, signature)

    # A cosignature over anything but the server's own checkpoint is refused, and one
    # dated in the future.
    stranger = ed25519.Ed25519PrivateKey.generate()
    _list_witness(ctx, stranger.public_key().public_bytes_raw(), practice.alice.email)
    now = int(ctx.now().timestamp())
    for point, timestamp in (
        (checkpoint.Checkpoint(head.origin, head.size, bytes(32)), now),
        (head, now + 3600),
    ):
        with pytest.raises(ApiError) as refused:
            alice.call(
                "POST",
                "/journal/cosignatures",
                json={
                    "size": head.size,
                    "witness_key": b64u_encode(stranger.public_key().public_bytes_raw()),
                    "timestamp": timestamp,
                    "signature": b64u_encode(point.cosign(stranger, timestamp)),
                },
            )
        assert refused.value.status == 400

    # The witness goes on from what it kept: more entries, then a rewrite it refuses.
    alice.call("POST", "/threads", json=thread_body(alice, practice.bob.user))
    assert Witness(alice.call, key, key_file.parent).cosign().previous_size == result.size
    _drop_guards(ctx)
    _tamper_byte(ctx, 1)
    with pytest.raises(JournalTampered):
        Witness(alice.call, key, key_file.parent).cosign()


def test_the_database_owner_holds_no_right_to_rewrite_the_journal(request, database_url):
    """On PostgreSQL the migration revokes UPDATE, DELETE and TRUNCATE on the entries
    from everyone, the owner that runs the application included; SQLite has no
    privileges, and its guard is the triggers."""
    import secrets as token

    from sqlalchemy import create_engine

    from uhealthsec.server.storage import migrate
    from uhealthsec.server.storage.db import make_engine

    if not database_url.startswith("postgresql"):
        engine = make_engine(database_url)
        with engine.connect() as connection:
            names = set(
                connection.execute(
                    text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                ).scalars()
            )
        engine.dispose()
        assert {
            "journal_entries_no_update",
            "journal_entries_no_delete",
            "merkle_logs_only_grow",
        } <= names
        return
    server = request.getfixturevalue("postgres")
    role, name = f"uhs_app_{token.token_hex(4)}", f"owned_{token.token_hex(4)}"
    admin = create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE ROLE {role} LOGIN"))
        connection.execute(text(f'CREATE DATABASE "{name}" OWNER {role}'))
    owner = make_engine(server.url(name).replace("://uhs@", f"://{role}@"))
    try:
        migrate.upgrade(owner)  # as the application's own role, which owns the tables
        with owner.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO journal_entries (log_index, entry, action, outcome, created_at) "
                    "VALUES (0, 'x', 'tests.insert', 1, now())"
                )
            )
        for statement in (
            "UPDATE journal_entries SET action = 'changed'",
            "DELETE FROM journal_entries",
            "TRUNCATE journal_entries",
        ):
            with pytest.raises(DBAPIError, match="permission denied"), owner.begin() as c:
                c.execute(text(statement))
    finally:
        owner.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


def test_an_entry_is_served_with_its_proof_to_those_it_concerns(practice: Practice, ctx):
    from uhealthsec.crypto import merkle
    from uhealthsec.protocol.encoding import b64u_decode

    alice, bob, carol = practice.alice.exchange, practice.bob.exchange, practice.carol.exchange
    alice.call("GET", "/patient-files", params={"practice_id": practice.id})
    index = _entries(ctx)[-1][0]
    head = served_checkpoint(alice.call("GET", "/journal/head").json())
    for reader in (alice, carol):  # the actor; the patient it is about
        body = reader.call(
            "GET", f"/journal/entries/{index}", params={"tree_size": head.size}
        ).json()
        merkle.verify_inclusion(
            merkle.leaf_hash(b64u_decode(body["entry"])),
            index,
            head.size,
            [b64u_decode(p) for p in body["inclusion"]],
            head.root,
        )
    with pytest.raises(ApiError) as refused:
        bob.call("GET", f"/journal/entries/{index}", params={"tree_size": head.size})
    assert refused.value.status == 404


def _fill(ctx, count: int) -> None:
    """Entries appended as requests would, in the writer's batches."""
    from uhealthsec.server.audit.writer import PendingEntry

    actor = uuid.uuid4()
    futures = [
        ctx.journal.submit(PendingEntry(JournalEntry(i, actor, "tests.fill", Outcome.DONE, 200)))
        for i in range(count)
    ]
    for future in futures:
        future.result(timeout=60)


#: A checkpoint whose signature line names another key: the log's own is missing.
_FORGED_CHECKPOINT = (
    "UPDATE merkle_checkpoints SET note = replace(note, '\n\n\u2014 ', '\n\n\u2014 x') "
    "WHERE log = 'journal' AND size = {size}"
)


def _rewrite_heads(ctx, statement: str) -> None:
    """An operator who also rewrites the signed heads (triggers out of the way)."""
    with ctx.engine.begin() as connection:
        if ctx.engine.dialect.name == "postgresql":
            connection.execute(text("SET session_replication_role = replica"))
        else:
            for name in ("merkle_checkpoints_no_update", "merkle_checkpoints_no_delete"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        connection.execute(text(statement))


def test_a_long_journal_is_checked_at_every_checkpoint(practice: Practice, ctx):
    _fill(ctx, 2100)
    journal = JournalClient(practice.alice.exchange.call)
    result = journal.verify()
    size = result.size
    assert size > 2100 and result.heads == 3  # 1,024, 2,048 and the latest
    assert JournalClient(practice.alice.exchange.call).verify(all_heads=True).heads > 3
    with ctx.sessions() as db:
        from uhealthsec.server.audit.service import JournalService

        service = JournalService(db, ctx)
        assert [h.size for h in service.heads(1, 100, checkpoints_only=True)] == [1024, 2048]

    # A checkpoint rewritten: its signature no longer holds.
    _rewrite_heads(ctx, _FORGED_CHECKPOINT.format(size=1024))
    with pytest.raises(JournalTampered, match="checkpoint is not validly signed"):
        JournalClient(practice.alice.exchange.call).verify()


def test_a_missing_checkpoint_or_a_bad_batch_head_is_reported(practice: Practice, ctx):
    _fill(ctx, 1100)
    with ctx.sessions() as db:
        from uhealthsec.server.audit.service import JournalService

        batch_head = next(h.size for h in JournalService(db, ctx).heads(1, 10_000) if h.size < 1024)
    _rewrite_heads(ctx, _FORGED_CHECKPOINT.format(size=batch_head))
    JournalClient(practice.alice.exchange.call).verify()  # checkpoints only: not looked at
    with pytest.raises(JournalTampered, match="checkpoint is not validly signed"):
        JournalClient(practice.alice.exchange.call).verify(all_heads=True)

    _rewrite_heads(ctx, "DELETE FROM merkle_checkpoints WHERE log = 'journal' AND size = 1024")
    with pytest.raises(JournalTampered, match="no signed checkpoint at 1024 entries"):
        JournalClient(practice.alice.exchange.call).verify()


def _as_superuser(ctx, statement, **params) -> None:
    """What the database's superuser can do: triggers off (PostgreSQL), or dropped."""
    with ctx.engine.begin() as connection:
        if ctx.engine.dialect.name == "postgresql":
            connection.execute(text("SET session_replication_role = replica"))
        else:
            for name in (
                "journal_patients_no_delete",
                "journal_entries_no_update",
                "journal_chains_only_grow",
            ):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        connection.execute(text(statement) if isinstance(statement, str) else statement, params)


def test_a_history_row_removed_by_a_superuser_is_reported_with_its_range(
    practice: Practice, ctx, report, tmp_path
):
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    bob.exchange.fetch(document_id, tmp_path / "copy.txt")
    me = carol.user.account_id
    journal = JournalClient(carol.exchange.call)
    complete = journal.check_history(me)
    assert complete.chained == len(complete.items) >= 5 and complete.unchained == 0
    download = next(i for i in complete.items if i["action"] == "records.content")
    number = JournalEntry.decode(b64u_decode(download["entry"])).link(uuid.UUID(me)).sequence

    # Bob's download disappears from Carol's history: the side table loses its row.
    _as_superuser(
        ctx,
        "DELETE FROM journal_patients WHERE log_index = :i",
        i=download["index"],
    )
    served = carol.exchange.call("GET", "/journal/history").json()
    assert download["index"] not in [i["index"] for i in served]
    with pytest.raises(HistoryIncomplete, match="lacks entry") as caught:
        journal.check_history(me)
    [gap] = caught.value.gaps
    assert (gap.first, gap.last, gap.to_index) == (number, number, download["index"])
    assert gap.from_index <= download["index"]

    # The whole beginning of the history removed: the gap runs to the chain's start.
    from sqlalchemy import delete

    from uhealthsec.server.audit.models import JournalPatient

    _as_superuser(ctx, delete(JournalPatient).where(JournalPatient.patient_id == uuid.UUID(me)))
    with pytest.raises(HistoryIncomplete) as caught:
        journal.check_history(me)
    [gap] = caught.value.gaps
    assert (gap.first, gap.from_index) == (0, 0) and gap.last >= number


def test_an_entry_hidden_from_the_practice_journal_is_reported(practice: Practice, ctx):
    alice = practice.alice
    me = alice.user.account_id
    alice.exchange.call("GET", "/patient-files", params={"practice_id": practice.id})
    journal = JournalClient(alice.exchange.call)
    complete = journal.check_history(me, practice.id)
    listing = next(i for i in complete.items if i["action"] == "records.patient_files")
    # The copied column the practice's journal is searched by loses its value.
    _as_superuser(
        ctx,
        "UPDATE journal_entries SET practice_id = NULL WHERE log_index = :i",
        i=listing["index"],
    )
    with pytest.raises(HistoryIncomplete) as caught:
        journal.check_history(me, practice.id)
    assert [g.to_index for g in caught.value.gaps] == [listing["index"]]


def test_every_read_of_personal_data_is_journaled(practice: Practice, ctx):
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    ask = {"practice_id": practice.id, "right": "access"}
    carol.exchange.call("POST", "/rights-requests", json=ask)
    start = len(_entries(ctx))
    carol.exchange.call("GET", "/rights-requests")
    alice.exchange.call("GET", f"/practices/{practice.id}/rights-requests")
    alice.exchange.call("GET", f"/practices/{practice.id}/members")
    alice.exchange.call("GET", f"/practices/{practice.id}/compliance")
    size = served_checkpoint(alice.exchange.call("GET", "/keys/head").json(), "keys").size
    for email in (carol.email, bob.email):  # a patient's entry, then a practitioner's
        alice.exchange.call("GET", "/keys/entries", params={"email": email, "tree_size": size})

    alice_id, carol_id = alice.user.account_id, carol.user.account_id
    assert [(e.action, str(e.actor), e.outcome) for e in _after(ctx, start)] == [
        ("consent.my_requests", carol_id, Outcome.DONE),
        ("consent.practice_requests", alice_id, Outcome.DONE),
        ("accounts.members", alice_id, Outcome.DONE),
        ("compliance.dashboard", alice_id, Outcome.DONE),
        ("keys.lookup", alice_id, Outcome.DONE),  # practitioners' entries are public
    ]
    seen = {h["action"] for h in carol.exchange.call("GET", "/journal/history").json()}
    assert {"consent.my_requests", "consent.practice_requests", "keys.lookup"} <= seen


def test_only_the_witnesses_an_operator_listed_may_countersign(practice: Practice, ctx, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from uhealthsec.client.witness import Witness
    from uhealthsec.protocol.encoding import b64u_encode
    from uhealthsec.server.audit.service import JournalService

    alice = practice.alice.exchange
    # Any account could make up witnesses: a valid countersignature of the real head,
    # from a key nobody listed, is refused.
    sockpuppet = Witness(alice.call, ed25519.Ed25519PrivateKey.generate(), tmp_path / "a")
    with pytest.raises(ApiError) as refused:
        sockpuppet.cosign()
    assert refused.value.status == 403
    # Its valid countersignature of the real head, posted directly, is refused too.
    head = served_checkpoint(alice.call("GET", "/journal/head").json())
    now = int(ctx.now().timestamp())
    post = {
        "size": head.size,
        "witness_key": b64u_encode(sockpuppet.public_key),
        "timestamp": now,
        "signature": b64u_encode(head.cosign(sockpuppet.key, now)),
    }
    with pytest.raises(ApiError) as refused:
        alice.call("POST", "/journal/cosignatures", json=post)
    assert refused.value.status == 403
    assert "not one of this journal's witnesses" in refused.value.detail
    size = served_checkpoint(alice.call("GET", "/journal/head").json()).size
    assert alice.call("GET", "/journal/cosignatures", params={"size": size}).json() == []

    _list_witness(ctx, sockpuppet.public_key, practice.bob.email, "patients.example/witness")
    with pytest.raises(ApiError) as refused:  # listed, but for Bob's account
        sockpuppet.cosign()
    assert refused.value.status == 403
    # Only the witness's account reads the entries in bulk.
    with pytest.raises(ApiError) as refused:
        alice.call("GET", "/journal/entries", params={"start": 0, "end": 1})
    assert refused.value.status == 403
    sockpuppet = Witness(practice.bob.exchange.call, sockpuppet.key, tmp_path / "a")
    assert sockpuppet.cosign().size >= size
    with ctx.sessions.begin() as db:
        service = JournalService(db, ctx)
        assert [w.name for w in service.witnesses()] == ["patients.example/witness"]
        service.unlist_witness(sockpuppet.public_key)
    with pytest.raises(ApiError) as refused:
        sockpuppet.cosign()
    assert refused.value.status == 403


def test_anonymous_refusals_are_counted_but_never_journaled(ctx, clock):
    """2,000 POSTs without a token used to leave 2,000 permanent entries (200 here):
    they are only counted, in the rolling technical log."""
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from tests.server_fixtures import BASE_URL
    from uhealthsec.server.app import create_app
    from uhealthsec.server.audit.refusals import REFUSAL_LOG_DAYS
    from uhealthsec.server.audit.service import JournalService

    def metrics(client) -> dict[str, int]:
        text = client.get("/journal/metrics").text
        return {
            name: int(float(value))
            for name, value in (line.split() for line in text.splitlines() if line[:1] != "#")
        }

    start = len(_entries(ctx))
    app = create_app(ctx=ctx)
    with (
        TestClient(app, base_url=BASE_URL, client=("203.0.113.7", 40000)) as bot,
        TestClient(app, base_url=BASE_URL, client=("127.0.0.1", 40000)) as operator,
    ):
        for _ in range(200):
            refused = bot.post("/threads", json={"participant_ids": []})
            assert refused.status_code == 401
            assert "uhs-journal-entry" not in refused.headers
        assert metrics(operator)["uhs_journal_refusals_anonymous"] == 200
        # Neither another address nor another hour opens an allowance.
        with TestClient(app, base_url=BASE_URL, client=("198.51.100.9", 40000)) as other:
            assert "uhs-journal-entry" not in other.post("/threads", json={}).headers
        clock.advance(hours=1)
        assert "uhs-journal-entry" not in bot.post("/threads", json={}).headers
        assert metrics(operator)["uhs_journal_refusals_anonymous"] == 202

        # The technical log is rolling: purged after its retention.
        with ctx.sessions.begin() as db:
            later = clock.now + timedelta(days=REFUSAL_LOG_DAYS, hours=2)
            assert JournalService(db, ctx).purge_network_data(later) > 0
        assert metrics(operator)["uhs_journal_refusals_anonymous"] == 0
    assert _after(ctx, start) == []


def test_a_chain_rewound_since_the_last_check_is_refused(practice: Practice, ctx):
    from sqlalchemy import update

    from uhealthsec.server.audit.models import JournalChain

    carol = practice.carol
    me = carol.user.account_id
    journal = JournalClient(carol.exchange.call)
    pin = journal.check_history(me).pin
    assert pin is not None
    # The operator hides the entry this device saw last, and rewinds the chain's head
    # so that the next entry takes its number.
    _as_superuser(ctx, "DELETE FROM journal_patients WHERE log_index = :i", i=pin.index)
    anchor = next(e for i, e in _entries(ctx) if i == pin.index).link(uuid.UUID(me))
    _as_superuser(
        ctx,
        update(JournalChain)
        .where(JournalChain.subject_id == uuid.UUID(me))
        .values(length=anchor.sequence, last_index=anchor.previous),
    )
    with pytest.raises(JournalTampered, match="shorter than when this device last checked"):
        journal.check_history(me, known=pin)


def test_a_witness_finds_a_chain_rewound_to_hide_an_entry(practice: Practice, ctx, tmp_path):
    """Hide the newest entry about Carol and rewind her chain, so that the next entry
    takes its number: her device never saw it, a witness that checks chains does."""
    from sqlalchemy import update

    from uhealthsec.client.witness import Witness, load_or_create_witness_key
    from uhealthsec.server.audit.models import JournalChain

    bob, carol = practice.bob.exchange, practice.carol
    me = uuid.UUID(carol.user.account_id)
    key = load_or_create_witness_key(tmp_path / "witness" / "key")
    _list_witness(ctx, key.public_key().public_bytes_raw(), practice.bob.email)
    witness = Witness(bob.call, key, tmp_path / "witness")
    witness.cosign()

    practice.alice.exchange.call("GET", "/patient-files", params={"practice_id": practice.id})
    hidden, entry = next((i, e) for i, e in reversed(_entries(ctx)) if e.link(me))
    link = entry.link(me)
    _as_superuser(ctx, "DELETE FROM journal_patients WHERE log_index = :i", i=hidden)
    _as_superuser(
        ctx,
        update(JournalChain)
        .where(JournalChain.subject_id == me)
        .values(length=link.sequence, last_index=link.previous),
    )
    JournalClient(carol.exchange.call).check_history(str(me))  # nothing to see for Carol
    with pytest.raises(JournalTampered, match=f"number {link.sequence} of a chain that had"):
        witness.cosign()


def test_an_accounts_refusals_are_journaled_up_to_its_allowance(
    practice: Practice, ctx, monkeypatch
):
    from uhealthsec.server.audit import refusals

    monkeypatch.setattr(refusals, "JOURNALED_REFUSALS_PER_ACCOUNT", 3)
    bob = practice.bob.exchange
    start = len(_entries(ctx))
    for _ in range(5):  # probing document ids
        response = bob.http.get(
            f"/documents/{uuid.uuid4()}",
            headers={"Authorization": f"Bearer {practice.bob.user.tokens.access_token}"},
        )
        assert response.status_code == 404
    journaled = _after(ctx, start)
    assert [(e.action, str(e.actor)) for e in journaled] == [
        ("records.document", practice.bob.user.account_id)
    ] * 3
    # Alice's allowance is her own; and what succeeds is always journaled.
    practice.alice.exchange.call("GET", "/patient-files", params={"practice_id": practice.id})
    assert _after(ctx, start)[-1].outcome == Outcome.DONE


@pytest.fixture
def migrated_entry(ctx, clock) -> int:
    """A journal migrated from version 1: an entry from before the chains, first."""
    from uhealthsec.crypto import merkle
    from uhealthsec.server.storage.db import insert_rows
    from uhealthsec.server.storage.merkle_log import JOURNAL_LOG, MerkleLog

    old = JournalEntry(1, NOBODY, "records.content", Outcome.DONE, 200, version=1).encode()
    with ctx.sessions.begin() as db:
        log = MerkleLog(db, JOURNAL_LOG, ctx.log_key, 1)
        index = log.append([old], [merkle.leaf_hash(old)])
        row = {"log_index": index, "entry": old, "action": "records.content", "outcome": 1}
        insert_rows(db, JournalRecord.__table__, [{**row, "created_at": clock.now}])
        log.sign_head()
    return index


def test_entries_from_before_the_chains_are_listed_proven_but_outside_the_chain(
    migrated_entry: int, practice: Practice, ctx, tmp_path
):
    """Its entries about a patient carry no link; entries of version 1 after the first
    of version 2 are refused instead (test_unchained_entries.py)."""
    from uhealthsec.server.audit.models import JournalPatient
    from uhealthsec.server.storage.db import insert_rows

    carol = practice.carol
    me = uuid.UUID(carol.user.account_id)
    with ctx.sessions.begin() as db:
        insert_rows(db, JournalPatient.__table__, [{"patient_id": me, "log_index": migrated_entry}])
    checked = JournalClient(carol.exchange.call).check_history(str(me))
    assert checked.unchained == 1 and checked.chained >= 2
    assert migrated_entry in [i["index"] for i in checked.items]
