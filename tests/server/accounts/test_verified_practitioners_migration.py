"""Migration 0018 keeps the professional identities that were proven and drops the
ones that were only declared."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from uhealthsec.server.accounts.models import Account, Membership, Practice, Role
from uhealthsec.server.federation.models import FederatedIdentity
from uhealthsec.server.storage import migrate
from uhealthsec.server.storage.db import make_engine


def test_upgrade_keeps_e_cps_and_admin_vouching_but_not_a_declared_rpps(database_url):
    engine = make_engine(database_url)
    migrate.downgrade(engine, "0012")
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    ids = {name: uuid.uuid4() for name in ("e_cps", "vouched", "declared", "admin")}
    practice = uuid.uuid4()

    def account(name: str, rpps: str | None) -> dict[str, object]:
        return {
            "id": ids[name],
            "email": f"{name}@example.org",
            "display_name": name,
            "kind": "practitioner",
            "status": "active",
            "rpps": rpps,
            "password_hash": "x",
            "keystore": b"k",
            "public_keys": b"p",
            "key_fingerprint": b"f" * 32,
            "created_at": now,
        }

    def member(name: str, **extra: object) -> dict[str, object]:
        return {
            "id": uuid.uuid4(),
            "practice_id": practice,
            "account_id": ids[name],
            "role": Role.PRACTITIONER,
            "created_at": now,
            **extra,
        }

    with engine.begin() as conn:
        conn.execute(
            Account.__table__.insert(),
            [
                account("e_cps", "10000000009"),
                account("vouched", None),
                account("declared", "79927398713"),
                account("admin", None),
            ],
        )
        conn.execute(
            Practice.__table__.insert(), [{"id": practice, "name": "C", "created_at": now}]
        )
        conn.execute(
            Membership.__table__.insert(),
            [
                member("vouched", identity_verified_at=now, identity_verified_by=ids["admin"]),
                # The old rule: a declared RPPS number marked the membership verified.
                member("declared", identity_verified_at=now, identity_verified_by=None),
            ],
        )
        conn.execute(
            FederatedIdentity.__table__.insert(),
            [
                {
                    "id": uuid.uuid4(),
                    "issuer": "https://e-cps.example",
                    "subject": "s",
                    "account_id": ids["e_cps"],
                    "rpps": "10000000009",
                    "linked_at": now,
                }
            ],
        )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Account.id,
                Account.identity_proof,
                Account.identity_verified_at,
                Account.identity_verified_by,
            )
        ).all()
    engine.dispose()
    found = {row.id: row for row in rows}
    assert found[ids["e_cps"]].identity_proof == "e-cps"
    assert found[ids["e_cps"]].identity_verified_at == now
    assert found[ids["vouched"]].identity_proof == "practice-admin"
    assert found[ids["vouched"]].identity_verified_by == ids["admin"]
    assert found[ids["declared"]].identity_verified_at is None
    assert found[ids["admin"]].identity_verified_at is None


def test_upgrade_0023_keeps_a_proven_rpps_and_moves_a_declared_one_apart(database_url):
    """Only an e-CPS-proven number stays in the unique ``rpps``; a declared one becomes
    ``declared_rpps``, which another account may declare too."""
    engine = make_engine(database_url)
    migrate.downgrade(engine, "0018")
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    proven, declared = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as conn:  # only columns of 0018 are given
        conn.execute(
            Account.__table__.insert(),
            [
                {
                    "id": account_id,
                    "email": f"{account_id}@example.org",
                    "display_name": "n",
                    "kind": "practitioner",
                    "status": "active",
                    "rpps": rpps,
                    "password_hash": "x",
                    "keystore": b"k",
                    "public_keys": b"p",
                    "key_fingerprint": b"f" * 32,
                    "created_at": now,
                    "identity_proof": proof,
                }
                for account_id, rpps, proof in (
                    (proven, "10000000009", "e-cps"),
                    (declared, "79927398713", "operator"),
                )
            ],
        )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        rows = {
            r.id: (r.rpps, r.declared_rpps)
            for r in conn.execute(select(Account.id, Account.rpps, Account.declared_rpps))
        }
    assert rows[proven] == ("10000000009", None)
    assert rows[declared] == (None, "79927398713")
