"""Many active practitioners at once, written straight to the database with real keys
published in the key directory (for tests about many readers)."""

from __future__ import annotations

from uhealthsec.crypto.keys import UserKeys
from uhealthsec.server.accounts.models import Account, AccountKind, AccountStatus
from uhealthsec.server.keys.service import KeyDirectory


def add_practitioners(ctx, count: int) -> list[str]:
    emails = []
    with ctx.sessions.begin() as db:
        for i in range(count):
            public = UserKeys.generate().public()
            account = Account(
                email=f"reader{i:03d}@example.org",
                display_name=f"Reader {i}",
                kind=AccountKind.PRACTITIONER,
                status=AccountStatus.ACTIVE,
                password_hash="unused",
                keystore=b"unused",
                public_keys=public.encode(),
                key_fingerprint=public.fingerprint(),
                created_at=ctx.now(),
            )
            db.add(account)
            db.flush()
            KeyDirectory(db, ctx).publish(account)
            emails.append(account.email)
    return emails
