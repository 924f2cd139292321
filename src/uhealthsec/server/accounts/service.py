"""Registration, e-mail confirmation, practices, roles and invitations. No HTTP here."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from uhealthsec.crypto.directory import DirectoryEntry
from uhealthsec.crypto.errors import CryptoError
from uhealthsec.crypto.keystore import Keystore
from uhealthsec.crypto.keystore_change import KeystoreChange
from uhealthsec.server.accounts.interfaces import KeyPublication, PatientInforming
from uhealthsec.server.accounts.models import (
    Account,
    AccountKind,
    AccountStatus,
    EmailVerification,
    IdentityProof,
    Invitation,
    Membership,
    Practice,
    Role,
    may_act_on_health_data,
)
from uhealthsec.server.accounts.rpps import is_valid_rpps
from uhealthsec.server.addresses import normalize_email
from uhealthsec.server.context import AppContext, token_hash
from uhealthsec.server.errors import Conflict, Forbidden, InvalidInput, NotFound
from uhealthsec.server.mail.outbox import MailOutbox
from uhealthsec.server.shield.service import Attempt, Shield

VERIFICATION_HOURS = 24
INVITATION_DAYS = 14

#: What each role may do in its practice (R10). Secretaries organise; they never read
#: clinical content unless a document is shared with them.
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset(
        {
            "members.read",
            "members.invite",
            "members.verify",
            "members.remove",
            "records.read",
            "journal.read",
            "studies.manage",
            "notice.publish",
        }
    ),
    Role.PRACTITIONER: frozenset({"members.read", "records.read", "studies.manage"}),
    Role.SECRETARY: frozenset({"members.read"}),
    Role.PATIENT: frozenset(),
}
#: The permissions that read the practice's patients' data: ``require`` grants them only
#: to an account that may act on health data, whatever the route that asks.
HEALTH_DATA_PERMISSIONS = frozenset({"records.read", "journal.read"})


_UNVERIFIED = (
    "your professional identity is not verified yet, so this account cannot act on health "
    "data: link your e-CPS, or ask a verified admin of your practice (or, without e-CPS, "
    "the server's operator) to vouch for you"
)


def check_may_act_on_health_data(account: Account) -> None:
    """The one rule every health-data entry point applies (server/deps.py)."""
    if not may_act_on_health_data(account):
        raise Forbidden(_UNVERIFIED)


@dataclass(frozen=True)
class RegistrationRequest:
    email: str
    display_name: str
    kind: AccountKind
    auth_secret: bytes
    keystore: bytes
    rpps: str | None = None
    invitation: str | None = None
    #: With a patient invitation: the notice version the client showed (R11).
    notice_version: int | None = None
    #: What the shield sees of the request (none for registrations made by the server).
    attempt: Attempt | None = None


#: An address whose account was deleted stays bound to it in the key directory's
#: log, which cannot be rewritten: a second account there would make a reader who
#: checked the first one's keys receive a stranger's (docs/PROTOCOL.md, 10).
RETIRED_ADDRESS = (
    "this address belonged to an account that was deleted; it cannot hold a new account: "
    "use another address"
)
RETIRED_ADDRESS_MAIL = (
    "Your registration could not be completed: this address belonged to a U-HealthSec "
    "account that was deleted, and the key directory, which can never be rewritten, still "
    "binds it to that account. Register with another address.\n"
)


class AccountService:
    def __init__(self, db: Session, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    # -- registration ---------------------------------------------------------------------

    def register(self, request: RegistrationRequest) -> None:
        """Create a pending account and mail a confirmation code.

        The answer is the same whether or not the address or the RPPS number is already
        taken: the owner of an existing address is told by mail instead (no
        enumeration). A registration of an address that is still pending replaces the
        earlier one, so the code in the newest mail confirms the registration that the
        reader of the mailbox made, never one an intruder made before them.
        """
        address = normalize_email(request.email)
        shield = Shield(self.db, self.ctx)
        admission = shield.admit(request.attempt or Attempt("register", address, None))
        try:
            keystore = Keystore.decode(request.keystore)
        except CryptoError as exc:
            raise InvalidInput(
                "the keystore is malformed; create it with a U-HealthSec client"
            ) from exc
        if keystore.former is not None:
            raise InvalidInput("a new account's keystore holds no former keys (version 1)")
        if request.rpps is not None:
            if request.kind != AccountKind.PRACTITIONER:
                raise InvalidInput("only practitioners have an RPPS number")
            if not is_valid_rpps(request.rpps):
                raise InvalidInput("the RPPS number must be 11 digits with a valid check digit")

        invitation = self.open_invitation(request.invitation) if request.invitation else None
        if invitation is not None and invitation.email != address:
            raise Forbidden("this invitation was sent to another address")

        shield.consume(admission)  # every path below hashes and sends mail
        existing = self.db.scalar(select(Account).where(Account.email == address))
        replaced = None
        invited = (
            existing if existing is not None and existing.status == AccountStatus.INVITED else None
        )
        if invited is not None:
            if invitation is None or request.kind != AccountKind.PATIENT:
                self._refuse_by_mail(
                    address,
                    "Your registration could not be completed: a practice invited you as "
                    "a patient and keeps your file, so register as a patient with the link "
                    "of its invitation mail.\n",
                )
                return
        elif existing is not None and existing.status == AccountStatus.PENDING:
            replaced = existing.created_at
            self._forget_pending(existing)
        elif existing is not None:
            self._refuse_by_mail(
                address,
                "Someone tried to create a U-HealthSec account with this address, which "
                "already has one.\nIf it was you, sign in instead. If not, you can ignore "
                "this message: nothing was changed.\n",
            )
            return
        if existing is None and self.ctx.find(KeyPublication, self.db).address_retired(address):
            self._refuse_by_mail(address, RETIRED_ADDRESS_MAIL)
            return
        if request.rpps is not None and self._rpps_holder(request.rpps) is not None:
            self._refuse_by_mail(
                address,
                "Your registration could not be completed: the RPPS number you gave is "
                "already linked to a U-HealthSec account, which proved it with e-CPS.\nIf "
                "it is yours, contact the administrator of your practice or the operator "
                "of this server.\n",
            )
            return

        public = keystore.public_keys
        # An invited patient's row is filled in, not replaced: the file opened for them
        # before they registered is theirs (only by invitation, which proves the address).
        account = invited if invited is not None else Account(email=address)
        account.display_name = request.display_name.strip()
        account.kind = request.kind
        account.status = AccountStatus.PENDING
        account.declared_rpps = request.rpps
        account.password_hash = self.ctx.hasher.hash(request.auth_secret)
        account.keystore = request.keystore
        account.public_keys = public.encode()
        account.key_fingerprint = public.fingerprint()
        account.created_at = self.ctx.now()
        self.db.add(account)
        self.db.flush()
        if invitation is not None:
            # The invitation reached this mailbox, which proves the address.
            account.status = AccountStatus.ACTIVE
            account.email_verified_at = self.ctx.now()
            self.ctx.find(KeyPublication, self.db).publish(account)
            self._join(invitation, account, request.notice_version)
            return
        code = secrets.token_urlsafe(24)
        self.db.add(
            EmailVerification(
                token_hash=token_hash(code),
                account_id=account.id,
                expires_at=self.ctx.now() + timedelta(hours=VERIFICATION_HOURS),
            )
        )
        made = f"{account.created_at:%Y-%m-%d at %H:%M} UTC"
        earlier = (
            f"It replaces an earlier registration of this address, made on "
            f"{replaced:%Y-%m-%d at %H:%M} UTC and never confirmed: that one's code no "
            "longer works.\n"
            if replaced is not None
            else ""
        )
        MailOutbox(self.db, self.ctx).send(
            address,
            "U-HealthSec: confirm your address",
            f"Welcome to U-HealthSec.\n\nYour confirmation code: {code}\n\n"
            f"It confirms the registration made on {made}, together with the password "
            f"chosen then, and is valid for {VERIFICATION_HOURS} hours. If you did not "
            "make that registration, ignore this message, or register again to "
            f"replace it.\n{earlier}",
        )

    def _forget_pending(self, account: Account) -> None:
        """An unconfirmed registration, dropped: its address and RPPS become free."""
        self.db.execute(delete(EmailVerification).where(EmailVerification.account_id == account.id))
        self.db.delete(account)
        self.db.flush()

    def _rpps_holder(self, rpps: str) -> Account | None:
        """The account that proved ``rpps`` with e-CPS, if any. A number only declared
        is held by no one: RPPS numbers are public, so a declaration claims nothing."""
        return self.db.scalar(select(Account).where(Account.rpps == rpps))

    def prove_rpps(self, account: Account, rpps: str) -> None:
        """Record ``rpps`` as proven with e-CPS by ``account``. It is taken from every
        account that only declared it (each is told by mail); an account that proved it
        already keeps it."""
        if account.rpps == rpps:
            return
        if account.rpps is not None:
            raise Conflict("your account has already proven another RPPS number")
        if self._rpps_holder(rpps) is not None:
            raise Conflict("the RPPS number proven by the provider belongs to another account")
        declarers = self.db.scalars(
            select(Account).where(Account.declared_rpps == rpps, Account.id != account.id)
        )
        for declarer in declarers:
            declarer.declared_rpps = None
            MailOutbox(self.db, self.ctx).send(
                declarer.email,
                "U-HealthSec: the RPPS number of your account was removed",
                f"The RPPS number {rpps}, which your account declared, was proven with "
                "e-CPS by the practitioner it belongs to, so it was removed from your "
                "account.\nIf the number is yours, link your e-CPS from your account "
                "settings and contact the operator of this server.\n",
            )
        account.rpps = rpps
        account.declared_rpps = None
        self.db.flush()

    def _expired(self, account: Account) -> bool:
        return account.created_at + timedelta(hours=VERIFICATION_HOURS) <= self.ctx.now()

    def _refuse_by_mail(self, address: str, body: str) -> None:
        """Refuse as if accepted: the answer and its cost are those of a registration;
        only the mailbox learns why."""
        self.ctx.hasher.burn()  # same cost as the path that hashes
        MailOutbox(self.db, self.ctx).send(address, "U-HealthSec: registration not completed", body)

    def verify_email(self, code: str, auth_secret: bytes) -> None:
        """Activate the registration the code was mailed for, if the caller also holds
        its password: the code proves the mailbox, the password the registration, so
        the account activated is the one the reader of the mailbox made."""
        # Locked until commit: a code used twice at once activates (and publishes) once.
        row = self.db.get(
            EmailVerification, token_hash(code), with_for_update=True, populate_existing=True
        )
        if row is None or row.used_at is not None or row.expires_at <= self.ctx.now():
            raise InvalidInput("this confirmation code is not valid or has expired")
        account = self.db.get(Account, row.account_id)
        if account is None or (account.status == AccountStatus.PENDING and self._expired(account)):
            raise InvalidInput("this confirmation code is not valid or has expired")
        if not self.ctx.hasher.verify(account.password_hash, auth_secret):
            raise InvalidInput(
                "this code confirms a registration made with another password: if you did "
                "not make it, register again (that replaces it) and use the new code"
            )
        row.used_at = self.ctx.now()
        if account.status == AccountStatus.PENDING:
            account.status = AccountStatus.ACTIVE
            account.email_verified_at = self.ctx.now()
            # Keys are published once the address is proven: the directory binds them to it.
            self.ctx.find(KeyPublication, self.db).publish(account)

    def replace_keystore(
        self, account: Account, keystore: bytes, auth_secret: bytes, signature: bytes
    ) -> None:
        """Password change: a keystore re-sealed by the client, with the same keys, and
        the change signed with the signing key the directory publishes for the account.

        A stolen session can read the sealed keystore but not open it: without the
        signature it could store the owner's public keys over private slots of its own
        making, take the account and leave the owner's keys unreachable."""
        new = self.resealed_keystore(account, keystore)
        change = KeystoreChange(account.id, account.keystore, keystore, auth_secret)
        try:
            change.verify(new.public_keys.signing, signature)
        except CryptoError as exc:
            raise InvalidInput(
                "the password change is not signed with your current signing key: "
                "unlock your keystore with your current password (or recovery key) and sign it"
            ) from exc
        self.store_keystore(account, keystore, auth_secret)

    def resealed_keystore(self, account: Account, keystore: bytes) -> Keystore:
        """``keystore`` decoded, if it holds the keys the directory publishes for the
        account now: a password is replaced, never the keys."""
        try:
            new = Keystore.decode(keystore)
        except CryptoError as exc:
            raise InvalidInput("the keystore is malformed") from exc
        published = self.ctx.find(KeyPublication, self.db).current_version(account.id)
        if published is None:
            raise Forbidden("this account has no published keys yet")
        bundle = DirectoryEntry.decode(published.entry).bundle
        if new.public_keys.encode() != bundle or bundle != account.public_keys:
            raise InvalidInput("the new keystore holds other keys; key rotation is a separate step")
        if new.former != Keystore.decode(account.keystore).former:
            # Their key derives from the keys, not the password: a re-sealing copies them.
            raise InvalidInput(
                "the new keystore must keep the former keys of the current one, which open "
                "what was sent to you before your keys were replaced"
            )
        return new

    def store_keystore(self, account: Account, keystore: bytes, auth_secret: bytes) -> None:
        """The new keystore and the hash of the secret its password yields."""
        account.keystore = keystore
        account.password_hash = self.ctx.hasher.hash(auth_secret)

    # -- practices ------------------------------------------------------------------------

    def create_practice(self, founder: Account, name: str) -> Practice:
        if founder.kind != AccountKind.PRACTITIONER:
            raise Forbidden("only practitioners can create a practice")
        practice = Practice(name=name.strip(), created_at=self.ctx.now())
        self.db.add(practice)
        self.db.flush()
        self.db.add(
            Membership(
                practice_id=practice.id,
                account_id=founder.id,
                role=Role.ADMIN,
                created_at=self.ctx.now(),
            )
        )
        return practice

    def membership(self, account_id: uuid.UUID, practice_id: uuid.UUID) -> Membership | None:
        return self.db.scalar(
            select(Membership).where(
                Membership.account_id == account_id, Membership.practice_id == practice_id
            )
        )

    def is_admin(self, account_id: uuid.UUID, practice_id: uuid.UUID) -> bool:
        member = self.membership(account_id, practice_id)
        return member is not None and member.role == Role.ADMIN

    def require(self, account: Account, practice_id: uuid.UUID, permission: str) -> Membership:
        member = self.membership(account.id, practice_id)
        if member is None:
            # Same answer as a missing practice: members only learn of their practices.
            raise NotFound("no such practice")
        if permission not in PERMISSIONS[Role(member.role)]:
            raise Forbidden(f"your role in this practice ({member.role}) does not allow this")
        if permission in HEALTH_DATA_PERMISSIONS:
            check_may_act_on_health_data(account)
        return member

    def allows(self, account: Account, practice_id: uuid.UUID, permission: str) -> bool:
        """Whether ``require`` would grant the permission (for rules that refuse as
        "not found")."""
        try:
            self.require(account, practice_id, permission)
        except (NotFound, Forbidden):
            return False
        return True

    def patient_practices(self, patient_id: uuid.UUID) -> set[uuid.UUID]:
        """The practices that may reach this patient: those whose invitation the patient
        accepted (a patient membership)."""
        return set(
            self.db.scalars(
                select(Membership.practice_id).where(
                    Membership.account_id == patient_id, Membership.role == Role.PATIENT
                )
            )
        )

    def practices_of(self, account_id: uuid.UUID) -> list[tuple[Practice, Membership]]:
        rows = self.db.execute(
            select(Practice, Membership)
            .join(Membership, Membership.practice_id == Practice.id)
            .where(Membership.account_id == account_id)
            .order_by(Practice.name)
        ).all()
        return [(p, m) for p, m in rows]

    def members(self, viewer: Account, practice_id: uuid.UUID) -> list[tuple[Membership, Account]]:
        """The practice's members (members.read). Who is a patient here is health data:
        an account that may not act on it sees the staff only."""
        self.require(viewer, practice_id, "members.read")
        query = (
            select(Membership, Account)
            .join(Account, Account.id == Membership.account_id)
            .where(Membership.practice_id == practice_id)
            .order_by(Account.display_name)
        )
        if not may_act_on_health_data(viewer):
            query = query.where(Membership.role != Role.PATIENT)
        return [(m, a) for m, a in self.db.execute(query).all()]

    def invite(self, admin: Account, practice_id: uuid.UUID, email: str, role: Role) -> Invitation:
        """Record an invitation and mail its code; the code exists only in that mail."""
        self.require(admin, practice_id, "members.invite")
        if role == Role.PATIENT:
            # Accepting makes the patient reachable by the practice: only a verified
            # practitioner may ask for that.
            check_may_act_on_health_data(admin)
        address = normalize_email(email)
        code = secrets.token_urlsafe(24)
        invitation = Invitation(
            id=uuid.uuid4(),
            practice_id=practice_id,
            email=address,
            role=role,
            token_hash=token_hash(code),
            invited_by=admin.id,
            created_at=self.ctx.now(),
            expires_at=self.ctx.now() + timedelta(days=INVITATION_DAYS),
        )
        if self.ctx.find(KeyPublication, self.db).address_retired(address):
            # The address of a deleted account (R17): nothing is stored nor mailed to the
            # person who left, and the answer is the same as for any address, so that an
            # invitation does not tell who deleted an account here.
            return invitation
        self.db.add(invitation)
        practice = self.db.get(Practice, practice_id)
        assert practice is not None
        MailOutbox(self.db, self.ctx).send(
            address,
            f"U-HealthSec: invitation from {practice.name}",
            f"{admin.display_name} invites you to join {practice.name} on U-HealthSec as "
            f"{role.value}.\n\nInvitation code: {code}\n\nUse it when you register, or accept "
            f"it from your account if you already have one. It is valid {INVITATION_DAYS} days.\n"
            f"\nIn a browser, follow this link to register or join:\n"
            f"{self._join_link(code, address, role)}\n",
        )
        return invitation

    def open_patient_invitations(
        self, caller: Account, practice_id: uuid.UUID, email: str | None = None
    ) -> list[Invitation]:
        """The practice's patient invitations not yet accepted nor expired, newest first
        (of one address when given): whom a practitioner may open a file for before they
        register. Who is invited as a patient is health data (records.read)."""
        self.require(caller, practice_id, "records.read")
        query = select(Invitation).where(
            Invitation.practice_id == practice_id,
            Invitation.role == Role.PATIENT,
            Invitation.accepted_at.is_(None),
            Invitation.expires_at > self.ctx.now(),
        )
        if email is not None:
            query = query.where(Invitation.email == normalize_email(email))
        return list(self.db.scalars(query.order_by(Invitation.created_at.desc()).limit(200)))

    def invited_patient(self, invitation: Invitation) -> Account:
        """The account of an invited patient who has none yet: an address only, which
        their registration by invitation fills in (AccountStatus.INVITED)."""
        existing = self.db.scalar(select(Account).where(Account.email == invitation.email))
        if existing is not None:
            return existing
        if self.ctx.find(KeyPublication, self.db).address_retired(invitation.email):
            raise Conflict(RETIRED_ADDRESS)
        account = Account(
            email=invitation.email,
            display_name=invitation.email,
            kind=AccountKind.PATIENT,
            status=AccountStatus.INVITED,
            # Nothing to sign in with, nothing to encrypt to: no password, no keys.
            password_hash="",
            keystore=b"",
            public_keys=b"",
            key_fingerprint=b"",
            created_at=self.ctx.now(),
        )
        self.db.add(account)
        self.db.flush()
        return account

    def _join_link(self, code: str, address: str, role: Role) -> str:
        """The web application's join screen for this invitation. Everything is in the
        fragment, which the browser keeps to itself: the code reaches no server's log."""
        query = urlencode({"code": code, "email": address, "role": role.value})
        return f"{self.ctx.settings.issuer.rstrip('/')}/app/#/join?{query}"

    def open_invitation(self, code: str, *, lock: bool = False) -> Invitation:
        """The invitation of ``code`` if it can still be accepted; ``lock`` holds its row
        until commit, so that of two acceptances at once the second finds it accepted."""
        query = select(Invitation).where(Invitation.token_hash == token_hash(code))
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        row = self.db.scalar(query)
        if row is None or row.accepted_at is not None or row.expires_at <= self.ctx.now():
            raise InvalidInput("this invitation is not valid or has expired")
        return row

    def _join(
        self, invitation: Invitation, account: Account, notice_version: int | None = None
    ) -> Membership:
        """``notice_version``: the version of the practice's information notice the
        patient's client showed; the patient is then recorded as informed (R11)."""
        role = Role(invitation.role)
        if role == Role.PATIENT and account.kind != AccountKind.PATIENT:
            raise Forbidden("this invitation is for a patient account")
        if role != Role.PATIENT and account.kind == AccountKind.PATIENT:
            raise Forbidden("this invitation is for a member of the practice's staff")
        if self.membership(account.id, invitation.practice_id) is not None:
            raise Conflict("you are already a member of this practice")
        invitation.accepted_at = self.ctx.now()
        member = Membership(
            practice_id=invitation.practice_id,
            account_id=account.id,
            role=role,
            created_at=self.ctx.now(),
        )
        self.db.add(member)
        if notice_version is not None:
            if role != Role.PATIENT:
                raise InvalidInput("only a patient's invitation comes with the information notice")
            self.db.flush()
            self.ctx.find(PatientInforming, self.db).informed_at_joining(
                account, invitation.practice_id, notice_version
            )
        return member

    def accept_invitation(
        self, account: Account, code: str, notice_version: int | None = None
    ) -> tuple[Membership, Practice]:
        invitation = self.open_invitation(code, lock=True)
        if invitation.email != account.email:
            raise Forbidden("this invitation was sent to another address")
        member = self._join(invitation, account, notice_version)
        practice = self.db.get(Practice, invitation.practice_id)
        assert practice is not None
        return member, practice

    def verify_member_identity(
        self, admin: Account, practice_id: uuid.UUID, account_id: uuid.UUID
    ) -> tuple[Membership, Account]:
        """A verified admin vouches for a member of the practice's staff (e.g. a
        naturopath, who has no RPPS number to prove with e-CPS)."""
        self.require(admin, practice_id, "members.verify")
        check_may_act_on_health_data(admin)  # only a verified admin's word counts
        member = self.membership(account_id, practice_id)
        account = self.db.get(Account, account_id)
        if member is None or account is None:
            raise NotFound("no such member")
        if account.kind != AccountKind.PRACTITIONER or Role(member.role) == Role.PATIENT:
            raise Forbidden("only a practitioner has a professional identity to verify")
        member.identity_verified_at = self.ctx.now()
        member.identity_verified_by = admin.id
        self.mark_identity_verified(account, IdentityProof.PRACTICE_ADMIN, by=admin)
        return member, account

    def verify_practitioner_by_operator(self, email: str) -> Account:
        """The server's operator vouches for a practitioner (``uhs-server verify-practitioner``):
        only where no e-CPS provider is configured, since e-CPS is then the proof."""
        if self.ctx.settings.oidc_issuer:
            raise Forbidden(
                "an e-CPS provider is configured: practitioners prove their RPPS number "
                "with it, or a verified admin of their practice vouches for them"
            )
        account = self.db.scalar(select(Account).where(Account.email == normalize_email(email)))
        if (
            account is None
            or account.kind != AccountKind.PRACTITIONER
            or account.status != AccountStatus.ACTIVE
        ):
            raise NotFound("no active practitioner account uses this address")
        self.mark_identity_verified(account, IdentityProof.OPERATOR)
        return account

    def mark_identity_verified(
        self, account: Account, proof: IdentityProof, by: Account | None = None
    ) -> None:
        """Record a proof of a practitioner's identity. The first one counts; e-CPS, the
        strongest, replaces a vouching."""
        if account.identity_verified_at is not None and (
            proof != IdentityProof.E_CPS or account.identity_proof == IdentityProof.E_CPS
        ):
            return
        account.identity_verified_at = self.ctx.now()
        account.identity_proof = proof
        account.identity_verified_by = by.id if by is not None else None
