"""Commands of a practitioner about a patient's file and the practice's retention."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from uhealthsec.client.cli._common import (
    JsonOutput,
    console,
    practice_for,
    print_json,
    shown,
    signed_in_client,
    usage_error,
)
from uhealthsec.client.cli.consent import PURPOSE_WORDS
from uhealthsec.terminal import Refused, command_line

if TYPE_CHECKING:
    from uhealthsec.client.exchange import ExchangeClient


patient_app = command_line(help="(Practitioners) A patient's file: consents and retention.")


def _file_of(client: ExchangeClient, practice: str | None, email: str) -> str:
    return str(client.patient_file(practice_for(client, practice), email)["id"])


@patient_app.command("show")
def patient_show(
    email: Annotated[str, typer.Argument(help="The patient's address.")],
    practice: Annotated[str | None, typer.Option(help="Practice id.", metavar="ID")] = None,
    as_json: JsonOutput = False,
) -> None:
    """The patient's consents and the end of their file's retention."""
    from uhealthsec.client.consent import ConsentClient
    from uhealthsec.client.rights import RightsClient

    with signed_in_client(unlock=False) as client:
        practice_id = practice_for(client, practice)
        file_id = str(client.patient_file(practice_id, email)["id"])
        directives = ConsentClient(client).of_patient_file(file_id)
        information = ConsentClient(client).file_information(file_id)
        retention = client.call("GET", f"/patient-files/{file_id}/retention").json()
        requests = [
            r
            for r in RightsClient(client).of_practice(practice_id)
            if r["patient_file_id"] == file_id
        ]
    if as_json:
        print_json(
            {
                "retention": retention,
                "requests": requests,
                "consents": directives,
                "information": information,
            }
        )
        return
    _print_retention(retention)
    for r in requests:
        late = " — late" if r["overdue"] else ""
        console.print(
            f"Request: {r['right'].replace('_', ' ')} ({r['citation']}), due {r['due_at'][:10]}"
            f"{late} — {r['id']}"
        )
    _print_information(information)
    if not directives:
        console.print("Consents: none recorded (care team may share once informed; nobody else).")
    for d in directives:
        decision = "allowed" if d["decision"] == "permit" else "refused"
        whom = (
            f"the study “{d['study_title']}”"
            if d.get("study_title")
            else d["recipient_email"] or "everyone"
        )
        console.print(f"Consent: {PURPOSE_WORDS[d['purpose']]}, {whom}: {decision}")


HOW_INFORMED = {"invitation": "shown when they accepted the invitation", "in_person": "in person"}


def _print_information(information: list[dict[str, Any]]) -> None:
    if not information:
        console.print(
            "Informed: never — the care team cannot share this file until you record "
            "that you informed the patient (`uhs patient informed`), or they accept the "
            "practice's invitation."
        )
    for i in information:
        console.print(
            f"Informed: on {i['informed_on']}, notice version {i['notice_version']}, "
            f"{HOW_INFORMED[i['how']]} ({shown(i['recorded_by_name'])})"
        )


@patient_app.command("informed")
def patient_informed(
    email: Annotated[str, typer.Argument(help="The patient's address.")],
    on: Annotated[
        str | None,
        typer.Option("--on", help="The day you informed them (YYYY-MM-DD); today if left out."),
    ] = None,
    notice_version: Annotated[
        int | None,
        typer.Option("--notice-version", help="The version you gave; the current one if left out."),
    ] = None,
    practice: Annotated[str | None, typer.Option(help="Practice id.", metavar="ID")] = None,
    as_json: JsonOutput = False,
) -> None:
    """Record that you gave the patient the practice's information notice in person at
    first care (how their file is shared within the care team): care-team sharing of
    their file needs it (CSP L1110-4)."""
    from uhealthsec.client.consent import ConsentClient

    try:
        informed_on = date.fromisoformat(on) if on else date.today()
    except ValueError:
        raise usage_error("give the date as YYYY-MM-DD") from None
    with signed_in_client(unlock=False) as client:
        file_id = _file_of(client, practice, email)
        recorded = ConsentClient(client).record_information(file_id, informed_on, notice_version)
    if as_json:
        print_json(recorded)
        return
    _print_information([recorded])


def _print_retention(retention: dict[str, Any], as_json: bool = False) -> None:
    if as_json:
        print_json(retention)
        return
    until = retention["keep_until"] or "unknown"
    console.print(f"Kept until: {until} — {retention['explanation']}")
    console.print(f"Last care: {retention['last_care_on']}")
    keep_until, destroyable_from = retention["keep_until"], retention.get("destroyable_from")
    if (
        keep_until
        and destroyable_from
        and date.fromisoformat(destroyable_from) > date.fromisoformat(keep_until) + timedelta(1)
    ):
        # A date recorded recently: the destruction waits so that it can be corrected.
        console.print(f"Destroyed from: {destroyable_from} (a recent date may be corrected)")
    if retention["archived"]:
        console.print("Archived: out of the daily list (no care for several years).")


@patient_app.command("dates")
def patient_dates(
    email: Annotated[str, typer.Argument(help="The patient's address.")],
    born: Annotated[
        str | None, typer.Option(help="Birth date, YYYY-MM-DD.", metavar="DATE")
    ] = None,
    died: Annotated[
        str | None, typer.Option(help="Date of death, YYYY-MM-DD.", metavar="DATE")
    ] = None,
    last_care: Annotated[
        str | None, typer.Option(help="Last consultation, YYYY-MM-DD.", metavar="DATE")
    ] = None,
    clear_death: Annotated[
        bool, typer.Option("--clear-death", help="Erase a date of death recorded by mistake.")
    ] = False,
    practice: Annotated[str | None, typer.Option(help="Practice id.", metavar="ID")] = None,
    as_json: JsonOutput = False,
) -> None:
    """Record the dates the end of retention depends on."""
    if clear_death and died:
        raise Refused("give --died or --clear-death, not both")
    facts: dict[str, str | None] = {
        k: v for k, v in {"born_on": born, "died_on": died, "last_care_on": last_care}.items() if v
    }
    if clear_death:
        facts["died_on"] = None  # null erases the recorded date (the server's rule)
    with signed_in_client(unlock=False) as client:
        file_id = _file_of(client, practice, email)
        retention = client.call("PUT", f"/patient-files/{file_id}/retention", json=facts).json()
    _print_retention(retention, as_json)


@patient_app.command("claim")
def patient_claim(
    email: Annotated[str, typer.Argument(help="The patient's address.")],
    opened: Annotated[
        str | None, typer.Option(help="Opened on, YYYY-MM-DD.", metavar="DATE")
    ] = None,
    closed: Annotated[
        str | None, typer.Option(help="Closed on, YYYY-MM-DD.", metavar="DATE")
    ] = None,
    practice: Annotated[str | None, typer.Option(help="Practice id.", metavar="ID")] = None,
    as_json: JsonOutput = False,
) -> None:
    """A claim about medical liability: retention stops while it is open."""
    if (opened is None) == (closed is None):
        raise usage_error("say --opened DATE or --closed DATE")
    with signed_in_client(unlock=False) as client:
        path = f"/patient-files/{_file_of(client, practice, email)}/retention/claim"
        retention = client.call(
            "POST", path if opened else path + "/close", json={"on": opened or closed}
        ).json()
    _print_retention(retention, as_json)


def retention_policy(
    years: Annotated[
        int | None, typer.Option(help="Keep files this many years.", metavar="YEARS")
    ] = None,
    archive_after: Annotated[
        int | None,
        typer.Option(help="Out of the daily list after this many years.", metavar="YEARS"),
    ] = None,
    practice: Annotated[str | None, typer.Option(help="Practice id.", metavar="ID")] = None,
    as_json: JsonOutput = False,
) -> None:
    """Your practice's retention (20 years unless it decides otherwise); admins change it."""
    with signed_in_client(unlock=False) as client:
        path = f"/practices/{practice_for(client, practice)}/retention-policy"
        policy = client.call("GET", path).json()
        if years is not None or archive_after is not None:
            body = {
                "years": years or policy["years"],
                "archive_after_years": archive_after or policy["archive_after_years"],
            }
            policy = client.call("PUT", path, json=body).json()
    if as_json:
        print_json(policy)
        return
    console.print(
        f"Files are kept {policy['years']} years after the last care (longer for minors, "
        f"less after a death: CSP R1112-7) and leave the daily list after "
        f"{policy['archive_after_years']}."
    )
