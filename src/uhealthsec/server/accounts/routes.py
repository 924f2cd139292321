"""HTTP layer of the accounts domain."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from uhealthsec.server.accounts import schemas as s
from uhealthsec.server.accounts.models import Account, AccountKind, Membership, Role
from uhealthsec.server.accounts.service import AccountService, RegistrationRequest
from uhealthsec.server.deps import REPLAYABLE, AnswerKeepingRoute, Caller, Ctx, Db
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.shield.http import SHIELD_RESPONSES, attempt_of

router = APIRouter(route_class=AnswerKeepingRoute, tags=["accounts"])

_CHECK_MAIL = (
    "Registration received. If the address can be used, a confirmation code was sent to it."
)


@router.post(
    "/accounts/registrations",
    status_code=202,
    response_model=s.AcceptedOut,
    responses=SHIELD_RESPONSES,
)
def register(body: s.RegistrationIn, request: Request, db: Db, ctx: Ctx) -> s.AcceptedOut:
    """Create an account with its keystore; the same answer whether or not the address
    is taken (its owner is told by mail)."""
    AccountService(db, ctx).register(
        RegistrationRequest(
            email=body.email,
            display_name=body.display_name,
            kind=AccountKind(body.kind),
            auth_secret=body.auth_secret,
            keystore=body.keystore,
            rpps=body.rpps,
            invitation=body.invitation,
            notice_version=body.notice_version,
            attempt=attempt_of(request, "register", body.email),
        )
    )
    return s.AcceptedOut(detail=_CHECK_MAIL)


@router.post("/accounts/email-verifications", status_code=204)
def verify_email(body: s.EmailVerificationIn, db: Db, ctx: Ctx) -> None:
    """Confirm the address with the mailed code and the registration's auth secret."""
    AccountService(db, ctx).verify_email(body.code, body.auth_secret)


@router.get("/accounts/me", response_model=s.AccountOut)
def me(caller: Caller) -> s.AccountOut:
    a = caller.account
    return s.AccountOut(
        id=a.id,
        email=a.email,
        display_name=a.display_name,
        kind=AccountKind(a.kind),
        rpps=a.rpps or a.declared_rpps,
        rpps_proven=a.rpps is not None,
        key_fingerprint=a.key_fingerprint.hex(),
        created_at=a.created_at,
    )


@router.get("/accounts/me/keystore", response_model=s.KeystoreOut)
def my_keystore(caller: Caller) -> s.KeystoreOut:
    """The sealed keystore, for a new device to unlock with the password."""
    return s.KeystoreOut(keystore=caller.account.keystore)


@router.post("/practices", status_code=201, response_model=s.PracticeOut, dependencies=[REPLAYABLE])
def create_practice(body: s.PracticeIn, caller: Caller, db: Db, ctx: Ctx) -> s.PracticeOut:
    practice = AccountService(db, ctx).create_practice(caller.account, body.name)
    return s.PracticeOut(
        id=practice.id, name=practice.name, role=Role.ADMIN, created_at=practice.created_at
    )


@router.get("/practices", response_model=list[s.PracticeOut])
def my_practices(caller: Caller, db: Db, ctx: Ctx) -> list[s.PracticeOut]:
    return [
        s.PracticeOut(id=p.id, name=p.name, role=Role(m.role), created_at=p.created_at)
        for p, m in AccountService(db, ctx).practices_of(caller.account.id)
    ]


@router.get("/practices/{practice_id}/members", response_model=list[s.MemberOut])
def members(practice_id: uuid.UUID, caller: Caller, db: Db, ctx: Ctx) -> list[s.MemberOut]:
    members = AccountService(db, ctx).members(caller.account, practice_id)
    for _, account in members:  # the list tells who is a patient here
        if account.kind == AccountKind.PATIENT:
            current_draft().about_patient(account.id, practice_id)
    return [_member_out(m, a) for m, a in members]


@router.post(
    "/practices/{practice_id}/invitations",
    status_code=201,
    response_model=s.InvitationOut,
    dependencies=[REPLAYABLE],
)
def invite(
    practice_id: uuid.UUID, body: s.InvitationIn, caller: Caller, db: Db, ctx: Ctx
) -> s.InvitationOut:
    """Invite someone by e-mail; the code travels only by mail."""
    invitation = AccountService(db, ctx).invite(
        caller.account, practice_id, body.email, Role(body.role)
    )
    return s.InvitationOut(
        email=invitation.email, role=Role(invitation.role), expires_at=invitation.expires_at
    )


@router.post(
    "/practices/invitations/accept", response_model=s.PracticeOut, dependencies=[REPLAYABLE]
)
def accept_invitation(
    body: s.InvitationAcceptIn, caller: Caller, db: Db, ctx: Ctx
) -> s.PracticeOut:
    """Join the practice; a patient's client names the version of the practice's
    information notice it showed them (POST /invitations/notice)."""
    member, practice = AccountService(db, ctx).accept_invitation(
        caller.account, body.code, body.notice_version
    )
    return s.PracticeOut(
        id=practice.id, name=practice.name, role=Role(member.role), created_at=practice.created_at
    )


@router.post(
    "/practices/{practice_id}/members/{account_id}/identity-verification",
    response_model=s.MemberOut,
)
def verify_identity(
    practice_id: uuid.UUID, account_id: uuid.UUID, caller: Caller, db: Db, ctx: Ctx
) -> s.MemberOut:
    """An admin vouches for a member's professional identity (practitioners without RPPS)."""
    member, account = AccountService(db, ctx).verify_member_identity(
        caller.account, practice_id, account_id
    )
    return _member_out(member, account)


def _member_out(member: Membership, account: Account) -> s.MemberOut:
    return s.MemberOut(
        account_id=account.id,
        email=account.email,
        display_name=account.display_name,
        kind=AccountKind(account.kind),
        role=Role(member.role),
        rpps=account.rpps or account.declared_rpps,
        rpps_proven=account.rpps is not None,
        identity_verified=account.identity_verified_at is not None,
    )
