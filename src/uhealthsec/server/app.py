"""The application factory."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx2
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from uhealthsec import __version__
from uhealthsec.protocol.search import (
    LOOKUP_PATH,
    MAX_LOOKUP_BODY_BYTES,
    MAX_UPDATE_BODY_BYTES,
    UPDATES_PATH,
)
from uhealthsec.server import api_docs, problems, web_app, web_release
from uhealthsec.server.accounts.routes import router as accounts_router
from uhealthsec.server.admission import Admission
from uhealthsec.server.audit.middleware import JournalMiddleware
from uhealthsec.server.audit.read_budgets import ReadBudgets
from uhealthsec.server.audit.routes import router as journal_router
from uhealthsec.server.audit.writer import JournalWriter
from uhealthsec.server.auth.routes import credentials_router, oauth_router
from uhealthsec.server.auth.routes import router as auth_router
from uhealthsec.server.bootstrap import bootstrap
from uhealthsec.server.compliance.routes import router as compliance_router
from uhealthsec.server.consent.routes import invitation_router as invitation_notice_router
from uhealthsec.server.consent.routes import router as consent_router
from uhealthsec.server.context import AppContext
from uhealthsec.server.deps import HEALTH_DATA, Ctx, read_whole_body
from uhealthsec.server.federation.oidc import OidcClient, ProviderConfig
from uhealthsec.server.federation.routes import router as federation_router
from uhealthsec.server.flows.metrics import router as metrics_router
from uhealthsec.server.headers import SecurityHeaders
from uhealthsec.server.idempotency.service import AnswerKept, replayed_answer
from uhealthsec.server.incidents.anomalies.routes import router as anomalies_router
from uhealthsec.server.incidents.routes import router as incidents_router
from uhealthsec.server.keys.routes import router as keys_router
from uhealthsec.server.limits import BodySizeLimit, KnownMethods
from uhealthsec.server.mail.outbox import MailCourier
from uhealthsec.server.mail.transports import Mailer, transport_for
from uhealthsec.server.messaging.routes import router as messaging_router
from uhealthsec.server.observability import RequestMetrics
from uhealthsec.server.records.pending_routes import router as pending_router
from uhealthsec.server.records.routes import UPLOAD_PATH
from uhealthsec.server.records.routes import router as records_router
from uhealthsec.server.retention.routes import router as retention_router
from uhealthsec.server.search.routes import router as search_router
from uhealthsec.server.security.secret_hasher import SecretHasher
from uhealthsec.server.security.tokens import TokenKeyring
from uhealthsec.server.server_key import ServerKey
from uhealthsec.server.settings import Settings
from uhealthsec.server.shield.routes import router as shield_router
from uhealthsec.server.storage import migrate
from uhealthsec.server.storage.blobs import (
    BlobStore,
    FilesystemBlobStore,
    S3BlobStore,
    remove_abandoned_spool_files,
    s3_client_config,
)
from uhealthsec.server.storage.db import make_engine, make_session_factory
from uhealthsec.server.storage.merkle_log import LOG_KEY_PURPOSE, log_signing_key
from uhealthsec.server.storage.types import utcnow
from uhealthsec.server.text_input import refuse_control_characters
from uhealthsec.server.wiring import provide_interfaces

#: Routes anyone may call; every other route requires a valid access token (a test
#: enumerates the application's routes against this list).
PUBLIC_ROUTES = frozenset(
    {
        "/health",
        "/ready",
        "/openapi.json",
        "/docs",
        "/docs/{asset}",
        "/.well-known/oauth-authorization-server",
        "/accounts/registrations",
        "/accounts/email-verifications",
        "/accounts/password-recoveries",
        "/accounts/password-recoveries/proof",
        "/accounts/password-recoveries/completion",
        # The information notice of an invitation's practice, for whoever holds its code
        # (a 192-bit secret): shown before registering by invitation, as before accepting.
        "/invitations/notice",
        "/auth/prelogin",
        "/auth/login",
        "/auth/login/second-factor",
        "/auth/login/webauthn-options",
        "/auth/login/passkey-options",
        "/auth/login/enrol/totp",
        "/auth/login/enrol/totp/confirm",
        "/auth/login/enrol/webauthn-options",
        "/auth/login/enrol/webauthn",
        # The link mailed at a block (R7): its 256-bit token is the proof.
        "/auth/unblock",
        "/oauth/authorize",
        "/oauth/token",
        "/oauth/revoke",
        "/oauth/introspect",
        "/auth/federated/authorize",
        "/auth/federated/callback",
        # The logs' hash tiles and checkpoints, for outside verifiers and witnesses;
        # signed-in callers only with UHS_PUBLIC_LOGS=false.
        "/journal/tile/{tile_path}",
        "/keys/tile/{tile_path}",
        "/journal/checkpoint",
        "/keys/checkpoint",
        # The web release log: the code served to everyone, checked before signing in.
        "/web-release/head",
        "/web-release/assets",
        # The operator's: loopback or the metrics token (settings.metrics_token).
        "/metrics",
        "/shield/metrics",
        "/journal/metrics",
    }
)


log = logging.getLogger("uhealthsec.server")
#: How long GET /ready trusts a store it found reachable before asking it again.
READY_STORE_CHECK_SECONDS = 5.0


class Health(BaseModel):
    status: str
    version: str


def s3_client_for(settings: Settings) -> Any:
    """A client of the S3 endpoint the settings name (the blob store's, and backups')."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id or None,
        aws_secret_access_key=settings.s3_secret_access_key.get_secret_value() or None,
        config=s3_client_config(
            connect_timeout=settings.s3_connect_timeout_seconds,
            read_timeout=settings.s3_read_timeout_seconds,
            max_retries=settings.s3_max_retries,
        ),
    )


def blob_store_for(settings: Settings) -> BlobStore:
    if settings.blob_store == "s3":
        return S3BlobStore(s3_client_for(settings), settings.s3_bucket)
    return FilesystemBlobStore(settings.blob_dir)


def build_context(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    mailer: Mailer | None = None,
    migrate_schema: bool = True,
) -> AppContext:
    # The operator sees the configuration in force; secrets show masked (SecretStr).
    log.info("starting with %r", settings)
    url = settings.resolved_database_url
    # SQLite's pool is sized in make_engine (a connection per thread of the process);
    # PostgreSQL's is a setting (settings.py: why SQLAlchemy's default is too small).
    pool: dict[str, Any] = {}
    if not url.startswith("sqlite"):
        size = settings.database_pool_size
        pool = {"pool_size": size, "max_overflow": size}
    engine = make_engine(url, **pool)
    if settings.resolved_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    if migrate_schema:
        migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    # What uploads interrupted by a crash of this or another process left (up to
    # UHS_MAX_UPLOAD_BYTES each); uploads in progress elsewhere keep their files.
    abandoned = remove_abandoned_spool_files(settings.upload_dir)
    if abandoned:
        log.info("removed %d spool file(s) of uploads interrupted by a crash", abandoned)
    server_key = ServerKey.load_or_create(
        settings.server_key_path, os.environ.get("UHS_SERVER_KEY")
    )
    # The journal and the key directory share the server's log key.
    log_key = log_signing_key(server_key.derive(LOG_KEY_PURPOSE))
    ctx = AppContext(
        settings=settings,
        engine=engine,
        sessions=sessions,
        server_key=server_key,
        hasher=SecretHasher(settings.server_argon2_memory_kib, settings.server_argon2_time_cost),
        mail=MailCourier(sessions, mailer or transport_for(settings), settings, clock),
        keyring=TokenKeyring(sessions, server_key, settings.access_token_seconds),
        blobs=blob_store_for(settings),
        log_key=log_key,
        journal=JournalWriter(sessions, log_key, clock),
        clock=clock,
    )
    ctx.journal.batch_observer = ctx.metrics.journal_batch
    ctx.journal.read_budgets = ReadBudgets.of(settings, server_key.mac)
    ctx.metrics.watch_journal_queue(ctx.journal.queue_depth)
    if settings.oidc_issuer:
        ctx.oidc = OidcClient(
            ProviderConfig(
                issuer=settings.oidc_issuer,
                client_id=settings.oidc_client_id,
                client_secret=settings.oidc_client_secret,
                redirect_uri=settings.resolved_oidc_redirect_uri,
                scope=settings.oidc_scope,
                acr_values=tuple(settings.oidc_acr_values),
                rpps_claim=settings.oidc_rpps_claim,
            ),
            httpx2.Client(timeout=10.0, follow_redirects=False),
        )
    provide_interfaces(ctx)
    bootstrap(ctx)
    return ctx


@dataclass(frozen=True)
class ServedApi:
    """The application factory uvicorn calls in each process that serves the API
    (``uhs-server serve``, each of its ``--workers``): every process has its own
    context (database pool, journal writer, metrics) from the settings the command
    resolved, and shares nothing with the others but the database and the blob store.
    Picklable without ``built``: uvicorn sends it to the worker processes it starts."""

    settings: Settings
    #: The context the command built, served as it is when it is the only process.
    built: AppContext | None = None

    def __call__(self) -> FastAPI:
        return create_app(ctx=self.built or build_context(self.settings))


#: Endpoints are module functions reading the application's state, never closures over
#: its context: FastAPI keeps every endpoint it classified in process-wide caches (4,096
#: entries each), so a closure would keep each application made in the process, with its
#: database engine and keys, long after it was dropped (every test makes one).
operations_router = APIRouter(tags=["operations"])


# Asynchronous, and nothing but the process: it answers when every worker thread is busy
# (downloads waiting on a hung store, requests waiting for a database connection), and
# never asks the database or the blob store.
@operations_router.get("/health", response_model=Health)
async def health() -> Health:
    """Liveness: the process is up and serving."""
    return Health(status="ok", version=__version__)


@operations_router.get("/ready", response_model=Health)
def ready(request: Request, ctx: Ctx) -> Health | JSONResponse:
    """Readiness: the database answers and the blob store can be written (for a
    load balancer: send this process requests). 503 problem+json otherwise."""
    with ctx.sessions() as db:
        db.execute(text("SELECT 1"))  # a failure is answered 503 (problems.py)
    # Anyone may probe: a store found reachable is not asked again (an S3 request
    # each) for a few seconds; one that failed is asked at every probe.
    state = request.app.state
    if time.monotonic() >= state.store_checked_until:
        try:
            ctx.blobs.check_reachable()
        except Exception as exc:  # any failure of the store: this process is not ready
            return problems.unavailable("document store", exc)
        state.store_checked_until = time.monotonic() + READY_STORE_CHECK_SECONDS
    return Health(status="ready", version=__version__)


def create_app(settings: Settings | None = None, *, ctx: AppContext | None = None) -> FastAPI:
    if ctx is None:
        ctx = build_context(settings or Settings())
    docs = ctx.settings.api_docs
    app = FastAPI(
        title="U-HealthSec",
        version=__version__,
        description="End-to-end encrypted document exchange for health practitioners.",
        # Swagger UI is served from this server's own files (api_docs.py); no ReDoc.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        # Every route: the whole body is read before anything takes the request's
        # digest (server/deps.py); text input holding NUL or another control character
        # is refused at the edge (server/text_input.py), never passed on to a service.
        dependencies=[Depends(read_whole_body), Depends(refuse_control_characters)],
    )
    app.state.ctx = ctx
    app.state.admission = Admission(ctx.engine)
    problems.install(app)
    app.add_exception_handler(AnswerKept, replayed_answer)  # type: ignore[arg-type]
    if docs:
        api_docs.install(app)
    app.add_middleware(JournalMiddleware, writer=ctx.journal, clock=ctx.now)
    # Around the journal: its own database failures answered as problems too.
    app.add_middleware(problems.InfrastructureFailures)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=ctx.settings.max_request_bytes,
        larger={
            UPLOAD_PATH: ctx.settings.max_upload_bytes,
            # A search update carries the client's sealed state; a lookup, up to a
            # keyword's every label (protocol/search.py).
            UPDATES_PATH: MAX_UPDATE_BODY_BYTES,
            LOOKUP_PATH: MAX_LOOKUP_BODY_BYTES,
        },
    )
    # Before the journal: a made-up method is refused, never drafted as an entry.
    app.add_middleware(KnownMethods)
    # Outermost: every response carries them, the size limit's refusals included.
    app.add_middleware(SecurityHeaders, hsts=ctx.settings.issuer.startswith("https://"))
    # Around everything: each request timed and counted, whatever answered it.
    app.add_middleware(RequestMetrics, metrics=ctx.metrics)

    app.state.store_checked_until = 0.0
    app.include_router(operations_router)
    app.include_router(accounts_router)
    app.include_router(credentials_router)
    app.include_router(auth_router)
    app.include_router(oauth_router)
    app.include_router(federation_router)
    app.include_router(consent_router, dependencies=[HEALTH_DATA])
    app.include_router(invitation_notice_router)
    app.include_router(keys_router)
    app.include_router(records_router, dependencies=[HEALTH_DATA])
    app.include_router(pending_router, dependencies=[HEALTH_DATA])
    app.include_router(retention_router, dependencies=[HEALTH_DATA])
    app.include_router(messaging_router, dependencies=[HEALTH_DATA])
    app.include_router(search_router, dependencies=[HEALTH_DATA])
    app.include_router(incidents_router, dependencies=[HEALTH_DATA])
    app.include_router(anomalies_router, dependencies=[HEALTH_DATA])
    app.include_router(compliance_router)
    app.include_router(journal_router)
    app.include_router(shield_router)
    app.include_router(metrics_router)
    web_app.install(app)
    web_release.install(app, ctx)
    return app
