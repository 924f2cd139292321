"""Wire models of registration and sign-in (docs/PROTOCOL.md, section 16): what the
client sends and reads, and the server validates and answers with.

The password never travels: a registration carries the keystore sealed on the device
and the authentication secret derived from the password (crypto/keystore.py); a
sign-in carries that secret again, after the Argon2id parameters of ``/auth/prelogin``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from uhealthsec.crypto.keystore import MAX_KEYSTORE_SIZE
from uhealthsec.crypto.keystore import SECRET_SIZE as AUTH_SECRET_SIZE
from uhealthsec.protocol.accounts import AccountKind
from uhealthsec.protocol.encoding import Base64Url
from uhealthsec.protocol.strict import Strict

Email = Annotated[str, Field(min_length=3, max_length=320)]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
Code = Annotated[str, Field(min_length=16, max_length=100)]
Ticket = Annotated[str, Field(min_length=16, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
TotpCode = Annotated[str, Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")]
RecoveryCode = Annotated[str, Field(min_length=10, max_length=64)]
#: A WebAuthn credential as produced by navigator.credentials (JSON-serialised form).
WebAuthnResponse = Annotated[dict[str, Any], Field(max_length=10)]

# -- registration -------------------------------------------------------------------------


class RegistrationIn(Strict):
    email: Email
    display_name: Name
    kind: AccountKind
    #: The client's password-derived authentication secret (never the password).
    auth_secret: Base64Url(AUTH_SECRET_SIZE)  # type: ignore[valid-type]
    #: The sealed keystore made by the client; its public keys become the account's.
    keystore: Base64Url(MAX_KEYSTORE_SIZE)  # type: ignore[valid-type]
    rpps: Annotated[str | None, Field(min_length=11, max_length=11, pattern=r"^[0-9]{11}$")] = None
    invitation: Code | None = None
    #: With a patient invitation: the version of the practice's information notice the
    #: client showed before registering (recorded as the patient informed, R11).
    notice_version: Annotated[int | None, Field(ge=0, le=1_000_000)] = None


class AcceptedOut(BaseModel):
    detail: str


class CodeIn(Strict):
    code: Code


class EmailVerificationIn(CodeIn):
    #: The auth secret of the registration being confirmed: the code alone would
    #: activate whichever registration it was mailed for, an intruder's included.
    auth_secret: Base64Url(AUTH_SECRET_SIZE)  # type: ignore[valid-type]


# -- sign-in ------------------------------------------------------------------------------


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


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class LoginStepOut(BaseModel):
    #: True once the flow can be exchanged at /oauth/authorize.
    complete: bool


# -- tokens, and what a signed-in client reads before a signed change --------------------


#: The longest an access token lives (the server's ``access_token_seconds`` at most): a
#: client refreshes by then whatever ``expires_in`` says (docs/PROTOCOL.md, tokens).
ACCESS_TOKEN_LONGEST_SECONDS = 900


class TokenOut(BaseModel):
    """``/oauth/token``'s answer (RFC 6749 section 5.1)."""

    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str | None = None
    scope: str


class AccessTokenOut(BaseModel):
    """``/auth/step-up``'s answer: an access token alone, for a few minutes."""

    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the RFC 6750 token type, not a secret
    expires_in: int


class KeystoreOut(BaseModel):
    keystore: Base64Url(MAX_KEYSTORE_SIZE)  # type: ignore[valid-type]


class FactorChangeNonceOut(BaseModel):
    #: Single use, for the next signed change of this account's factors.
    nonce: Base64Url(32)  # type: ignore[valid-type]
