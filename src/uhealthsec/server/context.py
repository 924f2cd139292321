"""What every request's services share: settings, keys, the database, the clock, and
the implementations of what a lower domain asks of upper ones.

The domains import each other in one order (docs/ARCHITECTURE-NOTES.md): a domain
reads the tables and services below it, never above. Where a rule of a lower domain
needs an answer only an upper one has (records ask consent whether a share is
allowed), the lower domain declares what it needs as a Protocol in its
``interfaces.py`` and asks the context for it; the application registers the upper
domain's implementation at start (server/wiring.py), as pypi/warehouse registers
its services behind interfaces."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from uhealthsec.crypto.account_map import AccountMap
from uhealthsec.server.audit.writer import JournalWriter
from uhealthsec.server.federation.oidc import OidcClient
from uhealthsec.server.mail.outbox import MailCourier
from uhealthsec.server.observability import Metrics
from uhealthsec.server.security.secret_hasher import SecretHasher
from uhealthsec.server.security.shield_memory import ShieldMemory
from uhealthsec.server.security.tokens import TokenKeyring
from uhealthsec.server.server_key import ServerKey
from uhealthsec.server.settings import Settings
from uhealthsec.server.storage.blobs import BlobStore
from uhealthsec.server.storage.types import utcnow

T = TypeVar("T")


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
    #: Request and journal metrics of this process (GET /metrics).
    metrics: Metrics = field(default_factory=Metrics)
    #: The key directory's maps this process built, by (entries covered, root): see
    #: keys/service.py.
    account_maps: dict[tuple[int, bytes], AccountMap] = field(default_factory=dict)
    #: By interface (a Protocol in a domain's ``interfaces.py``), the factory of the
    #: implementation an upper domain provides: see ``provide`` and ``find``.
    providers: dict[type[Any], Callable[[Session, AppContext], Any]] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()

    def provide(self, interface: type[T], factory: Callable[[Session, AppContext], T]) -> None:
        self.providers[interface] = factory

    def find(self, interface: type[T], db: Session) -> T:
        """The implementation of ``interface`` working in the session ``db``."""
        return cast(T, self.providers[interface](db, self))

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
