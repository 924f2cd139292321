"""The server's own secret: seals secrets the server must keep (TOTP seeds, token keys).

It never protects health data: documents are end-to-end encrypted and the server holds
no key able to open them. Each use gets its own subkey by HKDF so that one purpose can
never be confused with another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_SIZE = 32
_NONCE_SIZE = 12


class ServerKeyError(Exception):
    """The server key is missing, malformed, or did not open a sealed value."""


class ServerKey:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise ServerKeyError("the server key must be 32 bytes")
        self._key = key
        #: Subkeys by purpose: derived once, they are used on hot paths (the shield).
        self._subkeys: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return "ServerKey(<secret>)"

    @classmethod
    def load_or_create(cls, path: Path, env_value: str | None = None) -> ServerKey:
        """Read the key from ``UHS_SERVER_KEY`` (base64) or ``path``; create ``path`` once."""
        if env_value:
            return cls(base64.b64decode(env_value, validate=True))
        if path.exists():
            return cls(base64.b64decode(path.read_bytes().strip(), validate=True))
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(KEY_SIZE)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.b64encode(key) + b"\n")
        return cls(key)

    def derive(self, purpose: str) -> bytes:
        subkey = self._subkeys.get(purpose)
        if subkey is None:
            subkey = self._subkeys[purpose] = HKDF(
                algorithm=hashes.SHA256(),
                length=KEY_SIZE,
                salt=None,
                info=b"uhealthsec/server/" + purpose.encode(),
            ).derive(self._key)
        return subkey

    def mac(self, purpose: str, message: bytes) -> bytes:
        return hmac.new(self.derive(purpose), message, hashlib.sha256).digest()

    def seal(self, purpose: str, plaintext: bytes, context: bytes = b"") -> bytes:
        """AES-256-GCM under the purpose's subkey; ``context`` (e.g. a row id) is AAD."""
        nonce = secrets.token_bytes(_NONCE_SIZE)
        return nonce + AESGCM(self.derive(purpose)).encrypt(nonce, plaintext, context)

    def open(self, purpose: str, sealed: bytes, context: bytes = b"") -> bytes:
        try:
            return AESGCM(self.derive(purpose)).decrypt(
                sealed[:_NONCE_SIZE], sealed[_NONCE_SIZE:], context
            )
        except (InvalidTag, ValueError) as exc:
            raise ServerKeyError("a sealed server secret did not open") from exc
