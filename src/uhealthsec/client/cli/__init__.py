"""The ``uhs`` command line: one module per group of commands, all registered here so
that the whole list of commands reads in one place. The server's commands are not here
(``uhs-server``, server/cli.py): the client never imports the server."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

# Typer carries its own Click: its usage errors are of this class, not of an installed
# click's.
from typer._click.exceptions import ClickException

from uhealthsec.client.cli import (
    account,
    alerts,
    compliance,
    consent,
    documents,
    exit_codes,
    incident,
    journal,
    keys,
    messages,
    passwords,
    patient,
    pending,
    practice,
    rights,
    search,
    unlock,
    web,
)
from uhealthsec.terminal import (
    add_completion_command,
    answer_completion,
    command_line,
    print_version,
    version_option,
)

app = command_line(
    help="U-HealthSec: secure exchange of patient documents.",
    no_args_is_help=True,
    epilog=exit_codes.HELP,
)


@app.callback()
def program_options(
    version: bool = version_option(),
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file",
            envvar="UHS_PASSWORD_FILE",
            metavar="FILE",
            help=(
                "Read the password from the first line of FILE (readable by you only) "
                "instead of asking. Or set UHS_PASSWORD_COMMAND to a program that prints it "
                "(run without a shell, e.g. 'pass show uhs')."
            ),
        ),
    ] = None,
) -> None:
    passwords.password_file = password_file


@app.command()
def version() -> None:
    """Print the version."""
    print_version()


# Account and sign-in.
app.command()(account.register)
app.command("password")(account.password_change)
# A code may begin with "-": it is an argument all the same, not an unknown option.
app.command("verify-email", context_settings={"ignore_unknown_options": True})(account.verify_email)
app.command()(account.login)
app.command()(account.logout)
app.command()(unlock.unlock)
app.command()(unlock.lock)
app.command()(account.whoami)
app.add_typer(account.sessions_app, name="sessions")
app.add_typer(account.account_app, name="account")
# Practices.
app.add_typer(practice.practice_app, name="practice")
# `uhs practices`, as before `uhs practice list`.
app.command("practices", help="List your practices (as `uhs practice list`).")(
    practice.practice_list
)
# Documents.
app.command()(documents.send)
app.command()(documents.inbox)
app.command()(documents.get)
app.command()(documents.share)
app.command()(documents.revoke)
app.command()(documents.restrict)
app.command()(documents.unrestrict)
app.command()(documents.update)
app.command()(search.search)
app.command()(search.sync)
# Messages.
app.command()(messages.threads)
app.command()(messages.write)
app.command("read")(messages.read_thread)
# Verification.
app.add_typer(keys.keys_app, name="keys")
app.add_typer(journal.journal_app, name="journal")
app.add_typer(web.web_app, name="web")
# Consent, retention and patients' rights.
app.add_typer(consent.consent_app, name="consent")
app.add_typer(patient.patient_app, name="patient")
app.command("retention-policy")(patient.retention_policy)
app.add_typer(rights.rights_app, name="rights")
# The breach register.
app.add_typer(incident.incident_app, name="incident")
app.add_typer(alerts.alerts_app, name="alerts")
app.add_typer(compliance.compliance_app, name="compliance")
app.command("export")(documents.export)
# Documents waiting for invited patients.
app.add_typer(pending.pending_app, name="pending")
add_completion_command(app, "uhs")


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Run ``uhs``: leave with the status of exit_codes.py, a cancellation included."""
    from uhealthsec.client.cli._common import cancellation_message

    answer_completion("uhs")
    # Stopped by a service manager or a closed terminal: unwind as on Ctrl-C, so that
    # a document waiting in a temporary file (stdin, or decrypted for stdout) is
    # removed, rather than die where it stands and leave it there.
    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, _interrupted)
    try:
        status = app(standalone_mode=False)
    except ClickException as exc:  # a usage error: exit status 2
        exc.show()
        status = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        status = exit_codes.CANCELLED
    if status == exit_codes.CANCELLED:
        # Typer turns Ctrl-C into this status; a question answered no is the same.
        typer.echo(f"\n{cancellation_message()}", err=True)
    sys.exit(status if isinstance(status, int) else exit_codes.OK)
