"""Server configuration, read from ``UHS_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from uhealthsec.protocol.signin import ACCESS_TOKEN_LONGEST_SECONDS


class Settings(BaseSettings):
    """Secrets (passwords, keys, tokens, the database URL) are ``SecretStr``: shown
    masked by repr and str, so that printing or logging the settings reveals none."""

    model_config = SettingsConfigDict(env_prefix="UHS_", env_file=".env", extra="ignore")

    #: Where the embedded defaults keep their files (SQLite database, blobs, server key).
    data_dir: Path = Path("var")
    #: SQLAlchemy URL; empty means the SQLite file under ``data_dir``. Secret: it may
    #: hold the database password.
    database_url: SecretStr = SecretStr("")
    #: PostgreSQL connections each process keeps open, and as many more it may open
    #: when busy. SQLAlchemy's default (5 + 10) let fewer requests run at once than
    #: anyio's 40 threads could serve: at most this many, less a few kept for the
    #: journal writer and retries, are admitted (server/admission.py). 10 + 10 per
    #: process: with ``--workers 4``, 80 at most, under PostgreSQL's 100 connections.
    database_pool_size: int = Field(default=10, ge=2, le=100)
    #: Refuse to start (``uhs-server serve`` and ``worker``) while ``uhs-server check``
    #: finds the configuration unfit for production: http, SQLite, a volatile data
    #: directory, secrets readable by others, no mail server.
    production: bool = False
    #: The address clients use (behind a proxy, the proxy's): sets the token issuer and
    #: the passkeys' relying party and origin in one place, unless those are set too.
    public_url: str = ""
    #: The reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (the
    #: client's address for the shield, the rate limits and the journal); anyone else's
    #: are ignored. Loopback by default: nginx on the same host (deploy/nginx).
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    #: Processes ``uhs-server serve`` answers with, on one port (``--workers`` overrides
    #: it). They share everything through the database and the blob store, as do API
    #: processes on other hosts.
    workers: int = Field(default=1, ge=1, le=64)
    #: "text" (for a terminal) or "json": one JSON object per line (time, level,
    #: logger, message, and for a request its id, method, route template, status and
    #: duration), for a log collector.
    log_format: str = Field(default="text", pattern="^(text|json)$")
    #: Public base URL of this server: the token issuer and the OAuth endpoints' base.
    issuer: str = "http://127.0.0.1:8000"
    #: What the server's logs are called in their checkpoints: ``<log_origin>/keys`` and
    #: ``<log_origin>/journal``; empty means the issuer without its scheme. Fixed at the
    #: first start: clients pin it, so a later change is ignored (and logged).
    log_origin: str = ""
    #: WebAuthn relying party: the registrable domain the passkeys are bound to, and the
    #: origins allowed to use them.
    webauthn_rp_id: str = "localhost"
    webauthn_rp_name: str = "U-HealthSec"
    webauthn_origins: list[str] = Field(default_factory=lambda: ["http://localhost:8000"])

    #: Access tokens are short so that a stolen one is useful only briefly (R9); clients
    #: refresh by the longest whatever ``expires_in`` says.
    access_token_seconds: int = Field(default=300, ge=30, le=ACCESS_TOKEN_LONGEST_SECONDS)
    #: A refresh token family (one signed-in device) ends after this long without use.
    refresh_token_days: int = Field(default=30, ge=1, le=90)
    #: Sensitive actions need a second factor proven within this many seconds.
    step_up_seconds: int = Field(default=300, ge=60, le=3600)
    #: How long a login (password then second factor) may take.
    login_seconds: int = Field(default=300, ge=60, le=900)

    #: Argon2id applied by the server to the client's authentication secret. The client
    #: already spent 64 MiB on the password, so the server uses OWASP's lighter profile.
    server_argon2_memory_kib: int = Field(default=19456, ge=19456)
    server_argon2_time_cost: int = Field(default=2, ge=2)

    #: Serve the interactive documentation (``/docs``) and ``/openapi.json``. Turn off
    #: in production if nobody needs them there.
    api_docs: bool = True
    #: A request's head must arrive whole within this many seconds of its first byte.
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    #: At most this many seconds between two reads of a request's body.
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    #: An idle kept-alive connection is closed after this many seconds.
    keep_alive_seconds: int = Field(default=5, ge=1, le=120)

    #: Largest JSON request body accepted, in bytes.
    max_request_bytes: int = Field(default=256 * 1024, ge=16 * 1024)

    #: Largest document upload (an envelope), in bytes.
    max_upload_bytes: int = Field(default=4 * 1024**3, ge=1024 * 1024)
    #: What one account's uploads may occupy in the blob store, attached to documents or
    #: not, in bytes: one account cannot fill the disk for everyone.
    account_upload_quota_bytes: int = Field(default=50 * 1024**3, ge=1024 * 1024)
    #: Where document ciphertext is kept: "filesystem" (under ``data_dir/blobs``) or "s3".
    blob_store: str = Field(default="filesystem", pattern="^(filesystem|s3)$")
    #: S3-compatible object storage; credentials come from the usual AWS variables
    #: unless given here.
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "eu-west-3"
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr = SecretStr("")
    #: A connection to the store must open within this many seconds...
    s3_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    #: ...and each read of an answer (each chunk of a blob streamed to a client
    #: included) get data within this many: a hung store fails the call instead of
    #: holding the request.
    s3_read_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    #: A call that failed on a transient error (a timeout, a 5xx, throttling) is tried
    #: again this many times, with backoff, before the error reaches the request.
    s3_max_retries: int = Field(default=4, ge=0, le=10)
    #: Unfinished uploads older than this are removed by ``uhs-server cleanup``.
    upload_expiry_seconds: int = Field(default=3600, ge=60)
    #: A file due for destruction because of a date recorded less than this long ago
    #: waits (listed by ``uhs-server worker --dry-run``), so that a second person can correct it.
    retention_grace_days: int = Field(default=30, ge=1, le=365)

    #: The shield in front of sign-in and registration. Turn it off only behind an
    #: equivalent defence (or to measure what it does: benchmarks/stuffing.py).
    shield_enabled: bool = True
    #: Budgets on reads of personal data (R27: records resist scraping; docs/PROTOCOL.md
    #: 13.1), past the journal's allowance of 200 a minute per account
    #: (audit/refusals.py): a read past any of them is refused 429 with Retry-After
    #: before anything is shown. Counted in the database, shared by every API process.
    #: A practitioner's busiest day (some 40 consultations, each opening a patient's
    #: file and a few documents, and a new device syncing its inbox) reads well under
    #: a thousand items; an hour of 1,500 never slows it, and a stolen session reads
    #: at most that, not the 12,000 an hour the minute allowance alone would let it.
    reads_per_account_hour: int = Field(default=1500, ge=1)
    #: One network (IPv4 /24, IPv6 /64, as attackers rent them): a practice behind one
    #: address holds a few practitioners, each far under its own allowance; three
    #: accounts' worth a minute and four an hour stop a run of many accounts (stolen or
    #: made for it) from one network, and never a practice's day.
    reads_per_network_minute: int = Field(default=600, ge=1)
    reads_per_network_hour: int = Field(default=6000, ge=1)
    #: Bearer token for the metrics (``GET /metrics``, ``GET /shield/metrics``); without
    #: one they are served to the host itself only (loopback).
    metrics_token: SecretStr = SecretStr("")

    #: Serve the logs' hash tiles (``GET /journal/tile/...``, ``GET /keys/tile/...``;
    #: docs/PROTOCOL.md, section 9.3) to anyone, so that outside verifiers and witnesses
    #: read them without an account; false: to signed-in callers only. They hold hashes
    #: only, but show how many entries each log has.
    public_logs: bool = True

    #: Accounts (addresses) the operator lets read every key-directory entry by index, to
    #: audit the whole log; nobody else can enumerate it (docs/PROTOCOL.md, section 10).
    directory_monitors: list[str] = Field(default_factory=list)

    #: Accounts (addresses) the operator lets open and keep incidents of the breach
    #: register in any practice (``server/incidents/``), beside each practice's admins.
    incident_operators: list[str] = Field(default_factory=list)

    #: Backups (``uhs-server backup``): the recovery key's public half, from
    #: ``uhs-server backup-key new`` (its private half stays offline, with the operator)...
    backup_key: str = ""
    #: ...where they are written: a folder on another volume than the data directory's,
    #: or a second bucket of the S3 endpoint, ``s3://bucket/prefix``...
    backup_to: str = ""
    #: ...and how many are kept there (the oldest are removed after each backup): a file
    #: destroyed at the end of its retention stays in the backups taken before, its
    #: blob and wrapped keys included, until the last of them is removed.
    backup_keep: int = Field(default=14, ge=1, le=400)

    #: Who is responsible for the processing, for the record of processing activities
    #: (``uhs-server processing-record``, GDPR art. 30): the controller's name and
    #: address, a contact, and the data protection officer's contact, if there is one.
    controller_name: str = Field(default="", max_length=300)
    controller_contact: str = Field(default="", max_length=300)
    dpo_contact: str = Field(default="", max_length=300)

    #: Outgoing mail: written as files under ``data_dir/outbox`` unless an SMTP host is set.
    smtp_host: str = ""
    smtp_port: int = 587
    #: Always TLS with the certificate checked: "starttls" (submission, port 587) or
    #: "tls" (implicit TLS, port 465).
    smtp_security: str = Field(default="starttls", pattern="^(starttls|tls)$")
    #: A CA certificate (PEM) to trust for the SMTP server instead of the system's.
    smtp_ca_file: Path | None = None
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    #: Each SMTP operation (connection, handshake, reply) waits at most this long.
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    mail_from: str = "U-HealthSec <no-reply@localhost>"
    #: Mail waits in the outbox until sent: a failed attempt is retried after this many
    #: seconds, then twice as long each time (up to an hour between attempts)...
    mail_retry_seconds: int = Field(default=60, ge=1, le=3600)
    #: ...until this many attempts have failed: the mail is then given up (logged).
    mail_max_attempts: int = Field(default=8, ge=1, le=50)
    #: What is kept of a sent or given-up mail (recipient, subject, dates, never its
    #: text) is deleted by ``uhs-server cleanup`` after this many days.
    mail_keep_days: int = Field(default=7, ge=1, le=90)

    #: OpenID Connect provider for professional login (e-CPS / Pro Santé Connect style).
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr = SecretStr("")
    #: Where the provider sends the browser back; empty means our own callback route.
    oidc_redirect_uri: str = ""
    oidc_scope: str = "openid scope_all"
    #: Authentication context classes accepted from the provider (eIDAS substantial+).
    oidc_acr_values: list[str] = Field(default_factory=lambda: ["eidas2", "eidas3"])
    #: The claim carrying the national professional identifier ("8" + RPPS for PSC).
    oidc_rpps_claim: str = "SubjectNameID"

    @model_validator(mode="after")
    def _from_public_url(self) -> Settings:
        if self.public_url:
            self.use_public_url(self.public_url)
        return self

    def use_public_url(self, public_url: str, *, keep_explicit: bool = True) -> None:
        """Take the issuer, and the passkeys' origin and relying party, from the address
        clients use (what was set explicitly stays, if ``keep_explicit``). Passkeys need a
        name, not an IP address: on this machine they are bound to ``localhost``.

        :raises ValueError: ``public_url`` is not an http(s) address.
        """
        url = urlsplit(public_url.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(
                "the public URL is an http(s) address, such as https://uhs.example.org"
            )
        explicit = self.model_fields_set - {"public_url"} if keep_explicit else set()
        if "issuer" not in explicit:
            self.issuer = urlunsplit((url.scheme, url.netloc, url.path, "", ""))
        named = url.hostname
        try:
            ipaddress.ip_address(named)
            named = "localhost"
        except ValueError:
            pass
        port = f":{url.port}" if url.port else ""
        if "webauthn_rp_id" not in explicit:
            self.webauthn_rp_id = named
        if "webauthn_origins" not in explicit:
            self.webauthn_origins = [f"{url.scheme}://{named}{port}"]

    @cached_property
    def resolved_database_url(self) -> str:
        """The URL to connect with, password included: never log it."""
        return (
            self.database_url.get_secret_value()
            or f"sqlite:///{(self.data_dir / 'uhealthsec.db').resolve()}"
        )

    @property
    def resolved_oidc_redirect_uri(self) -> str:
        return self.oidc_redirect_uri or f"{self.issuer.rstrip('/')}/auth/federated/callback"

    @property
    def server_key_path(self) -> Path:
        return self.data_dir / "server.key"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def upload_dir(self) -> Path:
        """Spool for uploads in progress (on the blob directory's file system)."""
        return self.data_dir / "uploads"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def resolved_log_origin(self) -> str:
        base = self.log_origin or self.issuer.split("://", 1)[-1]
        return base.rstrip("/")
