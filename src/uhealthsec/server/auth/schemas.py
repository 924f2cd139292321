"""API models of the authentication domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from uhealthsec.crypto.signing import SIGNATURE_SIZE
from uhealthsec.protocol.encoding import Base64Url
from uhealthsec.server.auth.factors import SecondFactor
from uhealthsec.server.security.secret_hasher import AUTH_SECRET_SIZE

Email = Annotated[str, Field(min_length=3, max_length=320)]
Ticket = Annotated[str, Field(min_length=16, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
TotpCode = Annotated[str, Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")]
RecoveryCode = Annotated[str, Field(min_length=10, max_length=64)]
#: A WebAuthn credential as produced by navigator.credentials (JSON-serialised form).
WebAuthnResponse = Annotated[dict[str, Any], Field(max_length=10)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PreloginIn(Strict):
    email: Email


class PreloginOut(BaseModel):
    #: Argon2id parameters and salt (crypto/keystore.py encoding) for the client's derivation.
    argon2_params: Base64Url(64)  # type: ignore[valid-type]


class LoginOut(BaseModel):
    ticket: str
    expires_at: datetime
    methods: list[str]
    enrolment_required: bool
    #: The second factor came with the password: the sign-in needs no further step.
    complete: bool = False


class SecondFactorIn(Strict):
    totp_code: TotpCode | None = None
    recovery_code: RecoveryCode | None = None
    webauthn: WebAuthnResponse | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecondFactorIn:
        if sum(x is not None for x in (self.totp_code, self.recovery_code, self.webauthn)) != 1:
            raise ValueError("give exactly one of totp_code, recovery_code, webauthn")
        return self

    def proof(self) -> SecondFactor:
        return SecondFactor(self.totp_code, self.recovery_code, self.webauthn)


class TicketIn(Strict):
    ticket: Ticket


class LoginIn(Strict):
    email: Email
    auth_secret: Base64Url(AUTH_SECRET_SIZE)  # type: ignore[valid-type]
    #: Checked before the password: needed for an address past the limit of failed
    #: attempts or while the breaker is open (answered 401 with
    #: ``second_factor_required``): a TOTP or recovery code, or a passkey assertion over
    #: the challenge of /auth/login/passkey-options.
    second_factor: SecondFactorIn | None = None


class LoginSecondFactorIn(SecondFactorIn):
    ticket: Ticket


class TotpEnrolmentOut(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str


class TotpConfirmIn(Strict):
    code: TotpCode


class LoginTotpConfirmIn(TotpConfirmIn):
    ticket: Ticket


class WebAuthnRegisterIn(Strict):
    credential: WebAuthnResponse
    name: Annotated[str, Field(min_length=1, max_length=100)] = "Security key"


class LoginWebAuthnRegisterIn(WebAuthnRegisterIn):
    ticket: Ticket


class FactorChangeNonceOut(BaseModel):
    #: Single use, for the next signed change of this account's factors.
    nonce: Base64Url(32)  # type: ignore[valid-type]


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


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class LoginStepOut(BaseModel):
    #: True once the flow can be exchanged at /oauth/authorize.
    complete: bool


class AccessTokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the RFC 6750 token type, not a secret
    expires_in: int


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


class TokenOut(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str | None = None
    scope: str


class TokenActionForm(BaseModel):
    """RFC 7009 / RFC 7662 request."""

    token: Annotated[str, _param(4096, r"^[A-Za-z0-9_.~+/=-]+$")]
    token_type_hint: Annotated[str | None, _param(40)] = None
    client_id: Annotated[str | None, _param(100)] = None
