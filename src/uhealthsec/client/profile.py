"""Where the CLI keeps its sign-in on this device: one JSON file per profile, readable by
the user only (0600 in a 0700 directory). It holds the server address, the address
signed in, the access token, and what this device verified or did that a server must
not be able to make it forget (log pins, revocations); never a password, a key or a
recovery code.

The refresh token, which signs the device in for weeks, is kept in the operating
system's keyring (Secret Service, macOS Keychain, Windows Credential Locker) where
one is available, and in the profile file otherwise."""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keyring
import keyring.backends.fail
import keyring.backends.null
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend
from keyring.errors import KeyringError, PasswordDeleteError

from uhealthsec.client import DEFAULT_SERVER
from uhealthsec.client.api import Tokens
from uhealthsec.client.state_files import write_atomically
from uhealthsec.protocol.signin import ACCESS_TOKEN_LONGEST_SECONDS

#: The keyring service under which the refresh tokens are kept, one per profile file.
KEYRING_SERVICE = "uhealthsec"
#: Written in a profile file in place of a refresh token kept in the keyring.
_IN_KEYRING = "keyring"


def config_dir() -> Path:
    explicit = os.environ.get("UHS_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "uhealthsec"


@dataclass
class Profile:
    server: str = DEFAULT_SERVER
    email: str = ""
    access_token: str = ""
    refresh_token: str = ""
    #: Unix time at which the access token expires.
    expires_at: float = 0.0
    #: The key directory as this device last verified it (its signing key, size, root):
    #: every later directory must extend it (client/directory.py).
    directory: dict[str, Any] = field(default_factory=dict)
    #: The journal as this device last verified it (client/journal.py).
    journal: dict[str, Any] = field(default_factory=dict)
    #: The readers whose access this device ended (exchange.RevokedReader), kept out
    #: of later versions even if the server withholds the signed revocation.
    revoked: list[dict[str, Any]] = field(default_factory=list)

    @property
    def signed_in(self) -> bool:
        return bool(self.refresh_token)

    @property
    def tokens(self) -> Tokens:
        return Tokens(self.access_token, self.refresh_token, int(self.expires_at - time.time()))

    def store_tokens(self, tokens: Tokens) -> None:
        self.access_token = tokens.access_token
        self.refresh_token = tokens.refresh_token
        # Never kept longer than the server's longest, whatever it said (PROTOCOL, tokens).
        self.expires_at = time.time() + min(tokens.expires_in, ACCESS_TOKEN_LONGEST_SECONDS)

    def forget_tokens(self) -> None:
        self.access_token = self.refresh_token = ""
        self.expires_at = 0.0


def system_keyring() -> KeyringBackend | None:
    """The operating system's keyring, or None where there is none: keyring then falls
    back to a backend that fails (or does nothing) on every call."""
    backend = keyring.get_keyring()
    if isinstance(backend, keyring.backends.fail.Keyring | keyring.backends.null.Keyring):
        return None
    if isinstance(backend, ChainerBackend) and not backend.backends:
        return None
    return backend


class ProfileStore:
    def __init__(self, directory: Path | None = None, name: str = "default") -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / f"{name}.json"
        #: The refresh token's name in the keyring: the profile file it belongs to.
        self.keyring_entry = str(self.path.absolute())

    def load(self) -> Profile:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return Profile()
        if data.pop("refresh_token_kept_in", None) == _IN_KEYRING:
            data["refresh_token"] = self._from_keyring()
        known = Profile.__dataclass_fields__
        return Profile(**{k: v for k, v in data.items() if k in known})

    def save(self, profile: Profile) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = asdict(profile)
        if self._to_keyring(profile.refresh_token) and profile.refresh_token:
            data["refresh_token"] = ""
            data["refresh_token_kept_in"] = _IN_KEYRING
        write_atomically(self.path, json.dumps(data, indent=2).encode())

    def _from_keyring(self) -> str:
        # No keyring now (or a locked one) means signed out: the user signs in again.
        backend = system_keyring()
        if backend is None:
            return ""
        try:
            return backend.get_password(KEYRING_SERVICE, self.keyring_entry) or ""
        except KeyringError:
            return ""

    def _to_keyring(self, refresh_token: str) -> bool:
        """Whether the keyring now holds ``refresh_token`` (an empty one: holds none)."""
        backend = system_keyring()
        if backend is None:
            return False
        try:
            if refresh_token:
                backend.set_password(KEYRING_SERVICE, self.keyring_entry, refresh_token)
            else:
                with contextlib.suppress(PasswordDeleteError):  # there was none
                    backend.delete_password(KEYRING_SERVICE, self.keyring_entry)
        except KeyringError:
            return False  # refused or locked: the 0600 file keeps it instead
        return True
