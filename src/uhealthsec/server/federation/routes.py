"""HTTP layer of federated professional login."""

from __future__ import annotations

import uuid
from typing import Annotated

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from uhealthsec.server.auth.http import form_request, oauth_response
from uhealthsec.server.auth.oauth import GrantUser, OAuthServer
from uhealthsec.server.auth.schemas import AuthorizationRequest, FactorChangeIn
from uhealthsec.server.deps import Caller, Ctx, Db
from uhealthsec.server.errors import InvalidInput
from uhealthsec.server.federation import schemas as s
from uhealthsec.server.federation.models import FederatedIdentity
from uhealthsec.server.federation.service import FederationService

router = APIRouter(prefix="/auth/federated", tags=["professional identity"])

_REDIRECT = {302: {"description": "Redirect to the provider or back to the client"}}


@router.get("/authorize", status_code=302, responses=_REDIRECT)
def authorize(
    query: Annotated[AuthorizationRequest, Query()], request: Request, db: Db, ctx: Ctx
) -> Response:
    """Sign in with the professional identity provider (e-CPS / Pro Santé Connect).

    Takes the same OAuth request as ``/oauth/authorize`` (without a ticket); the client
    gets its authorization code back once the provider has proven a linked identity."""
    service = FederationService(db, ctx)
    _ = service.provider  # 404 before anything else when no provider is configured
    server = OAuthServer(db, ctx)
    oauth_request = form_request(request, ctx, query.model_dump())
    try:
        server.get_consent_grant(oauth_request)  # client, redirect URI, PKCE S256
    except OAuth2Error as error:
        return oauth_response(*server.handle_error_response(oauth_request, error))
    url = service.begin_login(query.model_dump(exclude_none=True))
    return RedirectResponse(url, status_code=302)


@router.get("/callback", status_code=302, responses=_REDIRECT)
def callback(
    query: Annotated[s.CallbackQuery, Query()], request: Request, db: Db, ctx: Ctx
) -> Response:
    """Where the provider sends the browser back."""
    outcome = FederationService(db, ctx).callback(query.state, query.code, query.error)
    client = outcome.client_request
    if outcome.flow is not None and outcome.account is not None:
        server = OAuthServer(db, ctx)
        oauth_request = form_request(request, ctx, client)
        try:
            grant = server.get_consent_grant(oauth_request)
        except OAuth2Error as error:
            return oauth_response(*server.handle_error_response(oauth_request, error))
        return oauth_response(
            *server.create_authorization_response(
                oauth_request,
                grant_user=GrantUser(account=outcome.account, flow=outcome.flow),
                grant=grant,
            )
        )
    params: list[tuple[str, str]] = []
    if outcome.link_code is not None:
        params.append(("link_code", outcome.link_code))
    else:
        params += [("error", "access_denied"), ("error_description", outcome.error or "")]
    if "state" in client:
        params.append(("state", client["state"]))
    return RedirectResponse(add_params_to_uri(client["redirect_uri"], params), status_code=302)


@router.post("/links", response_model=s.LinkStartOut)
def start_link(body: s.LinkStartIn, caller: Caller, db: Db, ctx: Ctx) -> s.LinkStartOut:
    """Link your professional identity to this account (second factor in the last
    minutes required). Send the browser to the returned URL; the client's redirect URI
    then receives a ``link_code`` to finish with ``/auth/federated/links/complete``."""
    client = OAuthServer(db, ctx).query_client(body.client_id)
    if client is None or not client.check_redirect_uri(body.redirect_uri):
        raise InvalidInput("unknown client or redirect URI not registered for it")
    url = FederationService(db, ctx).begin_link(caller, body.model_dump(exclude_none=True))
    return s.LinkStartOut(authorization_url=url)


@router.post("/links/complete", response_model=s.FederatedIdentityOut, status_code=201)
def complete_link(body: s.LinkCompleteIn, caller: Caller, db: Db, ctx: Ctx) -> FederatedIdentity:
    """Redeem the link code with the verifier and the owner's signature over the code
    (docs/PROTOCOL.md, 16.4); other devices are signed out and the owner is told."""
    return FederationService(db, ctx).redeem_link(
        caller, body.link_code, body.code_verifier, body.change.nonce, body.change.signature
    )


@router.get("/identities", response_model=list[s.FederatedIdentityOut])
def identities(caller: Caller, db: Db, ctx: Ctx) -> list[FederatedIdentity]:
    return FederationService(db, ctx).identities(caller.account.id)


@router.delete("/identities/{identity_id}", status_code=204)
def unlink(identity_id: uuid.UUID, body: FactorChangeIn, caller: Caller, db: Db, ctx: Ctx) -> None:
    """Remove a link: a second factor in the last minutes and the owner's signature
    (docs/PROTOCOL.md, 16.4); other devices are signed out and the owner is told."""
    FederationService(db, ctx).unlink(caller, identity_id, body.nonce, body.signature)
