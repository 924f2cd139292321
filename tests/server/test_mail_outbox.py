"""Mail through the outbox: a request's mail is a row of the request's own transaction,
delivered after it commits. A mail server that is down, mute or unproven delays the
mail, never the answer; the worker retries it, and sends each mail once."""

from __future__ import annotations

import logging
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, update

from tests.server.smtp_server import SmtpServer, server_tls
from tests.server_fixtures import BASE_URL, FAST_ARGON2, PASSWORD, Clock, Outbox, make_settings
from tests.serving import run_worker
from uhealthsec.client.api import AuthClient
from uhealthsec.crypto.keystore import create_keystore
from uhealthsec.server.accounts.models import AccountKind
from uhealthsec.server.accounts.service import AccountService, RegistrationRequest
from uhealthsec.server.app import build_context, create_app
from uhealthsec.server.context import AppContext
from uhealthsec.server.errors import InvalidInput
from uhealthsec.server.mail.models import OutboxMail
from uhealthsec.server.mail.outbox import Delivery, MailCourier, MailOutbox
from uhealthsec.server.mail.transports import FileMailer
from uhealthsec.server.shield.service import Attempt
from uhealthsec.server.storage.db import make_engine, make_session_factory, transaction

SMTP_PASSWORD = "smtp-password-never-in-clear"


def mails(ctx: AppContext) -> list[OutboxMail]:
    with ctx.sessions() as db:
        return list(db.scalars(select(OutboxMail).order_by(OutboxMail.created_at)))


def the_mail(ctx: AppContext, to: str) -> OutboxMail:
    [mail] = [m for m in mails(ctx) if m.recipient == to]
    return mail


def code_in(text: str) -> str:
    match = re.search(r"code: (\S+)", text)
    assert match, "no code in the mail"
    return match.group(1)


def register(sdk: AuthClient, address: str) -> None:
    """A registration through the API: the SDK raises unless it was answered 2xx."""
    sdk.register(address, PASSWORD, "Alice Martin", "patient", params=FAST_ARGON2.with_new_salt())


def attempted(ctx: AppContext, to: str, attempts: int) -> OutboxMail:
    """The mail once its ``attempts``-th attempt is over (made by the API process's
    mail thread, after the answer)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        mail = the_mail(ctx, to)
        if mail.attempts == attempts and (mail.last_error or mail.sent_at):
            return mail
        time.sleep(0.05)
    raise AssertionError(f"attempt {attempts} was not made")


# -- the file outbox (embedded defaults) --------------------------------------------------


def test_a_mail_exists_exactly_when_its_request_committed(ctx, sdk, outbox, clock):
    keystore = create_keystore(PASSWORD, params=FAST_ARGON2.with_new_salt())
    refused = RegistrationRequest(
        email="rolled-back@example.org",
        display_name="Rolled Back",
        kind=AccountKind.PATIENT,
        auth_secret=keystore.auth_secret,
        keystore=keystore.keystore.encode(),
        # What the shield sees of a coherent client (no proof of work asked).
        attempt=Attempt("register", "rolled-back@example.org", "127.0.0.1", {"user-agent": "uhs"}),
    )
    # The request's unit of work (deps.get_db), refused after the service queued its
    # mail: the mail goes with everything else the request wrote.
    with pytest.raises(InvalidInput), transaction(ctx.sessions) as db:
        AccountService(db, ctx).register(refused)
        assert db.scalar(select(func.count()).select_from(OutboxMail)) == 1
        raise InvalidInput("refused after the mail was queued")
    assert mails(ctx) == []
    assert outbox.messages("rolled-back@example.org") == []

    register(sdk, "alice@example.org")
    [mail] = mails(ctx)
    # Delivered in the committing thread, before the answer: the code is in the file.
    code = outbox.last_code("alice@example.org")
    assert (mail.recipient, mail.attempts, mail.last_error) == ("alice@example.org", 1, None)
    assert mail.sent_at == clock.now and mail.next_attempt_at is None
    assert mail.body is None  # the code is no longer in the database
    sdk.verify_email(code, "alice@example.org", PASSWORD)

    # What is kept of a sent mail goes after UHS_MAIL_KEEP_DAYS (uhs-server cleanup).
    clock.advance(days=ctx.settings.mail_keep_days)
    with ctx.sessions.begin() as db:
        assert MailOutbox(db, ctx).purge() == 0
    clock.advance(seconds=1)
    with ctx.sessions.begin() as db:
        assert MailOutbox(db, ctx).purge() == 1
    assert mails(ctx) == []


def test_a_savepoint_neither_sends_the_mail_early_nor_drops_it(ctx, outbox):
    """Only the request's commit hands its mail over: releasing a savepoint commits
    nothing yet, and rolling one back undoes only what was queued inside it."""
    with transaction(ctx.sessions) as db:
        MailOutbox(db, ctx).send("kept@example.org", "U-HealthSec: test", "Your code: one\n")
        with db.begin_nested():
            db.flush()
        assert outbox.messages("kept@example.org") == []
        savepoint = db.begin_nested()
        MailOutbox(db, ctx).send("undone@example.org", "U-HealthSec: test", "Your code: two\n")
        savepoint.rollback()
    assert [m.recipient for m in mails(ctx)] == ["kept@example.org"]
    assert outbox.last_code("kept@example.org") == "one"
    assert outbox.messages("undone@example.org") == []


def test_an_outbox_that_cannot_be_written_delays_the_mail_not_the_answer(ctx, sdk, outbox, clock):
    ctx.settings.outbox_dir.parent.mkdir(parents=True, exist_ok=True)
    ctx.settings.outbox_dir.write_text("a file where the directory should be")
    register(sdk, "alice@example.org")  # answered as usual

    mail = the_mail(ctx, "alice@example.org")
    assert (mail.attempts, mail.last_error, mail.sent_at) == (1, "FileExistsError", None)
    assert mail.next_attempt_at == clock.now + timedelta(seconds=60)
    code = code_in(mail.body or "")

    ctx.settings.outbox_dir.unlink()
    assert ctx.mail.deliver_due() == Delivery()  # not yet due
    clock.advance(seconds=60)
    assert ctx.mail.deliver_due() == Delivery(sent=1)
    assert outbox.last_code("alice@example.org") == code
    assert the_mail(ctx, "alice@example.org").body is None
    sdk.verify_email(code, "alice@example.org", PASSWORD)


def test_the_worker_command_sends_what_waits(ctx, sdk, outbox, settings):
    ctx.settings.outbox_dir.parent.mkdir(parents=True, exist_ok=True)
    ctx.settings.outbox_dir.write_text("not a directory")
    register(sdk, "alice@example.org")
    ctx.settings.outbox_dir.unlink()
    # The worker runs on the real clock: the retry is made due now.
    with ctx.sessions.begin() as db:
        db.execute(update(OutboxMail).values(next_attempt_at=OutboxMail.created_at))
    said = run_worker(settings, "--once")
    assert "1 mail(s) sent, 0 to be retried, 0 given up" in said
    assert "0 record(s) of mail sent or given up" in said
    assert outbox.last_code("alice@example.org")


# -- SMTP -----------------------------------------------------------------------------------


@pytest.fixture
def trusted_tls(tmp_path: Path) -> ssl.SSLContext:
    """A server's TLS context whose certificate (``smtp.crt``) the servers trust."""
    return server_tls(tmp_path, "smtp")[1]


@pytest.fixture
def smtp_context(
    tmp_path: Path, database_url: str, clock: Clock, trusted_tls: ssl.SSLContext
) -> Iterator[Callable[..., AppContext]]:
    """A server whose mail goes to an SMTP server, its CA ``smtp.crt`` trusted."""
    made: list[AppContext] = []

    def make(port: int, **extra: object) -> AppContext:
        settings = make_settings(
            tmp_path,
            database_url,
            smtp_host="localhost",
            smtp_port=port,
            smtp_ca_file=tmp_path / "smtp.crt",
            smtp_user="uhs",
            smtp_password=SMTP_PASSWORD,
            smtp_timeout_seconds=1,
            **extra,
        )
        made.append(build_context(settings, clock=clock, migrate_schema=False))
        return made[-1]

    yield make
    for ctx in made:
        ctx.close()


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        ("hang up", "SMTPServerDisconnected"),
        ("mute", "SMTPServerDisconnected"),  # smtplib's name for its read timing out
        ("unproven certificate", "SSLCertVerificationError"),
        ("no STARTTLS", "SMTPNotSupportedError"),
    ],
)
def test_a_failing_smtp_server_delays_the_mail_not_the_answer(
    smtp_context, trusted_tls, tmp_path, clock, failure, error
):
    if failure == "unproven certificate":  # self-signed, not the CA configured
        server = SmtpServer(server_tls(tmp_path, "impostor")[1])
    elif failure == "no STARTTLS":  # the mail would go in clear: never sent
        server = SmtpServer(trusted_tls, offer_starttls=False)
    else:
        server = SmtpServer(trusted_tls, behaviour=failure)
    ctx = smtp_context(server.port)
    with TestClient(create_app(ctx=ctx), base_url=BASE_URL) as client:
        register(AuthClient(client), "alice@example.org")

    mail = attempted(ctx, "alice@example.org", 1)
    assert (mail.last_error, mail.sent_at) == (error, None)
    code = code_in(mail.body or "")
    assert server.connections == 1
    assert not server.saw(b"AUTH") and not server.saw(code.encode())

    # The server works again; the worker's next round after the backoff sends it.
    server.behaviour, server.tls, server.offer_starttls = "serve", trusted_tls, True
    clock.advance(seconds=59)
    assert ctx.mail.deliver_due() == Delivery()
    clock.advance(seconds=1)
    assert ctx.mail.deliver_due() == Delivery(sent=1)
    server.stop()
    mail = the_mail(ctx, "alice@example.org")
    assert (mail.attempts, mail.sent_at, mail.body) == (2, clock.now, None)
    assert server.saw(b"STARTTLS") and server.saw(b"AUTH PLAIN")
    [sent] = server.messages
    assert any(code.encode() in line for line in sent)


def test_a_mail_is_given_up_after_its_last_attempt_and_logged_without_its_text(
    smtp_context, clock, caplog
):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]  # nothing listens there once closed
    ctx = smtp_context(port, mail_max_attempts=3, mail_retry_seconds=10)
    caplog.set_level(logging.INFO, logger="uhealthsec.server.mail")
    with TestClient(create_app(ctx=ctx), base_url=BASE_URL) as client:
        register(AuthClient(client), "alice@example.org")

    mail = attempted(ctx, "alice@example.org", 1)
    assert mail.last_error == "ConnectionRefusedError"
    code = code_in(mail.body or "")
    clock.advance(seconds=10)
    assert ctx.mail.deliver_due() == Delivery(deferred=1)
    assert the_mail(ctx, "alice@example.org").next_attempt_at == clock.now + timedelta(seconds=20)
    clock.advance(seconds=20)
    assert ctx.mail.deliver_due() == Delivery(given_up=1)

    mail = the_mail(ctx, "alice@example.org")
    assert (mail.attempts, mail.failed_at, mail.next_attempt_at) == (3, clock.now, None)
    assert mail.body is None and mail.sent_at is None
    clock.advance(days=1)
    assert ctx.mail.deliver_due() == Delivery()  # never tried again

    logged = [r.getMessage() for r in caplog.records if r.name.startswith("uhealthsec.server.mail")]
    assert len(logged) == 3 and f"mail {mail.id} given up after 3 attempts" in logged[-1]
    for line in logged:
        assert "ConnectionRefusedError" in line
        assert code not in line and "alice" not in line and "U-HealthSec" not in line


# -- several workers ----------------------------------------------------------------------


def test_two_workers_send_each_mail_once(database_url, tmp_path, clock):
    """Two processes' couriers (each its engine) deliver one outbox at the same time."""
    count = 60
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            insert(OutboxMail),
            [
                {
                    "id": uuid.uuid4(),
                    "recipient": f"p{i}@example.org",
                    "subject": "U-HealthSec: confirm your address",
                    "body": f"Your confirmation code: code-{i}\n",
                    "created_at": clock.now,
                    "attempts": 0,
                    "next_attempt_at": clock.now,
                }
                for i in range(count)
            ],
        )
    settings = make_settings(tmp_path, database_url)
    couriers = [
        MailCourier(
            make_session_factory(make_engine(database_url)),
            FileMailer(settings.outbox_dir, settings.mail_from),
            settings,
            clock,
        )
        for _ in range(2)
    ]
    start = threading.Barrier(len(couriers))
    done: list[Delivery] = []

    def work(courier: MailCourier) -> None:
        start.wait()
        done.append(courier.deliver_due())

    threads = [threading.Thread(target=work, args=(c,)) for c in couriers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for courier in couriers:
        courier.close()

    assert sum(d.sent for d in done) == count and not any(d.deferred for d in done)
    outbox = Outbox(settings.outbox_dir)
    for i in range(count):
        assert len(outbox.messages(f"p{i}@example.org")) == 1
    with engine.connect() as conn:
        rows = conn.execute(select(OutboxMail.attempts, OutboxMail.body, OutboxMail.sent_at))
        assert {tuple(r) for r in rows} == {(1, None, clock.now)}
    engine.dispose()
