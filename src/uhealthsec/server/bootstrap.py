"""What a server needs before its first request: schema, token key, first-party
clients, the logs' origins and the checkpoints of logs written before checkpoints
(or before the checkpoint format) existed, the key
directory's map for a directory written before maps existed."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from uhealthsec.protocol.oauth import CLI_CLIENT_ID, CLI_REDIRECT_URI, WEB_CLIENT_ID
from uhealthsec.server.audit.outbox import sequence_stale
from uhealthsec.server.auth.models import OAuthClient
from uhealthsec.server.context import AppContext
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.storage.merkle_log import JOURNAL_LOG, KEY_DIRECTORY_LOG, MerkleLog


@dataclass(frozen=True)
class ClientSpec:
    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    loopback_any_port: bool


def first_party_clients(issuer: str) -> list[ClientSpec]:
    base = issuer.rstrip("/")
    return [
        ClientSpec(CLI_CLIENT_ID, "uhs command line", (CLI_REDIRECT_URI,), True),
        # The worker follows /oauth/authorize's redirect itself (callback); a sign-in
        # with an e-CPS comes back in a window of its own, to the application.
        ClientSpec(
            WEB_CLIENT_ID, "U-HealthSec web", (f"{base}/app/callback", f"{base}/app/"), False
        ),
    ]


logger = logging.getLogger(__name__)


def ensure_clients(db: Session, issuer: str) -> None:
    for spec in first_party_clients(issuer):
        row = db.get(OAuthClient, spec.client_id)
        if row is None:
            row = OAuthClient(client_id=spec.client_id)
            db.add(row)
        row.name = spec.name
        row.redirect_uris = json.dumps(list(spec.redirect_uris))
        row.secret_hash = None
        row.grant_types = "authorization_code refresh_token"
        row.scope = "api"
        row.loopback_any_port = spec.loopback_any_port


def bootstrap(ctx: AppContext) -> None:
    now_ms = int(ctx.now().timestamp() * 1000)
    with ctx.sessions.begin() as db:
        # Processes starting together on a new database (several hosts, or workers)
        # make the clients and the first token key one after the other, under the key
        # directory's lock: the second finds them made, instead of failing on the
        # clients' keys or adding a second token key.
        MerkleLog(db, KEY_DIRECTORY_LOG, ctx.log_key, now_ms).lock()
        ensure_clients(db, ctx.settings.issuer)
        ctx.keyring.ensure_key(db, ctx.now())
    for name in (KEY_DIRECTORY_LOG, JOURNAL_LOG):
        with ctx.sessions.begin() as db:
            log = MerkleLog(db, name, ctx.log_key, now_ms)
            wanted = f"{ctx.settings.resolved_log_origin()}/{name}"
            kept = log.set_origin(wanted)
            if kept != wanted:
                logger.warning(
                    "the %s log keeps its origin %s (UHS_LOG_ORIGIN asks for %s): clients "
                    "pinned it",
                    name,
                    kept,
                    wanted,
                )
            log.sign_missing_checkpoints()
    with ctx.sessions.begin() as db:
        KeyDirectory(db, ctx).commit_map()
    # Changes a stopped process committed without sequencing their entries.
    sequence_stale(ctx.journal, ctx.now())
