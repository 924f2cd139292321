"""API models of the accounts domain; the account as clients read it and the
registration are wire models (protocol/accounts.py, protocol/signin.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from uhealthsec.crypto.keystore import MAX_KEYSTORE_SIZE
from uhealthsec.crypto.signing import SIGNATURE_SIZE
from uhealthsec.protocol.accounts import AccountKind
from uhealthsec.protocol.accounts import AccountOut as AccountOut  # served by routes.py
from uhealthsec.protocol.consent import InvitationAcceptIn as InvitationAcceptIn
from uhealthsec.protocol.encoding import Base64Url
from uhealthsec.protocol.signin import AUTH_SECRET_SIZE, Email, Name

# The registration's models, served by routes.py, are wire models.
from uhealthsec.protocol.signin import AcceptedOut as AcceptedOut
from uhealthsec.protocol.signin import CodeIn as CodeIn
from uhealthsec.protocol.signin import EmailVerificationIn as EmailVerificationIn
from uhealthsec.protocol.signin import KeystoreOut as KeystoreOut
from uhealthsec.protocol.signin import RegistrationIn as RegistrationIn
from uhealthsec.protocol.strict import Strict
from uhealthsec.server.accounts.models import Role


class PasswordChangeIn(Strict):
    auth_secret: Base64Url(AUTH_SECRET_SIZE)  # type: ignore[valid-type]
    keystore: Base64Url(MAX_KEYSTORE_SIZE)  # type: ignore[valid-type]
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
    #: The address colleagues send to (the web client resolves it in the key directory).
    email: str
    display_name: str
    kind: AccountKind
    role: Role
    #: As in AccountOut.
    rpps: str | None
    rpps_proven: bool = False
    identity_verified: bool
