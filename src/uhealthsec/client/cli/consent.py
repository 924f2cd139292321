"""Commands of a patient's consent, and of the research studies a practice declares
(each research consent names one)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from uhealthsec.client.cli._common import (
    JsonOutput,
    console,
    my_practice,
    practice_for,
    print_json,
    resolve_id,
    shown,
    signed_in_client,
    usage_error,
)
from uhealthsec.terminal import command_line

consent_app = command_line(
    help=(
        "(Patients) Who may receive your documents: your care team, others; and which "
        "research studies you take part in. (Practitioners) Your practice's studies."
    )
)

_PURPOSES = {"team": "care_team", "outside": "outside_team", "research": "research"}
PURPOSE_WORDS = {
    "care_team": "your care team in this practice",
    "outside_team": "professionals outside the practice",
    "research": "research",
}


def _decide(
    purpose: str,
    decision: str,
    practice: str | None,
    to: str | None,
    study: str | None,
    as_json: bool,
) -> None:
    from uhealthsec.client.consent import ConsentClient

    if purpose not in _PURPOSES:
        raise usage_error("say team, outside or research")
    if (purpose == "research") != (study is not None):
        raise usage_error(
            "research is decided study by study: name it with --study (ids in "
            "`uhs consent studies`), and only for research"
        )
    with signed_in_client(unlock=False) as client:
        practice_id = my_practice(client, practice)
        consent = ConsentClient(client)
        study_id = None
        if study is not None:
            study_id = resolve_id(
                study, lambda: [s["id"] for s in consent.studies(practice_id)], "study"
            )
        recorded = consent.decide(practice_id, _PURPOSES[purpose], decision, to, study_id)
    if as_json:
        print_json(recorded)
        return
    if study_id is not None:
        title = recorded["directive"]["study_title"]
        said = "You take part in" if decision == "permit" else "You no longer take part in"
        console.print(f"{said} the study “{title}” (version {recorded['directive']['version']}).")
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
StudyChoice = Annotated[
    str | None,
    typer.Option(
        "--study",
        help="The research study (its id or first characters, in `uhs consent studies`).",
        metavar="ID",
    ),
]


@consent_app.command("allow")
def consent_allow(
    purpose: Purpose,
    to: OneProfessional = None,
    study: StudyChoice = None,
    practice: PracticeChoice = None,
    as_json: JsonOutput = False,
) -> None:
    """Consent (outside; research, one study), or lift an objection (team)."""
    _decide(purpose, "permit", practice, to, study, as_json)


@consent_app.command("deny")
def consent_deny(
    purpose: Purpose,
    to: OneProfessional = None,
    study: StudyChoice = None,
    practice: PracticeChoice = None,
    as_json: JsonOutput = False,
) -> None:
    """Object (team) or withdraw consent (outside; research, one study): takes effect
    at once."""
    _decide(purpose, "deny", practice, to, study, as_json)


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
            "No directive: your care team may share your file; nobody else may, and you "
            "take part in no research study."
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
            row["study_title"] or row["recipient_email"] or "everyone",
            decision,
            row["created_at"][:10],
        )
    console.print(table)


@consent_app.command("information")
def consent_information(
    text: bool = typer.Option(False, "--text", help="Print each notice's text too."),
    as_json: JsonOutput = False,
) -> None:
    """The information notices your practices gave you: how your file is shared within
    each care team, and how to object."""
    from uhealthsec.client.cli.practice import show_notice
    from uhealthsec.client.consent import ConsentClient
    from uhealthsec.protocol.consent import NoticeOut

    with signed_in_client(unlock=False) as client:
        rows = ConsentClient(client).information()
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(
            "No practice has recorded informing you yet: until one does, its care team "
            "does not share your file."
        )
        return
    for row in rows:
        how = (
            "shown when you accepted the invitation"
            if row["how"] == "invitation"
            else f"given in person by {shown(row['recorded_by_name'])}"
        )
        console.print(
            f"{shown(row['notice']['practice_name'])}: notice version {row['notice_version']}, "
            f"{row['informed_on']}, {how}"
        )
        if text:
            show_notice(NoticeOut.model_validate(row["notice"]))


# -- research studies ---------------------------------------------------------------------

_FRAMEWORK = "MR-001 to MR-006 (a CNIL reference methodology) or cnil-authorisation"


def _framework(study: dict[str, Any]) -> str:
    if study["authorisation"]:
        return f"CNIL authorisation {study['authorisation']}"
    return f"CNIL reference methodology {study['methodology']}"


def _print_study(study: dict[str, Any]) -> None:
    console.print(f"[bold]{study['title']}[/bold]  ({study['id']})", highlight=False)
    console.print(f"  Run by: {study['sponsor']}", highlight=False)
    console.print(f"  Why: {study['purpose']}", highlight=False)
    console.print(f"  Framework: {_framework(study)}", highlight=False)
    console.print(
        f"  From {study['starts_on']} to {study['ends_on']}: {study['state']}", highlight=False
    )
    if study["consenting"] is not None:
        console.print(f"  Patients taking part now: {study['consenting']}", highlight=False)
    if study["my_decision"] is not None:
        taking_part = "yes" if study["my_decision"] == "permit" else "no (withdrawn)"
        console.print(f"  You take part: {taking_part}", highlight=False)


@consent_app.command("studies")
def consent_studies(practice: PracticeChoice = None, as_json: JsonOutput = False) -> None:
    """The research studies of your practice: (patients) those you may join or take
    part in; (practitioners) all of them, with how many patients take part now."""
    from uhealthsec.client.consent import ConsentClient

    with signed_in_client(unlock=False) as client:
        patient = client.me["kind"] == "patient"
        practice_id = (
            my_practice(client, practice)
            if patient
            else practice_for(client, practice, ("admin", "practitioner", "secretary"))
        )
        studies = ConsentClient(client).studies(practice_id)
    if as_json:
        print_json(studies)
        return
    if not studies:
        console.print("No research study" + (" open to you." if patient else "."))
        return
    for study in studies:
        _print_study(study)
    if patient:
        console.print(
            "Take part: uhs consent allow research --study ID; stop: uhs consent deny "
            "research --study ID (at once)."
        )


@consent_app.command("declare-study")
def consent_declare_study(
    title: Annotated[str, typer.Option(help="As patients will read it.")],
    sponsor: Annotated[str, typer.Option(help="Who runs the study and answers for it.")],
    purpose: Annotated[str, typer.Option(help="What it seeks, in plain words.")],
    methodology: Annotated[str, typer.Option(help=_FRAMEWORK + ".", metavar="REF")],
    starts: Annotated[str, typer.Option(help="First day (YYYY-MM-DD).", metavar="DATE")],
    ends: Annotated[
        str | None, typer.Option(help="Last day (YYYY-MM-DD); or --months.", metavar="DATE")
    ] = None,
    months: Annotated[int | None, typer.Option(help="Its duration, instead of --ends.")] = None,
    authorisation: Annotated[
        str | None, typer.Option(help="The CNIL authorisation number.", metavar="NUMBER")
    ] = None,
    practice: PracticeChoice = None,
    as_json: JsonOutput = False,
) -> None:
    """(Admins, practitioners) Declare a research study, so that your patients can
    take part in it, or not, knowing what it is."""
    from uhealthsec.client.consent import ConsentClient
    from uhealthsec.protocol.consent import Methodology

    if methodology not in {m.value for m in Methodology}:
        raise usage_error(f"the methodology is {_FRAMEWORK}")
    try:
        starts_on = date.fromisoformat(starts)
        ends_on = date.fromisoformat(ends) if ends else None
    except ValueError:
        raise usage_error("give dates as YYYY-MM-DD") from None
    with signed_in_client(unlock=False) as client:
        practice_id = practice_for(client, practice)
        study = ConsentClient(client).declare_study(
            practice_id,
            title=title,
            sponsor=sponsor,
            purpose=purpose,
            methodology=methodology,
            authorisation=authorisation,
            starts_on=starts_on,
            ends_on=ends_on,
            duration_months=months,
        )
    if as_json:
        print_json(study)
        return
    _print_study(study)


@consent_app.command("close-study")
def consent_close_study(
    study: Annotated[str, typer.Argument(help="Its id or first characters.", metavar="ID")],
    practice: PracticeChoice = None,
    as_json: JsonOutput = False,
) -> None:
    """(Admins, practitioners) Close a study before its end: from now nobody takes
    part in it."""
    from uhealthsec.client.consent import ConsentClient

    with signed_in_client(unlock=False) as client:
        consent = ConsentClient(client)
        practice_id = practice_for(client, practice)
        study_id = resolve_id(
            study, lambda: [s["id"] for s in consent.studies(practice_id)], "study"
        )
        closed = consent.close_study(study_id)
    if as_json:
        print_json(closed)
        return
    console.print(f"The study “{closed['title']}” is closed: nobody takes part in it any more.")
