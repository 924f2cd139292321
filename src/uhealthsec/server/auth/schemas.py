"""API models of the authentication domain; those of sign-in are wire models
(protocol/signin.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from uhealthsec.crypto.signing import SIGNATURE_SIZE
from uhealthsec.protocol import recovery as recovery_wire
from uhealthsec.protocol import signin as wire
from uhealthsec.protocol.encoding import Base64Url

# Sign-in's models are wire models (protocol/signin.py), served by routes.py.
from uhealthsec.protocol.recovery import RecoveryCompletionIn as RecoveryCompletionIn
from uhealthsec.protocol.recovery import RecoveryProofOut as RecoveryProofOut
from uhealthsec.protocol.recovery import RecoveryStartIn as RecoveryStartIn
from uhealthsec.protocol.signin import AcceptedOut as AcceptedOut
from uhealthsec.protocol.signin import AccessTokenOut as AccessTokenOut
from uhealthsec.protocol.signin import FactorChangeNonceOut as FactorChangeNonceOut
from uhealthsec.protocol.signin import LoginOut as LoginOut
from uhealthsec.protocol.signin import LoginStepOut as LoginStepOut
from uhealthsec.protocol.signin import LoginTotpConfirmIn as LoginTotpConfirmIn
from uhealthsec.protocol.signin import PreloginIn as PreloginIn
from uhealthsec.protocol.signin import PreloginOut as PreloginOut
from uhealthsec.protocol.signin import RecoveryCodesOut as RecoveryCodesOut
from uhealthsec.protocol.signin import Ticket, WebAuthnResponse
from uhealthsec.protocol.signin import TicketIn as TicketIn
from uhealthsec.protocol.signin import TokenOut as TokenOut
from uhealthsec.protocol.signin import TotpConfirmIn as TotpConfirmIn
from uhealthsec.protocol.signin import TotpEnrolmentOut as TotpEnrolmentOut
from uhealthsec.protocol.strict import Strict
from uhealthsec.server.auth.factors import SecondFactor


class SecondFactorIn(wire.SecondFactorIn):
    # The wire model, with the proof the services check.
    def proof(self) -> SecondFactor:
        return SecondFactor(self.totp_code, self.recovery_code, self.webauthn)


class LoginIn(wire.LoginIn):
    second_factor: SecondFactorIn | None = None


class LoginSecondFactorIn(SecondFactorIn, wire.LoginSecondFactorIn):
    pass


class WebAuthnRegisterIn(Strict):
    credential: WebAuthnResponse
    name: Annotated[str, Field(min_length=1, max_length=100)] = "Security key"


class LoginWebAuthnRegisterIn(WebAuthnRegisterIn):
    ticket: Ticket


class FactorChangeIn(Strict):
    """The owner's consent to a change of the account's factors (docs/PROTOCOL.md,
    16.4): a nonce from /auth/factors/change-nonce and the signature by the signing
    key the directory publishes for the account."""

    nonce: Base64Url(32)  # type: ignore[valid-type]
    signature: Base64Url(SIGNATURE_SIZE)  # type: ignore[valid-type]


class SignedTotpConfirmIn(TotpConfirmIn):
    change: FactorChangeIn


class SignedWebAuthnRegisterIn(WebAuthnRegisterIn):
    change: FactorChangeIn


class FactorOut(BaseModel):
    kind: str
    id: str
    name: str
    created_at: str


class SessionOut(BaseModel):
    id: uuid.UUID
    client_id: str
    device_name: str
    created_at: datetime
    last_used_at: datetime
    auth_time: datetime
    current: bool


#: OAuth parameters are ASCII tokens (RFC 6749 Appendix A); refusing anything else here
#: keeps control characters out of the protocol layer and its error messages.
_NAME = r"^[A-Za-z0-9_.:-]+$"
_VSCHAR = r"^[\x20-\x7e]*$"
_B64U = r"^[A-Za-z0-9_-]+$"


def _param(max_length: int, pattern: str = _NAME) -> Any:
    return Field(max_length=max_length, pattern=pattern)


class AuthorizationRequest(BaseModel):
    """RFC 6749 §4.1.1 parameters with the RFC 7636 challenge, and a device name."""

    response_type: Annotated[str, _param(20, r"^[a-z_ ]+$")]
    client_id: Annotated[str, _param(100)]
    redirect_uri: Annotated[str, _param(500, _VSCHAR)]
    code_challenge: Annotated[str, Field(min_length=43, max_length=128, pattern=_B64U)]
    code_challenge_method: Annotated[str, _param(10)]
    state: Annotated[str | None, _param(500, _VSCHAR)] = None
    scope: Annotated[str | None, _param(200, r"^[A-Za-z0-9_.: -]*$")] = None
    device_name: Annotated[str | None, _param(100, _VSCHAR)] = None


class AuthorizeForm(AuthorizationRequest):
    """The authorization request, plus the completed sign-in's ticket."""

    ticket: Annotated[str, Field(min_length=16, max_length=100, pattern=_B64U)]


class TokenForm(BaseModel):
    grant_type: Annotated[str, _param(40)]
    client_id: Annotated[str | None, _param(100)] = None
    code: Annotated[str | None, _param(100, _B64U)] = None
    redirect_uri: Annotated[str | None, _param(500, _VSCHAR)] = None
    code_verifier: Annotated[str | None, Field(max_length=128, pattern=r"^[A-Za-z0-9._~-]+$")] = (
        None
    )
    refresh_token: Annotated[str | None, _param(100, _B64U)] = None
    scope: Annotated[str | None, _param(200, r"^[A-Za-z0-9_.: -]*$")] = None


class TokenActionForm(BaseModel):
    """RFC 7009 / RFC 7662 request."""

    token: Annotated[str, _param(4096, r"^[A-Za-z0-9_.~+/=-]+$")]
    token_type_hint: Annotated[str | None, _param(40)] = None
    client_id: Annotated[str | None, _param(100)] = None


class RecoveryProofIn(recovery_wire.RecoveryProofIn):
    # The wire model, with the proof the services check.
    second_factor: SecondFactorIn


class UnblockIn(Strict):
    """The token of a mailed unblocking link (R7)."""

    token: Annotated[str, Field(min_length=1, max_length=100)]


class UnblockOut(BaseModel):
    #: "password" or "factors": what counts from zero again.
    unblocked: str
