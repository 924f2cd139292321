"""Migration 0020 drops the membership links signed before thread ids were derived
from them: no client could check them, and their threads stay readable as threads
started before members were signed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import column, func, select, table

from uhealthsec.crypto.manifest import NO_PREVIOUS, Reader, encode_readers
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.messaging.models import Thread, ThreadMembershipRecord, ThreadParticipant
from uhealthsec.server.storage import migrate
from uhealthsec.server.storage.db import make_engine


def test_upgrade_drops_links_that_derive_no_thread_id_and_keeps_the_threads(database_url):
    engine = make_engine(database_url)
    migrate.downgrade(engine, "0018")
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    alice, bob, thread = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            Account.__table__.insert(),
            [
                {
                    "id": account_id,
                    "email": f"{name}@example.org",
                    "display_name": name,
                    "kind": "practitioner",
                    "status": "active",
                    "password_hash": "x",
                    "keystore": b"k",
                    "public_keys": b"p",
                    "key_fingerprint": b"f" * 32,
                    "created_at": now,
                }
                for name, account_id in (("alice", alice), ("bob", bob))
            ],
        )
        conn.execute(
            Thread.__table__.insert(),
            [{"id": thread, "created_by": alice, "created_at": now, "last_seq": 0}],
        )
        # The participants' table as it was at 0018: later columns (thread_changed_at,
        # with its default) did not exist yet.
        then = ThreadParticipant.__table__.c
        participants_then = table(
            "thread_participants",
            *(column(name, then[name].type) for name in ("thread_id", "account_id", "read_seq")),
        )
        conn.execute(
            participants_then.insert(),
            [{"thread_id": thread, "account_id": a, "read_seq": 0} for a in (alice, bob)],
        )
        members = (Reader(alice, "alice@example.org"), Reader(bob, "bob@example.org"))
        conn.execute(
            ThreadMembershipRecord.__table__.insert(),
            [
                {
                    "thread_id": thread,
                    "seq": 1,
                    "actor_id": alice,
                    "signer_key_index": 3,
                    "previous": NO_PREVIOUS,
                    "members": encode_readers(members),
                    "signature": bytes(64),
                    "created_at": now,
                }
            ],
        )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        links = conn.scalar(select(func.count()).select_from(ThreadMembershipRecord.__table__))
        participants = conn.scalar(select(func.count()).select_from(ThreadParticipant.__table__))
        kept = conn.scalar(select(Thread.__table__.c.id))
    engine.dispose()
    assert (links, participants, kept) == (0, 2, thread)
