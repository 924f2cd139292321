"""The ``uhs`` command line: one module per group of commands, all registered here so
that the whole list of commands reads in one place. The server's commands are not here
(``uhs-server``, server/cli.py): the client never imports the server."""

from __future__ import annotations

from uhealthsec.client.cli import (
    account,
    consent,
    documents,
    journal,
    keys,
    messages,
    patient,
    practice,
    rights,
)
from uhealthsec.terminal import command_line, print_version, with_version_option

app = command_line(help="U-HealthSec: secure exchange of patient documents.", no_args_is_help=True)
with_version_option(app)


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
app.command()(account.whoami)
app.add_typer(account.sessions_app, name="sessions")
# Documents.
app.command()(practice.practices)
app.command()(documents.send)
app.command()(documents.inbox)
app.command()(documents.get)
app.command()(documents.share)
app.command()(documents.revoke)
app.command()(documents.update)
# Messages.
app.command()(messages.threads)
app.command()(messages.write)
app.command("read")(messages.read_thread)
# Verification.
app.add_typer(keys.keys_app, name="keys")
app.add_typer(journal.journal_app, name="journal")
# Consent, retention and patients' rights.
app.add_typer(consent.consent_app, name="consent")
app.add_typer(patient.patient_app, name="patient")
app.command("retention-policy")(patient.retention_policy)
app.add_typer(rights.rights_app, name="rights")
app.command("export")(documents.export)


def main() -> None:
    app()
