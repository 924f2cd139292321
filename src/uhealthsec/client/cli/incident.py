"""Commands of the breach register (GDPR art. 33 and 34), for a practice's admins."""

from __future__ import annotations

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

incident_app = command_line(
    help="(Admins) The breach register: open an incident, count who it reached, notify "
    "the CNIL within 72 hours, decide whom to tell."
)

CLOCK = {
    "on_time": "dans le délai",
    "due_soon": "échéance dans moins de 24 h",
    "late": "délai de 72 h dépassé",
    "notified": "notifiée à la CNIL dans le délai",
    "notified_late": "notifiée à la CNIL après le délai",
    "not_notifiable": "non notifiable",
}
NATURE = {
    "confidentiality": "confidentialité",
    "integrity": "intégrité",
    "availability": "disponibilité",
}
DECISION = {None: "à décider", "notifiable": "notifiable", "not_notifiable": "non notifiable"}
PEOPLE = {
    None: "à décider",
    "tell": "informées",
    "unintelligible": "non informées : contenu chiffré, inintelligible (art. 34(3)(a))",
    "no_high_risk": "non informées : pas de risque élevé",
}

IncidentId = Annotated[str, typer.Argument(help="The incident's id.", metavar="ID")]
PracticeChoice = Annotated[str | None, typer.Option(help="Practice id.", metavar="ID")]
Nature = Annotated[
    list[str] | None,
    typer.Option(
        "--nature",
        help="confidentiality, integrity or availability (repeat for several).",
        metavar="NATURE",
    ),
]


def _text(what: str) -> Any:
    return typer.Option(help=what, metavar="TEXT")


Description = Annotated[str | None, _text("What happened, and how it was found.")]
DataCategories = Annotated[str | None, _text("Categories of data concerned.")]
PeopleCategories = Annotated[str | None, _text("Categories of people concerned.")]
PeopleCount = Annotated[
    int | None, typer.Option(min=0, help="Approximate number of people.", metavar="N")
]
RecordsCount = Annotated[
    int | None, typer.Option(min=0, help="Approximate number of records.", metavar="N")
]
Contact = Annotated[
    str | None, _text("Whom the CNIL contacts (the DPO's, or the practice's by default).")
]
Consequences = Annotated[str | None, _text("Likely consequences for the people.")]
Measures = Annotated[str | None, _text("Measures taken.")]
Planned = Annotated[str | None, _text("Measures planned.")]
When = Annotated[
    datetime | None,
    typer.Option(
        help="When you became aware of it (ISO 8601, UTC unless a zone is given); now if left out.",
        metavar="TIME",
    ),
]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _fields(
    nature: list[str] | None,
    description: str | None,
    data: str | None,
    people: str | None,
    people_count: int | None,
    records_count: int | None,
    contact: str | None,
    consequences: str | None,
    measures: str | None,
    planned: str | None,
    aware: datetime | None,
) -> dict[str, Any]:
    for n in nature or []:
        if n not in NATURE:
            raise usage_error("the nature is confidentiality, integrity or availability")
    return {
        "nature": nature or None,
        "description": description,
        "data_categories": data,
        "people_categories": people,
        "people_estimate": people_count,
        "records_estimate": records_count,
        "contact": contact,
        "consequences": consequences,
        "measures_taken": measures,
        "measures_planned": planned,
        "aware_at": _utc(aware),
    }


def _time(value: object) -> str:
    """A time the server sent, in UTC; "?" for anything else."""
    if not value:
        return "—"
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC).strftime("%d/%m/%Y %H:%M UTC")
    except (ValueError, OverflowError):
        return "?"


def _word(words: dict[Any, str], value: object) -> str:
    """What the server's code means, in French; "?" for a code this client does not know
    (or a value that is no code)."""
    return words.get(value, "?") if value is None or isinstance(value, str) else "?"


def _text_of(value: object) -> str:
    return shown(value if isinstance(value, str) else "?")


def _show(incident: dict[str, Any]) -> None:
    natures = ", ".join(_word(NATURE, n) for n in incident.get("nature") or [])
    console.print(f"Incident {_text_of(incident.get('id'))} — {natures}")
    console.print(f"Connu depuis : {_time(incident.get('aware_at'))}")
    console.print(
        f"Échéance CNIL : {_time(incident.get('deadline'))} — {_word(CLOCK, incident.get('clock'))}"
    )
    console.print(f"Description : {_text_of(incident.get('description'))}")
    for label, estimate, counted in (
        ("Personnes concernées", incident.get("people_estimate"), incident.get("people_counted")),
        (
            "Enregistrements concernés",
            incident.get("records_estimate"),
            incident.get("records_counted"),
        ),
    ):
        if estimate is None and counted is None:
            continue
        from_journal = f" (journal : {_number(counted)})" if counted is not None else ""
        console.print(f"{label} : {_number(estimate)}{from_journal}")
    console.print(f"Contact : {_text_of(incident.get('contact'))}")
    reason = incident.get("decision_reason")
    because = f" — {_text_of(reason)}" if reason else ""
    console.print(f"Notification : {_word(DECISION, incident.get('decision'))}{because}")
    for n in incident.get("notifications") or []:
        kind = "complémentaire" if n.get("kind") == "complementary" else "initiale"
        console.print(f"  {kind}, le {_time(n.get('made_at'))}")
    console.print(f"Personnes : {_word(PEOPLE, incident.get('people_decision'))}")


def _text_of_lines(value: object) -> str:
    return shown(value if isinstance(value, str) else "?", lines=True)


def _number(value: object) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "?"


def _print(incident: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(incident)
    else:
        _show(incident)


def _client():  # type: ignore[no-untyped-def]
    from uhealthsec.client.incidents import IncidentClient

    return IncidentClient


@incident_app.command("open")
def incident_open(
    description: Annotated[str, _text("What happened, and how it was found.")],
    nature: Nature = None,
    data: DataCategories = None,
    people: PeopleCategories = None,
    people_count: PeopleCount = None,
    records_count: RecordsCount = None,
    contact: Contact = None,
    consequences: Consequences = None,
    measures: Measures = None,
    planned: Planned = None,
    aware: When = None,
    practice: PracticeChoice = None,
    as_json: JsonOutput = False,
) -> None:
    """Open an incident: the 72 hours to notify the CNIL run from --aware."""
    if not nature:
        raise usage_error("say the breach's nature with --nature")
    fields = _fields(
        nature,
        description,
        data,
        people,
        people_count,
        records_count,
        contact,
        consequences,
        measures,
        planned,
        aware,
    )
    with signed_in_client(unlock=False) as client:
        incident = _client()(client).open(practice_for(client, practice, ("admin",)), **fields)
    _print(incident, as_json)


@incident_app.command("update")
def incident_update(
    incident_id: IncidentId,
    description: Description = None,
    nature: Nature = None,
    data: DataCategories = None,
    people: PeopleCategories = None,
    people_count: PeopleCount = None,
    records_count: RecordsCount = None,
    contact: Contact = None,
    consequences: Consequences = None,
    measures: Measures = None,
    planned: Planned = None,
    aware: When = None,
    as_json: JsonOutput = False,
) -> None:
    """Change what the register says; what is left out stays."""
    fields = _fields(
        nature,
        description,
        data,
        people,
        people_count,
        records_count,
        contact,
        consequences,
        measures,
        planned,
        aware,
    )
    with signed_in_client(unlock=False) as client:
        incident = _client()(client).update(incident_id, **fields)
    _print(incident, as_json)


@incident_app.command("show")
def incident_show(incident_id: IncidentId, as_json: JsonOutput = False) -> None:
    """One incident, its clock and its decisions."""
    with signed_in_client(unlock=False) as client:
        incident = _client()(client).show(incident_id)
    _print(incident, as_json)


@incident_app.command("count")
def incident_count(
    incident_id: IncidentId,
    since: Annotated[
        datetime, typer.Option(help="Start of the period (ISO 8601).", metavar="TIME")
    ],
    until: Annotated[
        datetime | None, typer.Option(help="End of the period; now if left out.", metavar="TIME")
    ] = None,
    account: Annotated[
        list[str] | None,
        typer.Option(help="An account id whose actions count (repeat); all if none.", metavar="ID"),
    ] = None,
    as_json: JsonOutput = False,
) -> None:
    """Count from the journal the patients and documents reached in a period."""
    with signed_in_client(unlock=False) as client:
        incident = _client()(client).count(incident_id, _utc(since), _utc(until), account)  # type: ignore[arg-type]
    _print(incident, as_json)


@incident_app.command("list")
def incident_list(practice: PracticeChoice = None, as_json: JsonOutput = False) -> None:
    """The practice's incidents, newest first."""
    with signed_in_client(unlock=False) as client:
        incidents = _client()(client).register(practice_for(client, practice, ("admin",)))
    if as_json:
        print_json(incidents)
        return
    if not incidents:
        console.print("Aucun incident enregistré.")
    for i in incidents:
        console.print(
            f"{_text_of(i.get('id'))}  {_time(i.get('aware_at'))}  "
            f"{_word(CLOCK, i.get('clock'))}  {_text_of(str(i.get('description'))[:60])}"
        )


@incident_app.command("register")
def incident_register(practice: PracticeChoice = None, as_json: JsonOutput = False) -> None:
    """Every incident, notified or not, with its decisions (the register, art. 33(5))."""
    with signed_in_client(unlock=False) as client:
        incidents = _client()(client).register(practice_for(client, practice, ("admin",)))
    if as_json:
        print_json(incidents)
        return
    console.print(f"Registre des violations de données — {len(incidents)} incident(s)")
    for i in incidents:
        console.print("")
        _show(i)


@incident_app.command("notify")
def incident_notify(
    incident_id: IncidentId,
    complementary: Annotated[
        bool, typer.Option("--complementary", help="A complement to the initial notification.")
    ] = False,
    complement: Annotated[str, typer.Option(help="What the complement adds.", metavar="TEXT")] = "",
    delay_reasons: Annotated[
        str, typer.Option(help="Why, if after the 72 hours.", metavar="TEXT")
    ] = "",
    as_json: JsonOutput = False,
) -> None:
    """Record the notification you just made on the CNIL's site (uhs incident export)."""
    with signed_in_client(unlock=False) as client:
        incident = _client()(client).notify(
            incident_id,
            complementary=complementary,
            complement=complement,
            delay_reasons=delay_reasons,
        )
    _print(incident, as_json)


@incident_app.command("decide")
def incident_decide(
    incident_id: IncidentId,
    not_notifiable: Annotated[
        bool, typer.Option("--not-notifiable", help="Unlikely to result in a risk (art. 33(1)).")
    ] = False,
    tell: Annotated[
        bool, typer.Option("--tell", help="Tell each patient concerned (art. 34(1)).")
    ] = False,
    unintelligible: Annotated[
        bool,
        typer.Option(
            "--unintelligible", help="Only end-to-end encrypted content was exposed (34(3)(a))."
        ),
    ] = False,
    no_high_risk: Annotated[
        bool, typer.Option("--no-high-risk", help="No high risk for the people (art. 34).")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why, in writing.", metavar="TEXT")] = "",
    message: Annotated[
        str, typer.Option(help="Added to the notice the patients receive.", metavar="TEXT")
    ] = "",
    as_json: JsonOutput = False,
) -> None:
    """Decide: not notifiable to the CNIL, and whether to tell the people concerned."""
    people = [
        d
        for d, on in (
            ("tell", tell),
            ("unintelligible", unintelligible),
            ("no_high_risk", no_high_risk),
        )
        if on
    ]
    if len(people) > 1:
        raise usage_error("choose one of --tell, --unintelligible and --no-high-risk")
    if not people and not not_notifiable:
        raise usage_error(
            "say --not-notifiable, or one of --tell, --unintelligible and --no-high-risk"
        )
    with signed_in_client(unlock=False) as client:
        incidents = _client()(client)
        incident: dict[str, Any] = {}
        if not_notifiable:
            incident = incidents.decide(incident_id, "not_notifiable", reason)
        if people:
            incident = incidents.decide_people(incident_id, people[0], reason, message)
    _print(incident, as_json)


@incident_app.command("export")
def incident_export(
    incident_id: IncidentId,
    output_format: Annotated[
        str, typer.Option("--format", help="md (to read and paste) or json.", metavar="FORMAT")
    ] = "md",
) -> None:
    """The incident as the CNIL's online notification form asks it, section by section."""
    if output_format not in ("md", "json"):
        raise usage_error("--format is md or json")
    with signed_in_client(unlock=False) as client:
        form = _client()(client).export(incident_id, output_format)
    if output_format == "json":
        print_json(form)
    else:
        console.print(_text_of_lines(form), soft_wrap=True, highlight=False)


@incident_app.command("notices")
def incident_notices(as_json: JsonOutput = False) -> None:
    """(Patients) The breach notices your practices sent you."""
    with signed_in_client(unlock=False) as client:
        notices = _client()(client).my_notices()
    if as_json:
        print_json(notices)
        return
    if not notices:
        console.print("Aucune notification de violation de données.")
    for n in notices:
        console.print(f"— {_time(n.get('sent_at'))}")
        console.print(_text_of_lines(n.get("text")))
