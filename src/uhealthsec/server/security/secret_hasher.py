"""Server-side hashing of the client's authentication secret.

The client never sends its password: it sends a 32-byte secret derived from it with
Argon2id (crypto/keystore.py). The server hashes that secret again with Argon2id, so a
stolen database gives neither the password nor a secret that signs in.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

AUTH_SECRET_SIZE = 32


class SecretHasher:
    def __init__(self, memory_kib: int, time_cost: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=1, type=Type.ID
        )
        # Unknown accounts are checked against this, so that they cost the same time as
        # known ones and no response reveals whether an address is registered.
        self._dummy = self._hasher.hash(secrets.token_bytes(AUTH_SECRET_SIZE))

    def hash(self, auth_secret: bytes) -> str:
        return self._hasher.hash(auth_secret)

    def verify(self, stored_hash: str | None, auth_secret: bytes) -> bool:
        try:
            return self._hasher.verify(stored_hash or self._dummy, auth_secret) and (
                stored_hash is not None
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def burn(self) -> None:
        """Spend one verification's time without any account (no-enumeration paths)."""
        self.verify(None, secrets.token_bytes(AUTH_SECRET_SIZE))

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)
