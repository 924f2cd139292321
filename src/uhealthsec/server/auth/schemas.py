"""API models of the authentication domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from uhealthsec.protocol.encoding import Base64Url
from uhealthsec.server.auth.factors import SecondFactor
from uhealthsec.server.auth.passwords import AUTH_SECRET_SIZE

Email = Annotated[str, Field(min_length=3, max_length=320)]
Ticket = Annotated[str, Field(min_length=16, max_length=100)]
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


class LoginIn(Strict):
    email: Email
    auth_secret: Base64Url(AUTH_SECRET_SIZE)  # type: ignore[valid-type]


class LoginOut(BaseModel):
    ticket: str
    expires_at: datetime
    methods: list[str]
    enrolment_required: bool


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


class AuthorizeForm(BaseModel):
    """RFC 6749 §4.1.1 parameters, plus the completed sign-in's ticket."""

    response_type: Annotated[str, Field(max_length=20)]
    client_id: Annotated[str, Field(max_length=100)]
    redirect_uri: Annotated[str, Field(max_length=500)]
    code_challenge: Annotated[str, Field(max_length=128)]
    code_challenge_method: Annotated[str, Field(max_length=10)]
    state: Annotated[str | None, Field(max_length=500)] = None
    scope: Annotated[str | None, Field(max_length=200)] = None
    ticket: Ticket
    device_name: Annotated[str | None, Field(max_length=100)] = None


class TokenForm(BaseModel):
    grant_type: Annotated[str, Field(max_length=40)]
    client_id: Annotated[str | None, Field(max_length=100)] = None
    code: Annotated[str | None, Field(max_length=100)] = None
    redirect_uri: Annotated[str | None, Field(max_length=500)] = None
    code_verifier: Annotated[str | None, Field(max_length=128)] = None
    refresh_token: Annotated[str | None, Field(max_length=100)] = None
    scope: Annotated[str | None, Field(max_length=200)] = None


class TokenOut(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str | None = None
    scope: str


class TokenActionForm(BaseModel):
    """RFC 7009 / RFC 7662 request."""

    token: Annotated[str, Field(max_length=4096)]
    token_type_hint: Annotated[str | None, Field(max_length=40)] = None
    client_id: Annotated[str | None, Field(max_length=100)] = None
