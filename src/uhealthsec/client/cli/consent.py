"""Commands of a patient's consent."""

from __future__ import annotations

from typing import Annotated

import typer

from uhealthsec.client.cli._common import (
    JsonOutput,
    console,
    my_practice,
    print_json,
    signed_in_client,
    usage_error,
)
from uhealthsec.terminal import command_line

consent_app = command_line(
    help="(Patients) Who may receive your documents: your care team, others, research."
)

_PURPOSES = {"team": "care_team", "outside": "outside_team", "research": "research"}
PURPOSE_WORDS = {
    "care_team": "your care team in this practice",
    "outside_team": "professionals outside the practice",
    "research": "research",
}


def _decide(
    purpose: str, decision: str, practice: str | None, to: str | None, as_json: bool
) -> None:
    from uhealthsec.client.consent import ConsentClient

    if purpose not in _PURPOSES:
        raise usage_error("say team, outside or research")
    with signed_in_client(unlock=False) as client:
        practice_id = my_practice(client, practice)
        recorded = ConsentClient(client).decide(practice_id, _PURPOSES[purpose], decision, to)
    if as_json:
        print_json(recorded)
        return
    whom = to or PURPOSE_WORDS[_PURPOSES[purpose]]
    verb = "may now receive" if decision == "permit" else "may no longer receive"
    console.print(f"{whom} {verb} your documents (version {recorded['directive']['version']}).")
    if recorded["shares_ended"]:
        console.print(f"{recorded['shares_ended']} access(es) to your documents ended now.")


#: The arguments of ``allow`` and ``deny``.
Purpose = Annotated[str, typer.Argument(help="team, outside or research")]
OneProfessional = Annotated[
    str | None, typer.Option("--to", help="One professional only.", metavar="EMAIL")
]
PracticeChoice = Annotated[str | None, typer.Option(help="Practice name or id.", metavar="ID")]


@consent_app.command("allow")
def consent_allow(
    purpose: Purpose,
    to: OneProfessional = None,
    practice: PracticeChoice = None,
    as_json: JsonOutput = False,
) -> None:
    """Consent (outside, research), or lift an objection (team)."""
    _decide(purpose, "permit", practice, to, as_json)


@consent_app.command("deny")
def consent_deny(
    purpose: Purpose,
    to: OneProfessional = None,
    practice: PracticeChoice = None,
    as_json: JsonOutput = False,
) -> None:
    """Object (team) or withdraw consent (outside, research): takes effect at once."""
    _decide(purpose, "deny", practice, to, as_json)


@consent_app.command("list")
def consent_list(
    history: bool = typer.Option(False, "--history", help="Every version, not only current."),
    as_json: JsonOutput = False,
) -> None:
    """Your directives."""
    from rich.table import Table

    from uhealthsec.client.consent import ConsentClient

    with signed_in_client(unlock=False) as client:
        names = {
            f["practice_id"]: f["practice_name"]
            for f in client.call("GET", "/patient-files/mine").json()
        }
        rows = ConsentClient(client).directives(history=history)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(
            "No directive: your care team may share your file; nobody else may, and nothing "
            "goes to research."
        )
        return
    table = Table()
    for column in ("Version", "Practice", "About", "Whom", "Decision", "Since"):
        table.add_column(column, no_wrap=column in ("Whom", "Since"))
    for row in rows:
        decision = "allowed" if row["decision"] == "permit" else "refused"
        if row["superseded_at"]:
            decision += " (replaced)"
        table.add_row(
            str(row["version"]),
            names.get(row["practice_id"], row["practice_id"]),
            row["purpose"].replace("_", " "),
            row["recipient_email"] or "everyone",
            decision,
            row["created_at"][:10],
        )
    console.print(table)
