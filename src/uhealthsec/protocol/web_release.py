"""Wire models and leaves of the web release log (docs/PROTOCOL.md, "Web release
log"): the SHA-256 of every file the server serves under /app/, in a Merkle log with
signed checkpoints like the key directory's and the journal's, so that anyone can
check that the code a server gives browsers is the code it published."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field

from uhealthsec.protocol.encoding import Base64Url
from uhealthsec.protocol.logs import LogHeadOut

#: The log's name: its checkpoints' origin ends with "/web".
WEB_RELEASE_LOG = "web"
#: The release manifest the build writes beside the page (web/vite.config.ts).
RELEASE_MANIFEST = "release.json"
#: The first line of every leaf, naming what the leaf is and its format's version.
ASSET_LEAF_HEADER = b"uhealthsec-web-asset/1\n"
#: A served file's path, relative to /app/ (e.g. "assets/index-B_qPjcGc.js").
MAX_PATH_CHARS = 300


def asset_leaf(path: str, sha256: bytes) -> bytes:
    """The leaf for one served file: the header, then one line as sha256sum prints it
    (the lowercase hex digest, two spaces, the path relative to /app/)."""
    if len(sha256) != hashlib.sha256().digest_size:
        raise ValueError("a SHA-256 digest is 32 bytes")
    if not path or "\n" in path or len(path) > MAX_PATH_CHARS:
        raise ValueError(f"not a served file's path: {path!r}")
    return ASSET_LEAF_HEADER + f"{sha256.hex()}  {path}\n".encode()


class WebAssetOut(BaseModel):
    path: str = Field(min_length=1, max_length=MAX_PATH_CHARS)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    #: The leaf's position in the log.
    index: int = Field(ge=0)
    #: RFC 9162 inclusion proof of the leaf in the tree of the checkpoint's size.
    inclusion: list[Base64Url(32)]  # type: ignore[valid-type]


class WebReleaseOut(LogHeadOut):
    """The log's latest checkpoint (with its key and, for a client that saw the one of
    size ``since``, the consistency proof) and every file the server serves now, each
    proven in that checkpoint."""

    assets: list[WebAssetOut]
