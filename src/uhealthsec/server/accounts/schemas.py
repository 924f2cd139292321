"""API models of the accounts domain; the account as clients read it is a wire model
(protocol/accounts.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from uhealthsec.crypto.keystore import KEYSTORE_SIZE
from uhealthsec.crypto.signing import SIGNATURE_SIZE
from uhealthsec.protocol.accounts import AccountKind
from uhealthsec.protocol.accounts import AccountOut as AccountOut  # served by routes.py
from uhealthsec.protocol.encoding import Base64Url
from uhealthsec.protocol.strict import Strict
from uhealthsec.server.accounts.models import Role
from uhealthsec.server.security.secret_hasher import AUTH_SECRET_SIZE

Email = Annotated[str, Field(min_length=3, max_length=320)]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
Code = Annotated[str, Field(min_length=16, max_length=100)]


class RegistrationIn(Strict):
    email: Email
    display_name: Name
    kind: AccountKind
    #: The client's password-derived authentication secret (never the password).
    auth_secret: Base64Url(AUTH_SECRET_SIZE)  # type: ignore[valid-type]
    #: The sealed keystore made by the client; its public keys become the account's.
    keystore: Base64Url(KEYSTORE_SIZE)  # type: ignore[valid-type]
    rpps: Annotated[str | None, Field(min_length=11, max_length=11, pattern=r"^[0-9]{11}$")] = None
    invitation: Code | None = None


class AcceptedOut(BaseModel):
    detail: str


class CodeIn(Strict):
    code: Code


class EmailVerificationIn(CodeIn):
    #: The auth secret of the registration being confirmed: the code alone would
    #: activate whichever registration it was mailed for, an intruder's included.
    auth_secret: Base64Url(AUTH_SECRET_SIZE)  # type: ignore[valid-type]


class KeystoreOut(BaseModel):
    keystore: Base64Url(KEYSTORE_SIZE)  # type: ignore[valid-type]


class PasswordChangeIn(Strict):
    auth_secret: Base64Url(AUTH_SECRET_SIZE)  # type: ignore[valid-type]
    keystore: Base64Url(KEYSTORE_SIZE)  # type: ignore[valid-type]
    #: Ed25519 signature of the change (docs/PROTOCOL.md, 16.2) by the current key.
    signature: Base64Url(SIGNATURE_SIZE)  # type: ignore[valid-type]


class PracticeIn(Strict):
    name: Name


class PracticeOut(BaseModel):
    id: uuid.UUID
    name: str
    role: Role
    created_at: datetime


class InvitationIn(Strict):
    email: Email
    role: Role


class InvitationOut(BaseModel):
    email: str
    role: Role
    expires_at: datetime


class MemberOut(BaseModel):
    account_id: uuid.UUID
    display_name: str
    kind: AccountKind
    role: Role
    #: As in AccountOut.
    rpps: str | None
    rpps_proven: bool = False
    identity_verified: bool
