"""HTTP layer of the authentication domain: translates requests into service calls."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Form, Request, Response

from uhealthsec.crypto.journal import ObjectKind
from uhealthsec.protocol.oauth import AUDIENCE
from uhealthsec.server.accounts.schemas import PasswordChangeIn
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.auth import schemas as s
from uhealthsec.server.auth.factor_changes import FactorChanges
from uhealthsec.server.auth.factors import STEP_UP_CHALLENGE, FactorService
from uhealthsec.server.auth.http import NO_STORE, form_request, oauth_response
from uhealthsec.server.auth.interfaces import FormerKeyCopies
from uhealthsec.server.auth.oauth import GrantUser, OAuthServer
from uhealthsec.server.auth.recovery import PasswordRecoveries
from uhealthsec.server.auth.service import LoginService, SessionService
from uhealthsec.server.auth.unblocking import Unblocking
from uhealthsec.server.deps import Caller, Ctx, Db
from uhealthsec.server.idempotency.service import forget_account_answers
from uhealthsec.server.journaling.draft import current_draft
from uhealthsec.server.keys import schemas as keys_schemas
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.shield.http import SHIELD_RESPONSES, attempt_of

router = APIRouter(prefix="/auth", tags=["authentication"])
oauth_router = APIRouter(tags=["oauth"])
#: An account's credentials, under /accounts: the rules are authentication's (a recent
#: second factor, other sessions ended), the keystore is the account's.
credentials_router = APIRouter(tags=["accounts"])

# -- sign-in ------------------------------------------------------------------------------


@router.post("/prelogin", response_model=s.PreloginOut)
def prelogin(body: s.PreloginIn, db: Db, ctx: Ctx) -> s.PreloginOut:
    """Argon2id parameters for the client to derive its secrets from the password."""
    return s.PreloginOut(argon2_params=LoginService(db, ctx).prelogin(body.email))


@router.post("/login", response_model=s.LoginOut, responses=SHIELD_RESPONSES)
def login(body: s.LoginIn, request: Request, db: Db, ctx: Ctx) -> s.LoginOut:
    """Check the password-derived secret; a second factor must follow. Under attack or
    after failures the shield first asks for a proof of work (429)."""
    started = LoginService(db, ctx).start(
        body.email,
        body.auth_secret,
        attempt_of(request, "login", body.email),
        body.second_factor.proof() if body.second_factor else None,
    )
    return s.LoginOut(
        ticket=started.ticket,
        expires_at=started.expires_at,
        methods=started.methods,
        enrolment_required=started.enrolment_required,
        complete=started.complete,
    )


@router.post("/login/passkey-options", responses=SHIELD_RESPONSES)
def login_passkey_options(body: s.PreloginIn, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    """Options for navigator.credentials.get() to sign in with a passkey sent along
    with the password (``second_factor.webauthn`` at /auth/login): how passkeys sign
    in while the shield asks for the factor first. Unknown addresses get a decoy."""
    return LoginService(db, ctx).passkey_options(
        body.email, attempt_of(request, "passkey", body.email)
    )


@router.post("/login/second-factor", response_model=s.LoginStepOut, responses=SHIELD_RESPONSES)
def login_second_factor(
    body: s.LoginSecondFactorIn, request: Request, db: Db, ctx: Ctx
) -> s.LoginStepOut:
    """The second factor of a sign-in; after failures the shield first asks for a proof
    of work (429)."""
    LoginService(db, ctx).prove_second_factor(
        body.ticket, body.proof(), attempt_of(request, "second-factor", None)
    )
    return s.LoginStepOut(complete=True)


@router.post("/login/webauthn-options")
def login_webauthn_options(body: s.TicketIn, db: Db, ctx: Ctx) -> dict[str, Any]:
    """Options for navigator.credentials.get() to sign in with a passkey."""
    service = LoginService(db, ctx)
    _, account = service.flow(body.ticket)
    return service.factors.webauthn_authentication_options(account.id)


@router.post("/login/enrol/totp", response_model=s.TotpEnrolmentOut)
def login_enrol_totp(body: s.TicketIn, db: Db, ctx: Ctx) -> s.TotpEnrolmentOut:
    """First second factor of a new account: an authenticator app (QR code)."""
    service = LoginService(db, ctx)
    _, account = service.enrolling_flow(body.ticket)
    e = service.factors.totp_begin(account)
    return s.TotpEnrolmentOut(secret=e.secret, otpauth_uri=e.uri, qr_svg=e.qr_svg)


@router.post("/login/enrol/totp/confirm", response_model=s.RecoveryCodesOut)
def login_enrol_totp_confirm(body: s.LoginTotpConfirmIn, db: Db, ctx: Ctx) -> s.RecoveryCodesOut:
    codes = LoginService(db, ctx).confirm_totp_enrolment(body.ticket, body.code)
    return s.RecoveryCodesOut(recovery_codes=codes)


@router.post("/login/enrol/webauthn-options")
def login_enrol_webauthn_options(body: s.TicketIn, db: Db, ctx: Ctx) -> dict[str, Any]:
    """Options for navigator.credentials.create() to register a first passkey."""
    service = LoginService(db, ctx)
    _, account = service.enrolling_flow(body.ticket)
    return service.factors.webauthn_registration_options(account)


@router.post("/login/enrol/webauthn", response_model=s.RecoveryCodesOut)
def login_enrol_webauthn(body: s.LoginWebAuthnRegisterIn, db: Db, ctx: Ctx) -> s.RecoveryCodesOut:
    codes = LoginService(db, ctx).confirm_webauthn_enrolment(
        body.ticket, body.credential, body.name
    )
    return s.RecoveryCodesOut(recovery_codes=codes)


@router.post("/unblock", response_model=s.UnblockOut)
def unblock_authenticator(body: s.UnblockIn, db: Db, ctx: Ctx) -> s.UnblockOut:
    """Follow the link mailed when 100 failures in a row blocked the password or the
    codes: it works once, for 24 hours."""
    return s.UnblockOut(unblocked=Unblocking(db, ctx).unblock(body.token))


# -- signed in ----------------------------------------------------------------------------


@router.post("/step-up/webauthn-options")
def step_up_webauthn_options(caller: Caller, db: Db, ctx: Ctx) -> dict[str, Any]:
    return FactorService(db, ctx).webauthn_authentication_options(
        caller.account.id, STEP_UP_CHALLENGE
    )


@router.post("/step-up", response_model=s.AccessTokenOut, responses=SHIELD_RESPONSES)
def step_up(
    body: s.SecondFactorIn,
    request: Request,
    caller: Caller,
    db: Db,
    ctx: Ctx,
    response: Response,
) -> s.AccessTokenOut:
    """Prove a second factor again; the new access token allows sensitive actions.
    After failures the shield first asks for a proof of work (429)."""
    token, claims = SessionService(db, ctx).step_up(
        caller, body.proof(), attempt_of(request, "step-up", caller.account.email)
    )
    response.headers.update(NO_STORE)
    return s.AccessTokenOut(
        access_token=token,
        expires_in=int((claims.expires_at - claims.issued_at).total_seconds()),
    )


@router.get("/factors", response_model=list[s.FactorOut])
def list_factors(caller: Caller, db: Db, ctx: Ctx) -> list[s.FactorOut]:
    return [s.FactorOut(**vars(f)) for f in FactorService(db, ctx).list(caller.account.id)]


@router.post("/factors/totp", response_model=s.TotpEnrolmentOut)
def add_totp(caller: Caller, db: Db, ctx: Ctx) -> s.TotpEnrolmentOut:
    SessionService(db, ctx).require_recent_mfa(caller)
    e = FactorService(db, ctx).totp_begin(caller.account)
    return s.TotpEnrolmentOut(secret=e.secret, otpauth_uri=e.uri, qr_svg=e.qr_svg)


@router.post("/factors/change-nonce", response_model=s.FactorChangeNonceOut)
def factor_change_nonce(caller: Caller, db: Db, ctx: Ctx) -> s.FactorChangeNonceOut:
    """A single-use nonce to sign the next change of this account's factors."""
    return s.FactorChangeNonceOut(nonce=FactorChanges(db, ctx).nonce(caller))


@router.post("/factors/totp/confirm", status_code=204)
def confirm_totp(body: s.SignedTotpConfirmIn, caller: Caller, db: Db, ctx: Ctx) -> None:
    """Add the authenticator app being enrolled: signed by the owner's key (16.4); other
    devices are signed out and the owner is told by mail."""
    FactorChanges(db, ctx).confirm_totp(caller, body.code, body.change.nonce, body.change.signature)


@router.delete("/factors/totp", status_code=204)
def remove_totp(body: s.FactorChangeIn, caller: Caller, db: Db, ctx: Ctx) -> None:
    FactorChanges(db, ctx).remove_totp(caller, body.nonce, body.signature)


@router.post("/factors/webauthn-options")
def add_webauthn_options(caller: Caller, db: Db, ctx: Ctx) -> dict[str, Any]:
    SessionService(db, ctx).require_recent_mfa(caller)
    return FactorService(db, ctx).webauthn_registration_options(caller.account)


@router.post("/factors/webauthn", status_code=204)
def add_webauthn(body: s.SignedWebAuthnRegisterIn, caller: Caller, db: Db, ctx: Ctx) -> None:
    FactorChanges(db, ctx).add_passkey(
        caller, body.credential, body.name, body.change.nonce, body.change.signature
    )


@router.delete("/factors/webauthn/{key_id}", status_code=204)
def remove_webauthn(
    key_id: uuid.UUID, body: s.FactorChangeIn, caller: Caller, db: Db, ctx: Ctx
) -> None:
    FactorChanges(db, ctx).remove_passkey(caller, key_id, body.nonce, body.signature)


@router.post("/recovery-codes", response_model=s.RecoveryCodesOut)
def new_recovery_codes(
    body: s.FactorChangeIn, caller: Caller, db: Db, ctx: Ctx
) -> s.RecoveryCodesOut:
    """Replace all recovery codes (the old ones stop working); other devices are signed
    out and the owner is told by mail."""
    codes = FactorChanges(db, ctx).renew_recovery_codes(caller, body.nonce, body.signature)
    return s.RecoveryCodesOut(recovery_codes=codes)


@router.get("/sessions", response_model=list[s.SessionOut])
def list_sessions(caller: Caller, db: Db, ctx: Ctx) -> list[s.SessionOut]:
    """The devices signed in to this account."""
    return [
        s.SessionOut(
            id=x.id,
            client_id=x.client_id,
            device_name=x.device_name,
            created_at=x.created_at,
            last_used_at=x.last_used_at,
            auth_time=x.auth_time,
            current=x.id == caller.session.id,
        )
        for x in SessionService(db, ctx).list(caller.account.id)
    ]


@router.delete("/sessions/{session_id}", status_code=204)
def revoke_session(session_id: uuid.UUID, caller: Caller, db: Db, ctx: Ctx) -> None:
    """Sign a device out; its tokens stop working at once."""
    SessionService(db, ctx).revoke_by_id(caller.account.id, session_id, "signed_out")


@router.post("/logout", status_code=204)
def logout(caller: Caller, db: Db, ctx: Ctx) -> None:
    SessionService(db, ctx).revoke(caller.session, "signed_out")


@credentials_router.put("/accounts/me/password", status_code=204)
def change_password(body: PasswordChangeIn, caller: Caller, db: Db, ctx: Ctx) -> None:
    """Store a keystore re-sealed under a new password and signed with the current key;
    other devices are signed out and the owner is told by mail."""
    sessions = SessionService(db, ctx)
    sessions.require_recent_mfa(caller)
    AccountService(db, ctx).replace_keystore(
        caller.account, body.keystore, body.auth_secret, body.signature
    )
    sessions.credentials_changed(caller, "password_changed", "your password was changed")


# -- a forgotten password (docs/PROTOCOL.md, 16.5) ---------------------------------------

_RECOVERY_MAILED = (
    "If an account uses this address, a recovery code was sent to it. It works for "
    "15 minutes, together with a second factor and the account's 24 recovery words."
)


@credentials_router.post(
    "/accounts/password-recoveries",
    status_code=202,
    response_model=s.AcceptedOut,
    responses=SHIELD_RESPONSES,
)
def start_password_recovery(
    body: s.RecoveryStartIn, request: Request, db: Db, ctx: Ctx
) -> s.AcceptedOut:
    """Mail a one-time code to the owner of the address; the same answer whether or
    not an account uses it."""
    PasswordRecoveries(db, ctx).start(body.email, attempt_of(request, "recover", body.email))
    return s.AcceptedOut(detail=_RECOVERY_MAILED)


@credentials_router.post(
    "/accounts/password-recoveries/proof",
    response_model=s.RecoveryProofOut,
    responses=SHIELD_RESPONSES,
)
def prove_password_recovery(
    body: s.RecoveryProofIn, request: Request, db: Db, ctx: Ctx, response: Response
) -> s.RecoveryProofOut:
    """The mailed code and a second factor: the keystore's recovery slot (its password
    slot zeroed) and the nonce the new keystore's statement signs."""
    grant = PasswordRecoveries(db, ctx).prove(
        body.email,
        body.code,
        body.second_factor.proof(),
        attempt_of(request, "recover", body.email),
    )
    response.headers.update(NO_STORE)
    return s.RecoveryProofOut(
        account_id=grant.account_id,
        nonce=grant.nonce,
        recovery_keystore=grant.recovery_keystore,
        expires_at=grant.expires_at,
    )


@credentials_router.post(
    "/keys/rotations", response_model=keys_schemas.KeyRotationOut, status_code=201
)
def rotate_keys(
    body: keys_schemas.KeyRotationIn, caller: Caller, db: Db, ctx: Ctx
) -> keys_schemas.KeyRotationOut:
    """Replace the account's keys: the next directory entry, carried by a statement the
    current and the new keys signed, and the keystore holding both (docs/PROTOCOL.md,
    10.6). Needs a recent second factor; other devices are signed out (they hold the
    former keystore) and the owner is told by mail."""
    sessions = SessionService(db, ctx)
    sessions.require_recent_mfa(caller)
    record = KeyDirectory(db, ctx).rotate(
        caller.account, body.bundle, body.keystore, body.statement
    )
    current_draft().note(ObjectKind.ACCOUNT, caller.account.id)
    # Copies the former keys open that the owner's re-wrap cannot reach (10.6).
    forget_account_answers(db, caller.account.id)
    ctx.find(FormerKeyCopies, db).forget_ended_keys(caller.account.id)
    sessions.credentials_changed(
        caller, "keys_rotated", f"your keys were replaced (key version {record.key_version})"
    )
    return keys_schemas.KeyRotationOut(index=record.log_index, key_version=record.key_version)


@credentials_router.post("/accounts/password-recoveries/completion", status_code=204)
def complete_password_recovery(body: s.RecoveryCompletionIn, db: Db, ctx: Ctx) -> None:
    """Store the keystore re-sealed under the new password, signed by the account's
    key over the nonce; every session ends and the owner is told by mail."""
    PasswordRecoveries(db, ctx).complete(
        body.account_id, body.nonce, body.keystore, body.auth_secret, body.signature
    )


# -- OAuth 2.1 ----------------------------------------------------------------------------


@oauth_router.post(
    "/oauth/authorize",
    status_code=302,
    responses={302: {"description": "Redirect to the client with code and state"}},
)
def authorize(
    form: Annotated[s.AuthorizeForm, Form()], request: Request, db: Db, ctx: Ctx
) -> Response:
    """Authorization endpoint. Exchanges a completed sign-in (password and second
    factor) for an authorization code bound to the client's PKCE challenge."""
    server = OAuthServer(db, ctx)
    oauth_request = form_request(request, ctx, form.model_dump())
    try:
        grant = server.get_consent_grant(oauth_request)  # validates client, redirect, PKCE
    except OAuth2Error as error:
        return oauth_response(*server.handle_error_response(oauth_request, error))
    flow, account = LoginService(db, ctx).consume(form.ticket)
    status, body, headers = server.create_authorization_response(
        oauth_request, grant_user=GrantUser(account=account, flow=flow), grant=grant
    )
    return oauth_response(status, body, headers)


@oauth_router.post("/oauth/token", response_model=s.TokenOut)
def token(form: Annotated[s.TokenForm, Form()], request: Request, db: Db, ctx: Ctx) -> Response:
    """Token endpoint: authorization_code (with PKCE) and refresh_token grants only."""
    server = OAuthServer(db, ctx)
    status, body, headers = server.create_token_response(
        form_request(request, ctx, form.model_dump())
    )
    return oauth_response(status, body, headers)


@oauth_router.post("/oauth/revoke")
def revoke(
    form: Annotated[s.TokenActionForm, Form()], request: Request, db: Db, ctx: Ctx
) -> Response:
    """RFC 7009 revocation: ends the session the token belongs to. A token nobody
    issued is answered 200 too (the RFC) but is no action: not journaled, or anyone
    could grow the journal at will."""
    current_draft().listed = False  # until a session is really revoked (oauth.py)
    return _endpoint_response("revocation", form, request, db, ctx)


@oauth_router.post("/oauth/introspect")
def introspect(
    form: Annotated[s.TokenActionForm, Form()], request: Request, db: Db, ctx: Ctx
) -> Response:
    """RFC 7662 introspection, for resource servers holding client credentials."""
    return _endpoint_response("introspection", form, request, db, ctx)


def _endpoint_response(
    name: str, form: s.TokenActionForm, request: Request, db: Db, ctx: Ctx
) -> Response:
    server = OAuthServer(db, ctx)
    oauth_request = form_request(request, ctx, form.model_dump())
    return oauth_response(*server.create_endpoint_response(name, oauth_request))


@oauth_router.get("/.well-known/oauth-authorization-server")
def metadata(ctx: Ctx) -> dict[str, Any]:
    """RFC 8414 authorization server metadata."""
    base = ctx.settings.issuer.rstrip("/")
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "scopes_supported": ["api"],
        "access_token_audience": AUDIENCE,
    }
