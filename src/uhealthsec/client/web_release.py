"""Checking that the web application a server serves is the one it published
(``uhs web verify``, docs/PROTOCOL.md "Web release log").

The server lists every file it serves under /app/ with its SHA-256, each proven in a
signed checkpoint of its web release log; the checkpoint is accepted as the key
directory's and the journal's are (client/logs.py: the log's key and origin pinned at
first use, a consistency proof from the pinned size after). Then every listed file is
fetched as a browser would and hashed, the page at /app/ too, and every file the page
or its release manifest names must be one of those listed: a file changed on the
server, added to the page, or left out of the log is named.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx2

from uhealthsec.client.errors import LogRefused
from uhealthsec.client.logs import LogPin, accept_head
from uhealthsec.client.wire import parse
from uhealthsec.crypto import merkle
from uhealthsec.crypto.errors import InvalidProof
from uhealthsec.protocol.web_release import (
    RELEASE_MANIFEST,
    WEB_RELEASE_LOG,
    WebReleaseOut,
    asset_leaf,
)

WHAT = "the web release log"
APP = "/app/"
PAGE = "index.html"
#: Where the page's relative addresses are resolved from: only the path matters.
_PAGE_URL = "http://page.invalid" + APP


@dataclass(frozen=True)
class WebReleaseCheck:
    #: The log's size at the checkpoint every file was proven in.
    size: int
    #: The size this device had verified before (0: the first check, now pinned).
    previous_size: int
    pin: LogPin
    #: Files served and proven as the log holds them.
    verified: list[str]
    #: Files listed but served with other content (or not served), by path.
    changed: list[str] = field(default_factory=list)
    #: Files the page or its release manifest names that the log does not list.
    unlisted: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.changed and not self.unlisted


def verify_web_release(http: httpx2.Client, pin: LogPin) -> WebReleaseCheck:
    """Check what the server at ``http``'s base address serves under /app/ against its
    web release log, from ``pin`` (what this device verified before).

    :raises LogRefused: the log itself failed (signature, key or origin not the pinned
        ones, no consistency with the pinned checkpoint, an inclusion proof); then
        nothing was trusted. Files that do not match are in the result instead, with
        the new pin, since the log they are checked against was proven.
    """
    answer = http.get("/web-release/assets", params={"since": pin.size} if pin.size else {})
    if answer.status_code == 404:
        raise LogRefused(f"this server publishes no web release log ({APP} is not served)")
    if answer.status_code != 200:
        raise LogRefused(f"{WHAT} was not served (HTTP {answer.status_code})")
    release = parse(WebReleaseOut, answer, LogRefused, WHAT)
    head, new_pin = accept_head(release, pin, WEB_RELEASE_LOG, WHAT)
    listed: dict[str, bytes] = {}
    for asset in release.assets:
        digest = bytes.fromhex(asset.sha256)
        try:
            merkle.verify_inclusion(
                merkle.leaf_hash(asset_leaf(asset.path, digest)),
                asset.index,
                head.size,
                asset.inclusion,
                head.root,
            )
        except InvalidProof as exc:
            raise LogRefused(f"{asset.path} is not in {WHAT} as served: {exc}") from exc
        listed[asset.path] = digest
    if PAGE not in listed:
        raise LogRefused(f"{WHAT} does not list the application's page ({PAGE})")
    served = {path: _fetch(http, APP + path) for path in listed}
    served[""] = _fetch(http, APP)  # the page as opened, at /app/ itself
    changed = sorted(
        path or APP
        for path, content in served.items()
        if content is None or hashlib.sha256(content).digest() != listed[path or PAGE]
    )
    named = _named_by_page(served[PAGE]) | _named_by_manifest(served.get(RELEASE_MANIFEST))
    return WebReleaseCheck(
        size=head.size,
        previous_size=pin.size,
        pin=new_pin,
        verified=sorted(set(listed) - set(changed)),
        changed=changed,
        unlisted=sorted(named - set(listed)),
    )


def _fetch(http: httpx2.Client, path: str) -> bytes | None:
    answer = http.get(path)
    return answer.content if answer.status_code == 200 else None


def _named_by_page(page: bytes | None) -> set[str]:
    """The files the page names (scripts, styles, icons, manifest), as a browser
    resolves them from /app/: relative (``assets/x.js``, ``./assets/x.js``) or rooted,
    quoted either way or not at all. A file of this site outside /app/ is named by its
    path from the root, so that it is never taken for a listed one; another origin's is
    left to the page's content security policy, which refuses it."""
    if page is None:
        return set()
    addresses = _Addresses()
    addresses.feed(page.decode("utf-8", "replace"))
    addresses.close()
    base = urljoin(_PAGE_URL, addresses.base) if addresses.base else _PAGE_URL
    named = set()
    for address in addresses.found:
        resolved = urlsplit(urljoin(base, address))
        if (resolved.scheme, resolved.netloc) != ("http", "page.invalid"):
            continue
        path = resolved.path
        named.add(path.removeprefix(APP) if path.startswith(APP) else path)
    return named - {""}


class _Addresses(HTMLParser):
    """Every src and href value of the page, and its ``<base href>`` if it has one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value and value.strip():
                self.found.append(value.strip())
                if tag == "base" and name == "href" and self.base is None:
                    self.base = value.strip()

    handle_startendtag = handle_starttag


def _named_by_manifest(manifest: bytes | None) -> set[str]:
    """The files the release manifest lists (the crypto worker's among them)."""
    if manifest is None:
        return set()
    try:
        files = json.loads(manifest)["files"]
        return {f["path"] for f in files if isinstance(f["path"], str)}
    except (ValueError, KeyError, TypeError) as exc:
        raise LogRefused(f"the served {RELEASE_MANIFEST} is not a release manifest") from exc
