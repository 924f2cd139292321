"""A forgotten password, replaced with the keystore's recovery key. No HTTP here.

docs/PROTOCOL.md, 16.5. The caller is anyone: someone who knows the address, or reads
the mailbox, or holds the phone. Each step therefore asks for what the one before
cannot give:

1. ``start``: the address. The answer is the same whether or not an account uses it;
   its owner is mailed a one-time code (short life, few attempts, hashed at rest).
2. ``prove``: the code *and* a second factor. Only then does the server hand over the
   keystore, with its password slot zeroed (it would allow an offline guess of the
   password), and a single-use nonce.
3. ``complete``: the keystore re-sealed on the device, which the 24 recovery words
   alone open, with the new auth secret, signed by the account's key over the nonce.
   The signature is the proof that matters: only the words open the recovery slot,
   and only the keys inside can sign. The mailbox and the factor keep a thief of the
   words alone out, and the nonce makes the signature single use.

The new password replaces the old one, every session ends and the owner is told.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session as DbSession

from uhealthsec.crypto.journal import ObjectKind
from uhealthsec.crypto.keystore import Keystore
from uhealthsec.crypto.keystore_change import KeystoreRecovery
from uhealthsec.server.accounts.models import Account, AccountStatus
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.addresses import normalize_email
from uhealthsec.server.auth.factors import (
    CODE_ALPHABET,
    FACTOR_REFUSED,
    FactorService,
    SecondFactor,
    normalize_recovery_code,
)
from uhealthsec.server.auth.models import PasswordRecovery
from uhealthsec.server.auth.service import SessionService
from uhealthsec.server.auth.unblocking import Unblocking
from uhealthsec.server.context import AppContext, token_hash
from uhealthsec.server.errors import InvalidInput, SecondFactorRefused
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.mail.outbox import MailOutbox
from uhealthsec.server.shield.service import Attempt, Shield

CODE_MINUTES = 15
#: Time to re-seal the keystore (one Argon2id on the device) once the code is proven.
NONCE_MINUTES = 10
#: Wrong codes or second factors given against one code before it stops working.
MAX_FAILURES = 5
#: Codes mailed to one account per hour; further requests are answered alike, unmailed.
CODES_PER_HOUR = 3
_CODE_GROUPS, _CODE_GROUP = 4, 4  # 16 letters of 31: 79 bits

_BAD_CODE = "this recovery code is not valid, was already used or has expired: ask for a new one"
_BAD_NONCE = "this recovery has expired or was already completed: start again"


class CodeRefused(InvalidInput):
    """A wrong code: refused, and counted (the code's failures, the shield's)."""

    keep_changes = True


@dataclass(frozen=True)
class RecoveryGrant:
    """What a proven code gives the device."""

    account_id: uuid.UUID
    nonce: bytes
    recovery_keystore: bytes
    expires_at: datetime


def _new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(_CODE_GROUPS * _CODE_GROUP))
    return "-".join(raw[i : i + _CODE_GROUP] for i in range(0, len(raw), _CODE_GROUP))


def _code_hash(code: str) -> bytes:
    # Typed by a person: case and separators are not part of it.
    return token_hash(normalize_recovery_code(code))


class PasswordRecoveries:
    def __init__(self, db: DbSession, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    def _active_account(self, address: str) -> Account | None:
        return self.db.scalar(
            select(Account).where(Account.email == address, Account.status == AccountStatus.ACTIVE)
        )

    def start(self, email: str, attempt: Attempt | None = None) -> None:
        """Mail a code to the owner of ``email``, if an active account uses it.

        The answer, and the work done before it, are the same for any address: a
        mail is queued in every case (to an address without an account, saying so),
        and the shield counts the request against its network like a registration."""
        address = normalize_email(email)
        shield = Shield(self.db, self.ctx)
        shield.consume(shield.admit(attempt or Attempt("recover", address, None)))
        mail = MailOutbox(self.db, self.ctx)
        account = self._active_account(address)
        if account is None:
            mail.send(
                address,
                "U-HealthSec: password recovery",
                "Someone asked to recover the password of a U-HealthSec account at this "
                "address, but no active account uses it. If it was not you, ignore this "
                "message.\n",
            )
            return
        now = self.ctx.now()
        mailed = self.db.scalar(
            select(func.count())
            .select_from(PasswordRecovery)
            .where(
                PasswordRecovery.account_id == account.id,
                PasswordRecovery.created_at > now - timedelta(hours=1),
            )
        )
        if mailed is not None and mailed >= CODES_PER_HOUR:
            return  # the codes already mailed still work; the mailbox is not flooded
        # Only the newest code works: an earlier one, mailed or guessed at, is over.
        self._end_open(account.id, now)
        code = _new_code()
        self.db.add(
            PasswordRecovery(
                account_id=account.id,
                code_hash=_code_hash(code),
                created_at=now,
                expires_at=now + timedelta(minutes=CODE_MINUTES),
                failures=0,
            )
        )
        mail.send(
            account.email,
            "U-HealthSec: your password recovery code",
            f"Someone (you, we hope) asked on {now:%Y-%m-%d at %H:%M} UTC to recover the "
            f"password of your U-HealthSec account.\n\nRecovery code: {code}\n\nIt is "
            f"valid for {CODE_MINUTES} minutes and works once, together with your second "
            "factor and your 24 recovery words. If it was not you, ignore this message: "
            "nothing changes without all three.\n",
        )

    def purge(self) -> int:
        """Forget recoveries past the hour their count limits (``uhs-server cleanup``):
        every code and nonce in them has expired by then."""
        cutoff = self.ctx.now() - timedelta(hours=1)
        deleted = self.db.execute(
            delete(PasswordRecovery).where(
                PasswordRecovery.created_at < cutoff, PasswordRecovery.expires_at < cutoff
            )
        )
        return deleted.rowcount or 0  # type: ignore[attr-defined]

    def _end_open(self, account_id: uuid.UUID, now: datetime) -> None:
        self.db.execute(
            update(PasswordRecovery)
            .where(
                PasswordRecovery.account_id == account_id,
                PasswordRecovery.used_at.is_(None),
                PasswordRecovery.expires_at > now,
            )
            .values(expires_at=now)
        )

    def prove(
        self, email: str, code: str, factor: SecondFactor, attempt: Attempt | None = None
    ) -> RecoveryGrant:
        """The keystore's recovery slot and a nonce, for the mailed code and a second
        factor of the account. A wrong code is answered alike for any address."""
        address = normalize_email(email)
        shield = Shield(self.db, self.ctx)
        admission = shield.admit(attempt or Attempt("recover", address, None))
        now = self.ctx.now()
        account = self._active_account(address)
        row = None
        if account is not None:
            # Locked until commit: two guesses at once each see the other's failure.
            row = self.db.scalar(
                select(PasswordRecovery)
                .where(
                    PasswordRecovery.account_id == account.id,
                    PasswordRecovery.proven_at.is_(None),
                    PasswordRecovery.used_at.is_(None),
                    PasswordRecovery.expires_at > now,
                )
                .order_by(PasswordRecovery.created_at.desc())
                .limit(1)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        if (
            account is None
            or row is None
            or row.failures >= MAX_FAILURES
            or not hmac.compare_digest(row.code_hash, _code_hash(code))
        ):
            if row is not None:
                row.failures += 1
            shield.settle(admission, succeeded=False)
            raise CodeRefused(_BAD_CODE)
        # The factor is checked only with the right code, as at sign-in only with the
        # right password: someone who knows the address alone neither draws on the
        # account's factor budget nor burns its recovery codes.
        if FactorService(self.db, self.ctx).verify(account.id, factor) is None:
            row.failures += 1
            shield.settle(admission, succeeded=False)
            raise SecondFactorRefused(FACTOR_REFUSED)
        shield.settle(admission, succeeded=True)
        shield.clear(address)
        nonce = secrets.token_bytes(32)
        row.proven_at = now
        row.nonce_hash = token_hash(nonce.hex())
        row.expires_at = now + timedelta(minutes=NONCE_MINUTES)
        recovery_only = Keystore.decode(account.keystore).recovery_only()
        return RecoveryGrant(account.id, nonce, recovery_only.encode(), row.expires_at)

    def complete(
        self,
        account_id: uuid.UUID,
        nonce: bytes,
        keystore: bytes,
        auth_secret: bytes,
        signature: bytes,
    ) -> None:
        """Replace the password: the keystore re-sealed from the recovery slot, signed
        by the account's current key over the nonce of a proven code. A refusal writes
        nothing (the nonce stays usable until it expires)."""
        now = self.ctx.now()
        row = self.db.scalar(
            select(PasswordRecovery)
            .where(PasswordRecovery.nonce_hash == token_hash(nonce.hex()))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        account = self.db.get(Account, account_id)
        if (
            row is None
            or row.account_id != account_id
            or row.used_at is not None
            or row.expires_at <= now
            or account is None
            or account.status != AccountStatus.ACTIVE
        ):
            raise InvalidInput(_BAD_NONCE)
        accounts = AccountService(self.db, self.ctx)
        new = accounts.resealed_keystore(account, keystore)
        stored = Keystore.decode(account.keystore)
        if (new.recovery_nonce, new.recovery_sealed) != (
            stored.recovery_nonce,
            stored.recovery_sealed,
        ):
            # What the server can check of a keystore it cannot open: the recovery words
            # must still open it, and it must have a password slot.
            raise InvalidInput("the new keystore must keep the recovery slot it was given")
        if new.password_sealed == stored.recovery_only().password_sealed:
            raise InvalidInput("the new keystore has no password slot: seal it under a password")
        directory = KeyDirectory(self.db, self.ctx)
        current = directory.current_version(account.id)
        if current is None:
            raise InvalidInput("this account has no published keys yet")
        directory.check_signature(
            account,
            current.log_index,
            KeystoreRecovery(account.id, nonce, keystore, auth_secret),
            signature,
        )
        accounts.store_keystore(account, keystore, auth_secret)
        # A new password is a new authenticator: no run of wrong guesses holds it (R7).
        Unblocking(self.db, self.ctx).unblock_password(account)
        row.used_at = now
        self._end_open(account.id, now)
        draft = current_draft()
        draft.actor = account.id
        draft.note(ObjectKind.ACCOUNT, account.id)
        ended = SessionService(self.db, self.ctx).revoke_all(account.id, "password_recovered")
        MailOutbox(self.db, self.ctx).send(
            account.email,
            "U-HealthSec: your password was replaced",
            f"On {now:%Y-%m-%d at %H:%M} UTC, the password of your account was replaced "
            "with your recovery words, the code mailed to you and your second factor; "
            f"every device ({ended}) was signed out.\n\nIf it was not you, someone holds "
            "your recovery words, your mailbox and your second factor: contact your "
            "practice's administrator at once.\n",
        )
