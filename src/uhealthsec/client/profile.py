"""Where the CLI keeps its sign-in on this device: one JSON file per profile, readable by
the user only (0600 in a 0700 directory). It holds the server address, the address
signed in, the OAuth tokens, and what this device verified or did that a server must
not be able to make it forget (log pins, revocations); never a password, a key or a
recovery code."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from uhealthsec.client.api import Tokens

DEFAULT_SERVER = "http://127.0.0.1:8000"


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
        self.expires_at = time.time() + tokens.expires_in

    def forget_tokens(self) -> None:
        self.access_token = self.refresh_token = ""
        self.expires_at = 0.0


class ProfileStore:
    def __init__(self, directory: Path | None = None, name: str = "default") -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / f"{name}.json"

    def load(self) -> Profile:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return Profile()
        known = Profile.__dataclass_fields__
        return Profile(**{k: v for k, v in data.items() if k in known})

    def save(self, profile: Profile) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(profile), handle, indent=2)
        os.replace(temporary, self.path)
