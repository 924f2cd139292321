"""API models of federated professional login."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from uhealthsec.server.auth.schemas import FactorChangeIn

_VSCHAR = r"^[\x20-\x7e]*$"
_B64U = r"^[A-Za-z0-9_-]+$"


class CallbackQuery(BaseModel):
    """The provider's answer (OpenID Connect Core §3.1.2.5 / §3.1.2.6). Providers may add
    parameters (``session_state``, ``iss``); they are ignored."""

    state: Annotated[str, Field(min_length=16, max_length=100, pattern=_B64U)]
    code: Annotated[str | None, Field(min_length=1, max_length=2048, pattern=_VSCHAR)] = None
    error: Annotated[str | None, Field(max_length=100, pattern=_VSCHAR)] = None


class LinkStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: Annotated[str, Field(max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]
    redirect_uri: Annotated[str, Field(max_length=500, pattern=_VSCHAR)]
    state: Annotated[str | None, Field(max_length=500, pattern=_VSCHAR)] = None
    #: S256 of a verifier the client keeps; it must present the verifier to finish.
    code_challenge: Annotated[str, Field(min_length=43, max_length=128, pattern=_B64U)]
    code_challenge_method: Annotated[str, Field(pattern=r"^S256$")] = "S256"


class LinkStartOut(BaseModel):
    #: Where to send the browser: the provider's sign-in page.
    authorization_url: str


class LinkCompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    link_code: Annotated[str, Field(min_length=16, max_length=100, pattern=_B64U)]
    code_verifier: Annotated[
        str, Field(min_length=43, max_length=128, pattern=r"^[A-Za-z0-9._~-]+$")
    ]
    #: The owner's signature over the link code (docs/PROTOCOL.md, 16.4).
    change: FactorChangeIn


class FederatedIdentityOut(BaseModel):
    id: uuid.UUID
    issuer: str
    rpps: str | None
    linked_at: datetime
    last_login_at: datetime | None
