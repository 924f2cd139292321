"""What every request's services share: settings, keys, the database, the clock."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from uhealthsec.crypto.account_map import AccountMap
from uhealthsec.server.audit.writer import JournalWriter
from uhealthsec.server.federation.oidc import OidcClient
from uhealthsec.server.mail.outbox import MailCourier
from uhealthsec.server.security.secret_hasher import SecretHasher
from uhealthsec.server.security.shield_memory import ShieldMemory
from uhealthsec.server.security.tokens import TokenKeyring
from uhealthsec.server.server_key import ServerKey
from uhealthsec.server.settings import Settings
from uhealthsec.server.storage.blobs import BlobStore
from uhealthsec.server.storage.types import utcnow


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    server_key: ServerKey
    hasher: SecretHasher
    #: Delivers the mail requests queue (``MailOutbox``) once they commit.
    mail: MailCourier
    keyring: TokenKeyring
    #: Where document ciphertext is kept.
    blobs: BlobStore
    #: Signs the tree heads of every log (key directory, journal); derived once from
    #: the server key.
    log_key: ed25519.Ed25519PrivateKey
    #: Appends journal entries (one writer thread per process).
    journal: JournalWriter
    clock: Callable[[], datetime] = field(default=utcnow)
    #: The professional identity provider, when one is configured.
    oidc: OidcClient | None = None
    #: The shield's per-process memory (unwritten metric counts, breaker reading).
    shield: ShieldMemory = field(default_factory=ShieldMemory)
    #: The key directory's maps this process built, by (entries covered, root): see
    #: keys/service.py.
    account_maps: dict[tuple[int, bytes], AccountMap] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()

    def close(self) -> None:
        self.mail.close()
        self.journal.close()
        self.engine.dispose()


def token_hash(token: str) -> bytes:
    """Bearer secrets (tickets, codes, refresh tokens) are looked up by their SHA-256.

    They are 256-bit random values, so a plain hash is enough: the database never holds
    a usable token and there is nothing to guess offline.
    """
    return hashlib.sha256(token.encode("utf-8")).digest()
