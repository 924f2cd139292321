"""The ``uhs-server`` command line: what the server's operator runs where the server
runs (the API, its jobs, maintenance, witnesses, vouching for practitioners). The
server's modules are imported by each command, so that ``uhs-server --help`` is quick."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.filesize import decimal
from rich.table import Table

from uhealthsec import __version__
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode
from uhealthsec.terminal import (
    Refused,
    add_completion_command,
    answer_completion,
    command_line,
    with_version_option,
)

if TYPE_CHECKING:
    from uhealthsec.server.settings import Settings

T = TypeVar("T")

app = command_line(
    help="U-HealthSec's server: the API, its jobs and the operator's commands.",
    no_args_is_help=True,
)
with_version_option(app)
console = Console(highlight=False)


@app.command()
def worker(
    once: bool = typer.Option(False, "--once", help="One round, then stop."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="List the files whose retention ended; destroy nothing."
    ),
    interval: int = typer.Option(3600, min=60, help="Seconds between rounds.", metavar="SECONDS"),
    mail_interval: int = typer.Option(
        15, min=1, help="Seconds between two looks for mail to send or retry.", metavar="SECONDS"
    ),
) -> None:
    """Server jobs: journal the changes a stopped process left staged, run the anomaly
    rules over the journal's new entries (R22), send the mail waiting in the outbox
    (retries included), destroy files at the end of their legal retention
    (crypto-shredding), then the maintenance of `uhs-server cleanup`. Several workers
    may run at once."""
    from uhealthsec.server.app import build_context
    from uhealthsec.server.logs import configure_logging
    from uhealthsec.server.retention.service import purge

    settings = _fit_settings()
    configure_logging(settings.log_format)
    ctx = build_context(settings)
    try:
        next_round = time.monotonic()
        while True:
            today = ctx.now().date()
            if dry_run:
                due = purge(ctx, today, dry_run=True)
                table = Table(title=f"Retention ended before {today.isoformat()}")
                columns = (
                    "Patient file",
                    "Practice",
                    "Kept until",
                    "Rule",
                    "Documents",
                    "Destroyed",
                )
                for column in columns:
                    table.add_column(column)
                for item in due:
                    # A date recorded recently waits its grace period: it may be corrected.
                    waits = item.destroyable_from > today
                    table.add_row(
                        str(item.patient_file_id),
                        str(item.practice_id),
                        item.keep_until.isoformat(),
                        item.basis,
                        f"{item.documents} ({decimal(item.bytes)})",
                        f"waits until {item.destroyable_from.isoformat()}" if waits else "now",
                    )
                console.print(table)
                return
            failed: list[str] = []

            staged = _run(ctx, failed, "journal", partial(_sequence_journal, ctx))
            if staged:
                console.print(staged)
            # Before the mail, so that an alert's mail leaves in the same round.
            alerts = _run(ctx, failed, "anomalies", partial(_evaluate_anomalies, ctx))
            if alerts:
                console.print(alerts)
            mail = _run(ctx, failed, "mail", partial(_deliver_mail, ctx))
            if mail or once:
                console.print(mail or "No mail waiting.")
            if time.monotonic() >= next_round:
                with console.status("Destroying files whose retention ended…"):
                    destroyed = _run(ctx, failed, "retention", partial(purge, ctx, today))
                maintained = _run(ctx, failed, "maintenance", partial(_maintain, ctx))
                if destroyed is not None:
                    console.print(
                        f"{len(destroyed)} file(s) destroyed at the end of their retention."
                    )
                if maintained is not None:
                    console.print(f"Maintenance: {maintained}")
                next_round = time.monotonic() + interval
            if failed:
                console.print(
                    f"[red]Failed:[/red] {', '.join(failed)} (see the log); the next round "
                    "tries again."
                )
            if once:
                if failed:
                    raise typer.Exit(1)
                return
            # Mail is looked for often: a confirmation code is waited for.
            time.sleep(max(0.0, min(mail_interval, next_round - time.monotonic())))
    finally:
        ctx.close()


def _run(ctx: Any, failed: list[str], job: str, work: Callable[[], T]) -> T | None:
    """``work``'s result as the job ``job``, recorded; None, and ``job`` added to
    ``failed``, if it failed."""
    from uhealthsec.server.jobs.service import run_job

    result = run_job(ctx, job, work)
    if result is None:
        failed.append(job)
    return result


class JournalBehind(Exception):
    """Staged journal entries outlived a sweep meant to sequence them."""


def _sequence_journal(ctx: Any) -> str:
    """Journal the changes whose process could not (it stopped between committing a
    change and sequencing its entry)."""
    from uhealthsec.server.audit.outbox import STALE_AFTER, sequence_stale, staged_lag

    now = ctx.now()
    count = sequence_stale(ctx.journal, now)
    # The sweep logs and stops on a batch the journal cannot take: what it left is
    # the job's failure.
    with ctx.sessions() as db:
        if staged_lag(db, now).oldest_seconds > STALE_AFTER.total_seconds():
            raise JournalBehind(f"entries staged before {STALE_AFTER} ago remain")
    return f"{count} staged journal entr{'y' if count == 1 else 'ies'} sequenced." if count else ""


def _evaluate_anomalies(ctx: Any) -> str:
    """Run the anomaly rules (R22) over the entries appended since the last round,
    a batch at a time until caught up (bounded: the next round goes on)."""
    from uhealthsec.server.incidents.anomalies.service import BATCH, AnomalyService

    entries = opened = 0
    for _ in range(10):
        with ctx.sessions.begin() as db:
            done = AnomalyService(db, ctx).evaluate()
        entries, opened = entries + done.entries, opened + done.opened
        if done.entries < BATCH:
            break
    return f"{opened} anomaly alert(s) opened over {entries} journal entries." if opened else ""


def _deliver_mail(ctx: Any) -> str:
    """Send the mail due now; what happened, or nothing if there was none."""
    done = ctx.mail.deliver_due()
    if not (done.sent or done.deferred or done.given_up):
        return ""
    return (
        f"{done.sent} mail(s) sent, {done.deferred} to be retried, "
        f"{done.given_up} given up (see the log)."
    )


def _maintain(ctx: Any) -> str:
    from uhealthsec.server.audit.service import JournalService
    from uhealthsec.server.auth.recovery import PasswordRecoveries
    from uhealthsec.server.auth.service import account_addresses, purge_finished_sign_ins
    from uhealthsec.server.federation.service import FederationService
    from uhealthsec.server.idempotency.service import purge_expired
    from uhealthsec.server.incidents.service import IncidentService
    from uhealthsec.server.keys.service import KeyDirectory
    from uhealthsec.server.mail.outbox import MailOutbox
    from uhealthsec.server.records.service import RecordsService
    from uhealthsec.server.shield.service import Shield

    with ctx.sessions.begin() as db:
        removed = RecordsService(db, ctx).collect_unfinished_uploads()
        purged = JournalService(db, ctx).purge_network_data(ctx.now())
        forgotten = Shield(db, ctx).purge(account_addresses(db))
        mails = MailOutbox(db, ctx).purge()
        keys = purge_expired(db, ctx.now())
        misses = KeyDirectory(db, ctx).purge_misses()
        recoveries = PasswordRecoveries(db, ctx).purge()
        sign_ins = purge_finished_sign_ins(db, ctx.now()) + FederationService(db, ctx).purge()
    # Apart: a purge that fails must not hold back a breach's deadline reminder.
    with ctx.sessions.begin() as db:
        reminders = IncidentService(db, ctx).send_reminders()
    return (
        f"removed {removed} unfinished upload(s), {purged} expired connection record(s), "
        f"{forgotten} stale shield record(s), {mails} record(s) of mail sent or given up, "
        f"{keys} idempotency key(s) past their day, {misses} past hour(s) of directory "
        f"lookups without keys, {recoveries} finished password "
        f"recovery(ies) and {sign_ins} finished sign-in record(s); sent {reminders} "
        "breach notification reminder(s)."
    )


# -- server -------------------------------------------------------------------------------


def _settings(*, init: bool = False, restoring: bool = False) -> Settings:
    """The settings in force, the data directory made absolute. A data directory that
    does not exist is created only with ``--init`` (``uhs-server serve``): a server
    started from another folder, or given a mistyped path or an unmounted disk, must
    not start afresh, empty, beside the real one. A restore makes its own."""
    from pydantic import ValidationError

    from uhealthsec.server.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        # Each error names its variable and rule, never the value (it may be a secret).
        wrong = "; ".join(
            f"{'UHS_' + '_'.join(map(str, e['loc'])).upper() if e['loc'] else 'UHS_*'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise Refused(f"the settings are not valid: {wrong}") from None
    configured = "data_dir" in settings.model_fields_set  # before the assignment below sets it
    settings.data_dir = settings.data_dir.expanduser().resolve()
    if not settings.data_dir.is_dir() and not restoring:
        if not init:
            where = "UHS_DATA_DIR" if configured else "the default, var/ in the current folder"
            raise Refused(
                f"there is no data directory at {settings.data_dir} ({where}). Start the "
                "server from its folder or set UHS_DATA_DIR to its data; to start a new, "
                "empty server there, run `uhs-server serve --init`."
            )
        # Its owner only: it holds the server's key, and the database of the embedded defaults.
        settings.data_dir.mkdir(parents=True, mode=0o700)
        console.print(f"Created {settings.data_dir}: a new, empty server.")
    return settings


def public_address(settings: Settings, host: str, port: int, public_url: str | None) -> None:
    """Where clients reach this server: the token issuer, and the origin and relying
    party of passkeys, all from one address. ``--public-url`` sets it (behind a proxy);
    otherwise the address listened on, unless UHS_PUBLIC_URL or UHS_ISSUER configures it."""
    if public_url is None and settings.model_fields_set & {"issuer", "public_url"}:
        return
    if public_url is None:
        local = host in ("127.0.0.1", "0.0.0.0", "::", "localhost")  # noqa: S104
        public_url = f"http://{'127.0.0.1' if local else host}:{port}"
    try:
        settings.use_public_url(public_url, keep_explicit=False)
    except ValueError as exc:
        raise Refused(
            "--public-url is an http(s) address, such as https://uhs.example.org"
        ) from exc


def _print_locations(settings: Settings) -> None:
    from uhealthsec.server.deployment import data_locations

    for what, where in data_locations(settings):
        console.print(f"{what}: {where}", markup=False, soft_wrap=True)


def _refuse_if_unfit(settings: Settings) -> None:
    """With UHS_PRODUCTION, no start while ``uhs-server check`` finds a problem."""
    from uhealthsec.server.deployment import production_problems

    if not settings.production:
        return
    problems = production_problems(settings)
    for problem in problems:
        console.print(f"- {problem.setting}: {problem.problem}", markup=False, soft_wrap=True)
    if problems:
        raise Refused(
            f"UHS_PRODUCTION is set and the configuration has {len(problems)} "
            "problem(s), listed above: fix them, then start again"
        )


def _fit_settings() -> Settings:
    settings = _settings()
    _refuse_if_unfit(settings)
    return settings


@app.command()
def check() -> None:
    """Whether this configuration (the UHS_* environment and .env) is fit for production,
    and where this server keeps its data. Exit status 1 while a problem remains."""
    from uhealthsec.server.deployment import production_problems

    settings = _settings()
    _print_locations(settings)
    problems = production_problems(settings)
    if not problems:
        console.print("Fit for production: no problem found.")
        return
    console.print("Not fit for production:")
    for problem in problems:
        console.print(f"- {problem.setting}: {problem.problem}", markup=False, soft_wrap=True)
    raise Refused(f"{len(problems)} problem(s) to fix before a production start")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on.", metavar="ADDRESS"),
    port: int = typer.Option(8000, help="Port to listen on.", metavar="PORT"),
    public_url: str | None = typer.Option(
        None,
        "--public-url",
        metavar="URL",
        help="The address clients use, if not the one listened on (behind a proxy): "
        "the token issuer and the passkeys' origin.",
    ),
    init: bool = typer.Option(
        False, "--init", help="Create the data directory if there is none: a new server."
    ),
    demo: bool = typer.Option(
        False, "--demo", help="Create a demo practice (two practitioners, a patient)."
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        max=64,
        metavar="N",
        help="Processes answering on this port (default UHS_WORKERS, 1). They share "
        "everything through the database and the blob store.",
    ),
) -> None:
    """Start the API server."""
    from uhealthsec.server.app import ServedApi, build_context
    from uhealthsec.server.demo import DEMO_PASSWORD, PRACTICE_NAME, ensure_demo_practice
    from uhealthsec.server.logs import configure_logging
    from uhealthsec.server.web_app import WEB_ASSETS

    settings = _settings(init=init)
    if workers is not None:
        settings.workers = workers
    configure_logging(settings.log_format)
    public_address(settings, host, port, public_url)
    _refuse_if_unfit(settings)
    _print_locations(settings)
    # Here once, before any worker starts: the schema's migrations and the first
    # start's keys and clients (the workers find them done).
    ctx = build_context(settings)
    try:
        if demo:
            with console.status("Preparing the demo practice…"):
                people = ensure_demo_practice(ctx)
            table = Table(title=f"{PRACTICE_NAME} — password for all: {DEMO_PASSWORD!r}")
            table.add_column("Account", no_wrap=True)
            table.add_column("Name")
            table.add_column("Authenticator key (TOTP)", no_wrap=True)
            for person in people:
                table.add_row(person.email, person.name, person.totp_secret)
            console.print(table)
            console.print("A code for sign-in: oathtool --totp -b <authenticator key>")
    except BaseException:
        ctx.close()
        raise
    alone = settings.workers == 1
    if not alone:
        ctx.close()  # each worker builds its own
    processes = "" if alone else f" ({settings.workers} processes)"
    console.print(
        f"U-HealthSec {__version__} listening on http://{host}:{port}{processes}; passkeys "
        f"for {', '.join(settings.webauthn_origins)}.",
        soft_wrap=True,
    )
    if (WEB_ASSETS / "index.html").is_file():
        console.print(f"In a browser: {settings.issuer}/", markup=False, soft_wrap=True)
    console.print("For the command line:")
    console.print(f"export UHS_SERVER={settings.issuer}", markup=False, soft_wrap=True)
    _run_api(ServedApi(settings, ctx if alone else None), host, port)


#: How long a worker may go without answering its supervisor before it is replaced.
WORKER_HEALTHCHECK_SECONDS = 30


def serving_config(api: Any, host: str, port: int) -> Any:
    """The uvicorn configuration of ``uhs-server serve``: ``api`` (a factory of the
    application) in ``settings.workers`` processes on one socket. uvicorn sends it to
    each worker, which applies its logging configuration again."""
    from uhealthsec.server.listener import uvicorn_config
    from uhealthsec.server.logs import logging_config

    settings = api.settings
    return uvicorn_config(
        api,
        host=host,
        port=port,
        settings=settings,
        factory=True,
        workers=settings.workers,
        log_config=logging_config(settings.log_format),
        log_level=None,  # the levels are log_config's
        access_log=settings.log_format == "text",
        # A worker answers the supervisor's pings once it has imported the server, which
        # takes seconds on a busy machine: 5 s (uvicorn's default) killed starting ones.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )


def _run_api(api: Any, host: str, port: int) -> None:
    import os
    import shutil
    import tempfile

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from uhealthsec.server.observability import MULTIPROCESS_DIR

    config = serving_config(api, host, port)
    if config.workers == 1:
        uvicorn.Server(config).run()
        return
    # The workers' metrics, summed by whichever answers GET /metrics: a folder of this
    # server's own, empty at start (observability.py).
    metrics = tempfile.mkdtemp(prefix="uhs-metrics-")
    os.environ[MULTIPROCESS_DIR] = metrics
    try:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        shutil.rmtree(metrics, ignore_errors=True)


witnesses_app = command_line(
    help="The journal's witnesses: only the keys listed here may countersign."
)
app.add_typer(witnesses_app, name="witnesses")


def _server_journal(work: Callable[[Any], str]) -> None:
    """Run ``work`` on the server's journal service in one transaction; print its result."""
    from uhealthsec.server.app import build_context
    from uhealthsec.server.audit.service import JournalService

    ctx = build_context(_settings())
    try:
        with ctx.sessions.begin() as db:
            message = work(JournalService(db, ctx))
    finally:
        ctx.close()
    console.print(message)


def _witness_key(public_key: str) -> bytes:
    try:
        key = b64u_decode(public_key.strip())
    except ValueError as exc:
        raise Refused("the witness key is base64url") from exc
    if len(key) != 32:
        raise Refused("a witness key is an Ed25519 public key of 32 bytes")
    return key


@witnesses_app.command("add")
def witnesses_add(
    public_key: Annotated[str, typer.Argument(help="The witness's public key (base64url).")],
    name: Annotated[
        str,
        typer.Option(
            help="Who the witness is, as the key name of its cosignatures: no spaces "
            "(e.g. audit.example.org/journal-witness).",
            metavar="NAME",
        ),
    ],
    account: Annotated[
        str, typer.Option(help="The e-mail of the account the witness uses.", metavar="EMAIL")
    ],
) -> None:
    """List a witness whose countersignatures the journal accepts."""
    from uhealthsec.server.errors import ServiceError

    key = _witness_key(public_key)

    def add(journal: Any) -> str:
        try:
            return f"Witness {journal.list_witness(key, name, account).name!r} listed."
        except ServiceError as exc:
            raise Refused(exc.detail) from exc

    _server_journal(add)


@witnesses_app.command("remove")
def witnesses_remove(
    public_key: Annotated[str, typer.Argument(help="The witness's public key (base64url).")],
) -> None:
    """Accept no more countersignatures from a witness (those it made stay)."""
    from uhealthsec.server.errors import ServiceError

    key = _witness_key(public_key)

    def remove(journal: Any) -> str:
        try:
            journal.unlist_witness(key)
        except ServiceError as exc:
            raise Refused(exc.detail) from exc
        return "Witness removed."

    _server_journal(remove)


@witnesses_app.command("list")
def witnesses_list() -> None:
    """The witnesses whose countersignatures the journal accepts."""

    def show(journal: Any) -> str:
        found = journal.witnesses()
        lines = [f"{b64u_encode(w.witness_key)}  {w.name}" for w in found]
        return "\n".join(lines) or "No witness is listed."

    _server_journal(show)


@app.command()
def cleanup(
    check: bool = typer.Option(
        False,
        "--check",
        help="Remove nothing: list the stored documents' contents (blobs) that the "
        "database lists but the document store no longer holds, and exit with status 1 "
        "if there is any.",
    ),
) -> None:
    """Server maintenance: remove uploads never attached to a document, connection
    data (IP addresses) older than the CNIL retention, the shield's counters that no
    decision needs any more, what is kept of mail sent or given up (after
    UHS_MAIL_KEEP_DAYS), and finished password recoveries, sign-ins, passkey
    challenges and e-CPS round trips; and mail the practice admins whose breach is
    48 or 66 hours old and not yet notified to the CNIL."""
    from uhealthsec.server.app import build_context

    ctx = build_context(_settings())
    try:
        if check:
            _check_content(ctx)
            return
        message = _maintain(ctx)
    finally:
        ctx.close()
    console.print(message[0].upper() + message[1:])


class RecordFormat(StrEnum):
    MARKDOWN = "markdown"
    JSON = "json"


@app.command("processing-record")
def processing_record(
    output_format: Annotated[
        RecordFormat, typer.Option("--format", help="markdown (for people) or json (for tools).")
    ] = RecordFormat.MARKDOWN,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write it to FILE instead of the terminal.", metavar="FILE"
        ),
    ] = None,
) -> None:
    """The record of processing activities (GDPR art. 30): what this server processes,
    why, on which legal basis, for whom and how long, and how it is protected, from the
    code's declarations and this server's settings (UHS_CONTROLLER_NAME,
    UHS_CONTROLLER_CONTACT, UHS_DPO_CONTACT). What is not set is marked NOT SET."""
    import json
    from datetime import UTC, datetime

    from uhealthsec.server.compliance.service import record_of_processing, to_markdown

    record = record_of_processing(_settings(), datetime.now(UTC))
    text = (
        json.dumps(record, indent=2, ensure_ascii=False) + "\n"
        if output_format is RecordFormat.JSON
        else to_markdown(record)
    )
    if output is None:
        print(text, end="")
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"Written to {output}.")


def _check_content(ctx: Any) -> None:
    from uhealthsec.server.records.service import missing_content

    lost = missing_content(ctx)
    for blob in lost:
        state = "attached" if blob.attached_at is not None else "unattached upload"
        console.print(
            f"missing  {blob.id}  {blob.size} bytes  {state}  created {blob.created_at:%Y-%m-%d}",
            markup=False,
            highlight=False,
        )
    if lost:
        console.print(
            f"{len(lost)} blob(s) listed by the database are missing from the document "
            "store: restore them from a backup of the store (their downloads answer 502)."
        )
        raise typer.Exit(1)
    console.print("Every blob the database lists is in the document store.")


backup_key_app = command_line(
    help="The operator's recovery key: backups are sealed to it (UHS_BACKUP_KEY)."
)
app.add_typer(backup_key_app, name="backup-key")


@backup_key_app.command("new")
def backup_key_new(
    output: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Where to write the private half (mode 600): then keep it offline.",
            metavar="FILE",
        ),
    ],
) -> None:
    """Make a recovery key: the private half is written to FILE, once; the public half
    is printed, for UHS_BACKUP_KEY. Without the private half no backup can be restored."""
    from uhealthsec.server.backup import BackupRefused, new_recovery_key

    try:
        public = new_recovery_key(output)
    except BackupRefused as exc:
        raise Refused(str(exc)) from exc
    console.print(
        f"The private half is in {output}: store it offline (a safe, two copies), then "
        "remove it from this machine. Set in the server's settings:",
        markup=False,
        soft_wrap=True,
    )
    print(f"UHS_BACKUP_KEY={public}")


@app.command()
def backup(
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="A folder, or s3://bucket/prefix (default: UHS_BACKUP_TO).",
            metavar="WHERE",
        ),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep",
            min=1,
            help="Backups kept there, the oldest removed (default: UHS_BACKUP_KEEP).",
            metavar="N",
        ),
    ] = None,
) -> None:
    """Back up the database, the blobs it lists and the server key, sealed to the
    recovery key (UHS_BACKUP_KEY), as a new backup in WHERE."""
    from uhealthsec.server.app import blob_store_for
    from uhealthsec.server.backup import BackupRefused, location_for
    from uhealthsec.server.backup import backup as write_backup

    settings = _settings()
    destination = to or settings.backup_to
    if not destination:
        raise Refused("where to? --to WHERE, or set UHS_BACKUP_TO")
    try:
        done = write_backup(
            settings,
            blob_store_for(settings),
            location_for(settings, destination),
            keep=keep or settings.backup_keep,
        )
    except BackupRefused as exc:
        raise Refused(str(exc)) from exc
    console.print(
        f"Backed up to {done.where}: the database, {done.blobs} blob(s) and the server "
        f"key, {decimal(done.size)} sealed to the recovery key.",
        markup=False,
        soft_wrap=True,
    )
    for where in done.removed:
        console.print(f"Removed the older backup {where}.", markup=False, soft_wrap=True)


#: The options naming a backup and the key that opens it (restore, restore-drill).
BackupSource = Annotated[
    str,
    typer.Option(
        "--from",
        help="The backup: its folder, or s3://bucket/prefix/uhs-backup-…",
        metavar="BACKUP",
    ),
]
BackupKey = Annotated[
    Path,
    typer.Option("--backup-key", help="The recovery key's private half.", metavar="FILE"),
]


@app.command()
def restore(
    source: BackupSource,
    backup_key: BackupKey,
) -> None:
    """Restore a backup into this configuration's data directory, database and blob
    store, which must be empty; every part is checked before anything is written."""
    from uhealthsec.server.app import blob_store_for
    from uhealthsec.server.backup import BackupRefused, backup_at, read_recovery_key
    from uhealthsec.server.backup import restore as restore_backup

    settings = _settings(restoring=True)
    try:
        key = read_recovery_key(backup_key)
        store = blob_store_for(settings) if settings.blob_store == "s3" else None
        location, name = backup_at(settings, source)
        done = restore_backup(settings, location, name, key, store)
    except BackupRefused as exc:
        raise Refused(str(exc)) from exc
    console.print(
        f"Restored the backup of {done.created_at}: the {done.database} database, "
        f"{done.blobs} blob(s) and the server key. Start the server; devices verify its "
        "journal against what they pinned before.",
        markup=False,
        soft_wrap=True,
    )


@app.command("restore-drill")
def restore_drill(
    source: BackupSource,
    backup_key: BackupKey,
) -> None:
    """Check that a backup restores, without touching this server: it opens with the
    recovery key, every part is intact and decrypts. Journaled, as the compliance
    dashboard's last restore drill."""
    from uhealthsec.server.app import build_context
    from uhealthsec.server.audit.outbox import stage_entry
    from uhealthsec.server.backup import BackupRefused, backup_at, drill, read_recovery_key
    from uhealthsec.server.compliance.dashboard import drill_entry

    settings = _settings()
    try:
        key = read_recovery_key(backup_key)
        location, name = backup_at(settings, source)
        done = drill(settings, location, name, key)
    except BackupRefused as exc:
        raise Refused(str(exc)) from exc
    ctx = build_context(settings)
    try:
        with ctx.sessions.begin() as db:
            staged = stage_entry(db, drill_entry(ctx), ctx.now())
        ctx.journal.append(staged)
    finally:
        ctx.close()
    console.print(
        f"The backup of {done.created_at} opens with this recovery key: its {done.database} "
        f"database, {done.blobs} blob(s) and the server key are intact and decrypt. "
        "Journaled as a restore drill.",
        markup=False,
        soft_wrap=True,
    )


@app.command("verify-practitioner")
def verify_practitioner(
    email: str = typer.Argument(..., help="The practitioner's address."),
) -> None:
    """Server operation: vouch for a practitioner's professional identity, where no e-CPS
    provider is configured. Until verified, a practitioner cannot act on health data."""
    from uhealthsec.server.accounts.service import AccountService
    from uhealthsec.server.app import build_context
    from uhealthsec.server.errors import ServiceError

    ctx = build_context(_settings())
    try:
        with ctx.sessions.begin() as db:
            account = AccountService(db, ctx).verify_practitioner_by_operator(email)
            name = account.display_name
    except ServiceError as exc:
        raise Refused(exc.detail) from exc
    finally:
        ctx.close()
    console.print(f"{name} ({email}) is now a verified practitioner.")


add_completion_command(app, "uhs-server")


def main() -> None:
    answer_completion("uhs-server")
    app()


if __name__ == "__main__":
    main()
