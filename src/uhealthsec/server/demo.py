"""A demo practice for trying U-HealthSec on a laptop: two practitioners and a patient.

Only ``uhs-server serve --demo`` creates it. Its keys are made here by the server process, in
the way a client would make them, because the demo must work before anyone has a
client: these accounts are for trying the software, never for real patients.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from uhealthsec.crypto.keystore import create_keystore
from uhealthsec.server.accounts.models import (
    Account,
    AccountKind,
    AccountStatus,
    IdentityProof,
    Membership,
    Role,
)
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.auth.factors import FactorService
from uhealthsec.server.auth.models import TotpCredential
from uhealthsec.server.consent.information import InformationService
from uhealthsec.server.context import AppContext
from uhealthsec.server.incidents.anomalies.rules import PARIS
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.records.service import RecordsService

DEMO_PASSWORD = "demo practice password"  # noqa: S105 (public by design)
PRACTICE_NAME = "Cabinet de démonstration"


@dataclass(frozen=True)
class DemoPerson:
    email: str
    name: str
    kind: AccountKind
    role: Role
    rpps: str | None = None


PEOPLE = (
    DemoPerson(
        "dr.martin@demo.test",
        "Dr Claire Martin",
        AccountKind.PRACTITIONER,
        Role.ADMIN,
        "10000000009",
    ),
    DemoPerson("kine.durand@demo.test", "Paul Durand", AccountKind.PRACTITIONER, Role.PRACTITIONER),
    DemoPerson("camille.petit@demo.test", "Camille Petit", AccountKind.PATIENT, Role.PATIENT),
)


@dataclass(frozen=True)
class DemoAccount:
    email: str
    name: str
    totp_secret: str


def ensure_demo_practice(ctx: AppContext) -> list[DemoAccount]:
    """Create the demo practice once; on every call, return its accounts' TOTP secrets."""
    with ctx.sessions.begin() as db:
        founder = db.scalar(select(Account).where(Account.email == PEOPLE[0].email))
        if founder is None:
            accounts = AccountService(db, ctx)
            created: list[Account] = []
            for person in PEOPLE:
                new = create_keystore(DEMO_PASSWORD)
                public = new.keystore.public_keys
                account = Account(
                    email=person.email,
                    display_name=person.name,
                    kind=person.kind,
                    status=AccountStatus.ACTIVE,
                    declared_rpps=person.rpps,
                    password_hash=ctx.hasher.hash(new.auth_secret),
                    keystore=new.keystore.encode(),
                    public_keys=public.encode(),
                    key_fingerprint=public.fingerprint(),
                    created_at=ctx.now(),
                    email_verified_at=ctx.now(),
                )
                db.add(account)
                db.flush()
                KeyDirectory(db, ctx).publish(account)
                FactorService(db, ctx).totp_begin(account)
                credential = db.get(TotpCredential, account.id)
                assert credential is not None
                credential.confirmed_at = ctx.now()
                created.append(account)
            practice = accounts.create_practice(created[0], PRACTICE_NAME)
            for person, account in zip(PEOPLE[1:], created[1:], strict=True):
                db.add(
                    Membership(
                        practice_id=practice.id,
                        account_id=account.id,
                        role=person.role,
                        created_at=ctx.now(),
                        identity_verified_at=ctx.now(),
                    )
                )
            db.flush()
            # The demo's practitioners start verified, as the operator would make them.
            for account in created:
                if account.kind == AccountKind.PRACTITIONER:
                    accounts.mark_identity_verified(account, IdentityProof.OPERATOR)
            patient_file = RecordsService(db, ctx).open_patient_file(
                created[0], practice.id, PEOPLE[2].email
            )
            # Dr Martin gave Camille the practice's notice at her first care, so that the
            # demo's care team may share her file (R11).
            InformationService(db, ctx).record_in_person(
                created[0], patient_file.id, ctx.now().astimezone(PARIS).date(), None
            )
        result = []
        for person in PEOPLE:
            account = db.scalar(select(Account).where(Account.email == person.email))
            assert account is not None
            credential = db.get(TotpCredential, account.id)
            assert credential is not None
            secret = FactorService(db, ctx).totp_secret(credential)
            result.append(DemoAccount(person.email, person.name, secret))
        return result
