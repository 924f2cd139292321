"""An authenticator blocked after 100 failures in a row, and the mailed link that
unblocks it (R7; NIST SP 800-63B 5.2.2: past the limit the owner uses another
authenticator or recovers the account). No HTTP here.

The password is counted by the shield (per address, registered or not alike), the
codes by the account's factor budget (factors.py). At the block the owner is mailed a
single-use link valid 24 hours; while the authenticator stays blocked, an attempt on
it mails a new link only once no link is valid and unused, so the mailbox is not
flooded. Replacing the password with the recovery words unblocks the password too.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from uhealthsec.crypto.journal import JournalEntry, ObjectKind, Outcome
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.audit.outbox import stage_entry
from uhealthsec.server.audit.writer import PendingEntry
from uhealthsec.server.auth.models import AuthenticatorUnblock, FactorBudget
from uhealthsec.server.context import AppContext, token_hash
from uhealthsec.server.errors import InvalidInput
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.mail.outbox import MailOutbox
from uhealthsec.server.shield.service import Shield

PASSWORD = "password"  # noqa: S105 (the authenticator's name, not a secret)
FACTORS = "factors"
LINK_HOURS = 24
BLOCK_ACTION = "auth.authenticator_blocked"
#: A link's token: 43 base64url characters; anything longer is not one.
MAX_TOKEN_LENGTH = 100

_WHAT = {
    PASSWORD: ("le mot de passe", "the password"),
    FACTORS: ("les codes de second facteur", "the second-factor codes"),
}
_BAD_LINK = "this unblocking link is not valid, was already used or has expired"


class Unblocking:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    def blocked(self, account: Account, authenticator: str, status: int) -> None:
        """``authenticator`` just reached its limit: journal it and mail the owner."""
        entry = JournalEntry(
            timestamp_ms=int(self.ctx.now().timestamp() * 1000),
            actor=account.id,
            action=BLOCK_ACTION,
            outcome=Outcome.REFUSED,
            status=status,
            objects=((ObjectKind.ACCOUNT, account.id),),
            client="uhs-server",
        )
        # Committed with the block, as a factor lock's entry is (factors.py).
        stage_entry(self.db, PendingEntry(entry), self.ctx.now())
        self.offer(account, authenticator)

    def offer(self, account: Account, authenticator: str) -> None:
        """Mail the owner a link to unblock ``authenticator``, unless a link they have
        not used yet is still valid (each further attempt would mail one otherwise). A
        used link does not count: blocked again by 100 more guesses, the owner gets a new
        one, which those guesses paid for."""
        now = self.ctx.now()
        recent = self.db.scalar(
            select(AuthenticatorUnblock.token_hash)
            .where(
                AuthenticatorUnblock.account_id == account.id,
                AuthenticatorUnblock.authenticator == authenticator,
                AuthenticatorUnblock.used_at.is_(None),
                AuthenticatorUnblock.expires_at > now,
            )
            .limit(1)
        )
        if recent is not None:
            return
        token = secrets.token_urlsafe(32)
        self.db.add(
            AuthenticatorUnblock(
                token_hash=token_hash(token),
                account_id=account.id,
                authenticator=authenticator,
                created_at=now,
                expires_at=now + timedelta(hours=LINK_HOURS),
            )
        )
        # In the fragment, which the browser keeps to itself: no server logs the token.
        link = f"{self.ctx.settings.issuer.rstrip('/')}/app/#/unblock?token={token}"
        fr, en = _WHAT[authenticator]
        MailOutbox(self.db, self.ctx).send(
            account.email,
            "U-HealthSec : accès bloqué / access blocked",
            f"Bonjour,\n\nAprès 100 essais erronés de suite, {fr} de votre compte "
            "U-HealthSec n'est plus vérifié. Si ces essais sont les vôtres, ou pour "
            f"reprendre la main, ouvrez ce lien (valable {LINK_HOURS} heures, une seule "
            f"fois) :\n\n{link}\n\nSi ce n'était pas vous, quelqu'un essaie d'entrer "
            "dans votre compte : après le déblocage, changez votre mot de passe.\n\n"
            "---\n\n"
            f"Hello,\n\nAfter 100 wrong attempts in a row, {en} of your U-HealthSec "
            "account is no longer checked. To unblock it, open this link (valid "
            f"{LINK_HOURS} hours, once):\n\n{link}\n\nIf it was not you, someone is "
            "trying to get into your account: once unblocked, change your password.\n",
        )

    def unblock(self, token: str) -> str:
        """Use the link of ``token``: its authenticator counts from zero again. Returns
        which authenticator it was."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidInput(_BAD_LINK)
        now = self.ctx.now()
        row = self.db.scalar(
            select(AuthenticatorUnblock)
            .where(AuthenticatorUnblock.token_hash == token_hash(token))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        account = None if row is None else self.db.get(Account, row.account_id)
        if row is None or row.used_at is not None or row.expires_at <= now or account is None:
            raise InvalidInput(_BAD_LINK)
        row.used_at = now
        if row.authenticator == PASSWORD:
            self.unblock_password(account)
        else:
            self.db.execute(
                update(FactorBudget)
                .where(FactorBudget.account_id == account.id)
                .values(failures=0, locks=0, locked_until=None)
            )
        draft = current_draft()
        draft.actor = account.id
        draft.note(ObjectKind.ACCOUNT, account.id)
        return row.authenticator

    def unblock_password(self, account: Account) -> None:
        """The password counts from zero again (a link used, or the password replaced)."""
        Shield(self.db, self.ctx).unblock_password(account.email)
