"""Federated professional login (e-CPS / Pro Santé Connect style). No HTTP here.

Two round trips go through the provider:

- *login*: a client asks for a federated sign-in with its own OAuth request (client id,
  redirect URI, state, PKCE challenge). When the provider proves a linked identity at
  an accepted level, the client's request is answered with an authorization code, as
  after a password and a second factor: the provider's eIDAS substantial/high sign-in
  is itself multi-factor.
- *link*: a signed-in session that proved a second factor in the last minutes asks to
  link its account. The callback hands a one-time link code to the client, and only
  that session, presenting the PKCE verifier it kept, can redeem it. A link started by
  someone else and completed in a victim's browser therefore links nothing.
An identity that is not linked never signs anyone in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session as DbSession

from uhealthsec.crypto.factor_change import FactorAction
from uhealthsec.server.accounts.models import Account, AccountKind, AccountStatus, IdentityProof
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.auth.factor_changes import FactorChanges
from uhealthsec.server.auth.models import LoginFlow
from uhealthsec.server.auth.service import (
    FINISHED_KEPT,
    LoginService,
    Principal,
    SessionService,
)
from uhealthsec.server.context import AppContext, token_hash
from uhealthsec.server.errors import Conflict, Forbidden, InvalidInput, NotFound
from uhealthsec.server.federation.models import FederatedIdentity, FederatedRequest
from uhealthsec.server.federation.oidc import OidcClient, ProviderError

LOGIN = "login"
LINK = "link"
#: RFC 8176 methods recorded for a session opened by the provider.
FEDERATED_AMR = "fed mfa"

_SEAL_PURPOSE = "federation/request"
_EXPIRED = "this professional sign-in has expired or was already used; start again"
_NOT_LINKED = (
    "this professional identity is not linked to a U-HealthSec account yet: sign in with "
    "your password and second factor, then link it from your account settings"
)


@dataclass(frozen=True)
class CallbackOutcome:
    """How to answer the client whose request came back from the provider."""

    purpose: str
    client_request: dict[str, str]
    #: Login that succeeded: the completed flow to answer with an authorization code.
    account: Account | None = None
    flow: LoginFlow | None = None
    #: Link that succeeded: the one-time code for the session that asked.
    link_code: str | None = None
    #: Refusal, for the client's redirect URI (RFC 6749 §4.1.2.1 ``access_denied``).
    error: str | None = None


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class FederationService:
    def __init__(self, db: DbSession, ctx: AppContext) -> None:
        self.db = db
        self.ctx = ctx

    @property
    def provider(self) -> OidcClient:
        if self.ctx.oidc is None:
            raise NotFound("professional sign-in is not configured on this server")
        return self.ctx.oidc

    # -- starting a round trip ------------------------------------------------------------

    def begin_login(self, client_request: dict[str, str]) -> str:
        """The provider URL to send the browser to; ``client_request`` is already valid."""
        return self._begin(LOGIN, client_request, session_id=None)

    def begin_link(self, principal: Principal, client_request: dict[str, str]) -> str:
        if principal.account.kind != AccountKind.PRACTITIONER:
            raise Forbidden("only practitioners can link a professional identity")
        SessionService(self.db, self.ctx).require_recent_mfa(principal)
        return self._begin(LINK, client_request, session_id=principal.session.id)

    def _begin(
        self, purpose: str, client_request: dict[str, str], session_id: uuid.UUID | None
    ) -> str:
        provider = self.provider
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        try:
            url = provider.authorization_url(state, nonce, _s256(verifier))
        except ProviderError as exc:
            raise InvalidInput(str(exc)) from exc
        now = self.ctx.now()
        state_hash = token_hash(state)
        self.db.add(
            FederatedRequest(
                state_hash=state_hash,
                purpose=purpose,
                secrets_sealed=self.ctx.server_key.seal(
                    _SEAL_PURPOSE,
                    json.dumps({"nonce": nonce, "verifier": verifier}).encode(),
                    state_hash,
                ),
                client_request=json.dumps(client_request),
                session_id=session_id,
                created_at=now,
                expires_at=now + timedelta(seconds=self.ctx.settings.login_seconds),
            )
        )
        return url

    def purge(self) -> int:
        """Forget round trips that ended over an hour ago (``uhs-server cleanup``):
        anyone may start one, as often as they like."""
        cutoff = self.ctx.now() - FINISHED_KEPT
        deleted = self.db.execute(
            delete(FederatedRequest).where(FederatedRequest.expires_at < cutoff)
        )
        return deleted.rowcount or 0  # type: ignore[attr-defined]

    # -- the provider's answer ------------------------------------------------------------

    def pending(self, state: str) -> FederatedRequest:
        request = self.db.get(FederatedRequest, token_hash(state))
        if (
            request is None
            or request.returned_at is not None
            or request.expires_at <= self.ctx.now()
        ):
            raise InvalidInput(_EXPIRED)
        return request

    def callback(self, state: str, code: str | None, error: str | None) -> CallbackOutcome:
        request = self.pending(state)
        request.returned_at = self.ctx.now()
        client_request: dict[str, str] = json.loads(request.client_request)

        def refused(message: str) -> CallbackOutcome:
            return CallbackOutcome(request.purpose, client_request, error=message)

        if error is not None or code is None:
            return refused("the professional sign-in was cancelled or refused by the provider")
        sealed = json.loads(
            self.ctx.server_key.open(_SEAL_PURPOSE, request.secrets_sealed, request.state_hash)
        )
        try:
            identity = self.provider.complete(
                code, sealed["verifier"], sealed["nonce"], self.ctx.now()
            )
        except ProviderError as exc:
            return refused(str(exc))

        if request.purpose == LINK:
            link_code = secrets.token_urlsafe(32)
            request.subject = identity.subject
            request.rpps = identity.rpps
            request.link_code_hash = token_hash(link_code)
            return CallbackOutcome(LINK, client_request, link_code=link_code)

        linked = self.db.scalar(
            select(FederatedIdentity).where(
                FederatedIdentity.issuer == identity.issuer,
                FederatedIdentity.subject == identity.subject,
            )
        )
        if linked is None:
            return refused(_NOT_LINKED)
        account = self.db.get(Account, linked.account_id)
        if account is None or account.status != AccountStatus.ACTIVE:
            return refused("this account is disabled; contact your practice's administrator")
        linked.last_login_at = self.ctx.now()
        flow = LoginService(self.db, self.ctx).completed_elsewhere(account, FEDERATED_AMR)
        return CallbackOutcome(LOGIN, client_request, account=account, flow=flow)

    # -- links --------------------------------------------------------------------------

    def redeem_link(
        self,
        principal: Principal,
        link_code: str,
        code_verifier: str,
        nonce: bytes,
        signature: bytes,
    ) -> FederatedIdentity:
        """Finish a link: the same session, holding the verifier of the challenge it sent,
        with the owner's signature over the link code (docs/PROTOCOL.md, 16.4): a linked
        e-CPS signs in without the password or a second factor, so a session copied in
        its step-up window must not link the thief's own. Other sessions end, and the
        owner is told."""
        request = self.db.scalar(
            select(FederatedRequest).where(FederatedRequest.link_code_hash == token_hash(link_code))
        )
        if (
            request is None
            or request.redeemed_at is not None
            or request.session_id != principal.session.id
            or request.expires_at <= self.ctx.now()
            or request.subject is None
        ):
            raise InvalidInput(_EXPIRED)
        challenge = json.loads(request.client_request).get("code_challenge", "")
        if not hmac.compare_digest(_s256(code_verifier), challenge):
            raise InvalidInput(_EXPIRED)
        request.redeemed_at = self.ctx.now()
        changes = FactorChanges(self.db, self.ctx)
        changes.consent(principal, FactorAction.LINK_E_CPS, link_code.encode(), nonce, signature)
        identity = self._link(principal.account, request.subject, request.rpps)
        changes.sessions.credentials_changed(
            principal, "identity_linked", "an e-CPS was linked to your account"
        )
        return identity

    def _link(self, account: Account, subject: str, rpps: str | None) -> FederatedIdentity:
        issuer = self.provider.config.issuer
        taken = self.db.scalar(
            select(FederatedIdentity).where(
                FederatedIdentity.issuer == issuer, FederatedIdentity.subject == subject
            )
        )
        if taken is not None:
            if taken.account_id == account.id:
                return taken
            raise Conflict("this professional identity is already linked to another account")
        if self.db.scalar(
            select(FederatedIdentity.id).where(
                FederatedIdentity.issuer == issuer, FederatedIdentity.account_id == account.id
            )
        ):
            raise Conflict("your account is already linked to another professional identity")
        if rpps is not None:
            if (account.rpps or account.declared_rpps or rpps) != rpps:
                raise Conflict(
                    "the RPPS number proven by the provider is not the one of your account"
                )
            # The proof takes the number from any account that only declared it.
            accounts = AccountService(self.db, self.ctx)
            accounts.prove_rpps(account, rpps)
            # The provider proved the RPPS number: the professional identity is verified.
            accounts.mark_identity_verified(account, IdentityProof.E_CPS)
        identity = FederatedIdentity(
            issuer=issuer,
            subject=subject,
            account_id=account.id,
            rpps=rpps,
            linked_at=self.ctx.now(),
        )
        self.db.add(identity)
        self.db.flush()
        return identity

    def identities(self, account_id: uuid.UUID) -> list[FederatedIdentity]:
        return list(
            self.db.scalars(
                select(FederatedIdentity)
                .where(FederatedIdentity.account_id == account_id)
                .order_by(FederatedIdentity.linked_at)
            )
        )

    def unlink(
        self, principal: Principal, identity_id: uuid.UUID, nonce: bytes, signature: bytes
    ) -> None:
        """Remove a link, signed by the owner as a link is (16.4)."""
        changes = FactorChanges(self.db, self.ctx)
        changes.consent(principal, FactorAction.UNLINK_E_CPS, identity_id.bytes, nonce, signature)
        identity = self.db.get(FederatedIdentity, identity_id)
        if identity is None or identity.account_id != principal.account.id:
            raise NotFound("no such linked identity on this account")
        self.db.delete(identity)
        changes.sessions.credentials_changed(
            principal, "identity_unlinked", "an e-CPS was unlinked from your account"
        )
