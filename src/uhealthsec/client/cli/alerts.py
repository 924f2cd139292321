"""Commands of the anomaly alerts (R22), for a practice's admins."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

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
from uhealthsec.terminal import command_line

alerts_app = command_line(
    help="(Admins) Anomaly alerts over the journal: list them, dismiss one with a reason, "
    "or open an incident of the breach register from it."
)

RULES = {
    "mass_download": "téléchargement massif",
    "off_hours": "accès hors des heures du cabinet",
    "repeated_denials": "refus répétés",
    "read_throttle": "lectures freinées",
    "two_networks": "deux réseaux en quelques minutes",
    "new_network_reads": "nouveau réseau puis lectures en nombre",
    "emergency_access": "accès d'urgence",
}
STATUS = {"open": "ouverte", "dismissed": "classée", "incident": "incident ouvert"}
NATURES = ("confidentiality", "integrity", "availability")

AlertId = Annotated[str, typer.Argument(help="The alert's id.", metavar="ID")]
PracticeChoice = Annotated[str | None, typer.Option(help="Practice id.", metavar="ID")]


def _time(value: object) -> str:
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC).strftime("%d/%m/%Y %H:%M UTC")
    except (ValueError, OverflowError):
        return "?"


def _word(words: dict[str, str], value: object) -> str:
    return words.get(value, "?") if isinstance(value, str) else "?"


def _text(value: object) -> str:
    return shown(value if isinstance(value, str) else "?")


def _show(alert: dict[str, Any]) -> None:
    console.print(
        f"Alerte {_text(alert.get('id'))} — {_word(RULES, alert.get('rule'))} "
        f"({_word(STATUS, alert.get('status'))})"
    )
    console.print(
        f"  {_text(alert.get('subject_kind'))} {_text(alert.get('subject_id'))}, du "
        f"{_time(alert.get('window_start'))} au {_time(alert.get('window_end'))}"
    )
    console.print(f"  {_text(alert.get('detail'))}")
    if alert.get("reason"):
        console.print(f"  Motif : {_text(alert.get('reason'))}")
    if alert.get("incident_id"):
        console.print(f"  Incident : {_text(alert.get('incident_id'))}")


def _client():  # type: ignore[no-untyped-def]
    from uhealthsec.client.alerts import AlertClient

    return AlertClient


@alerts_app.command("list")
def alerts_list(
    status: Annotated[
        str, typer.Option(help="open, dismissed, incident or all.", metavar="STATUS")
    ] = "open",
    practice: PracticeChoice = None,
    before: Annotated[
        str | None,
        typer.Option(help="The next page: the last alert id of the previous one.", metavar="ID"),
    ] = None,
    as_json: JsonOutput = False,
) -> None:
    """The practice's alerts, the open ones by default, newest first, 200 a page."""
    if status not in ("open", "dismissed", "incident", "all"):
        raise usage_error("the status is open, dismissed, incident or all")
    if before is not None:
        try:
            uuid.UUID(before)
        except ValueError:
            raise usage_error("--before is an alert id") from None
    with signed_in_client(unlock=False) as client:
        found = _client()(client).alerts(practice_for(client, practice, ("admin",)), status, before)
    if as_json:
        print_json(found, ascii_only=True)
        return
    if not found:
        console.print("Aucune alerte." if status != "open" else "Aucune alerte ouverte.")
    for alert in found:
        _show(alert)


@alerts_app.command("dismiss")
def alerts_dismiss(
    alert_id: AlertId,
    reason: Annotated[str, typer.Option(help="Why it is no breach (a sentence).", metavar="TEXT")],
    as_json: JsonOutput = False,
) -> None:
    """Close an open alert as no breach, saying why."""
    with signed_in_client(unlock=False) as client:
        alert = _client()(client).dismiss(alert_id, reason)
    if as_json:
        print_json(alert, ascii_only=True)
    else:
        _show(alert)


@alerts_app.command("incident")
def alerts_incident(
    alert_id: AlertId,
    nature: Annotated[
        list[str] | None,
        typer.Option(
            "--nature",
            help="confidentiality (default), integrity or availability (repeat for several).",
            metavar="NATURE",
        ),
    ] = None,
    description: Annotated[
        str | None, typer.Option(help="The incident's description; the alert's by default.")
    ] = None,
    as_json: JsonOutput = False,
) -> None:
    """Open an incident of the breach register from an open alert."""
    for n in nature or []:
        if n not in NATURES:
            raise usage_error("the nature is confidentiality, integrity or availability")
    with signed_in_client(unlock=False) as client:
        alert = _client()(client).open_incident(alert_id, nature, description)
    if as_json:
        print_json(alert, ascii_only=True)
        return
    _show(alert)
    console.print(f"Suite : uhs incident show {_text(alert.get('incident_id'))}")
