"""An incident as the CNIL's online notification form asks it: its sections in the
form's order, with French labels, as JSON (for tools) and Markdown (to read and paste
field by field)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uhealthsec.server.incidents.models import Incident, IncidentNotification

NATURE_FR = {
    "confidentiality": "Perte de confidentialité",
    "integrity": "Perte d'intégrité",
    "availability": "Perte de disponibilité",
}
DECISION_FR = {
    None: "non décidée",
    "notifiable": "notifiable à la CNIL",
    "not_notifiable": "non notifiable : risque improbable pour les personnes",
}
PEOPLE_FR = {
    None: "non décidée",
    "tell": "les personnes concernées ont été informées (art. 34(1))",
    "unintelligible": "information non requise : données inintelligibles, chiffrées de bout "
    "en bout (art. 34(3)(a))",
    "no_high_risk": "information non requise : pas de risque élevé",
}
CLOCK_FR = {
    "on_time": "dans le délai",
    "due_soon": "échéance dans moins de 24 h",
    "late": "délai de 72 h dépassé",
    "notified": "notifiée dans le délai",
    "notified_late": "notifiée après le délai",
    "not_notifiable": "non notifiable",
}


def _time(value: object) -> str:
    return value.strftime("%d/%m/%Y %H:%M UTC") if value is not None else ""  # type: ignore[attr-defined]


def cnil_form(
    incident: Incident,
    practice_name: str,
    notifications: Sequence[IncidentNotification],
    clock: str,
) -> dict[str, object]:
    """The form's sections, in order; each a title and its fields (label: value)."""
    from uhealthsec.server.incidents.service import DEADLINE

    latest = notifications[-1] if notifications else None
    initial = notifications[0] if notifications else None
    sections: list[dict[str, object]] = [
        {
            "titre": "Type de notification",
            "champs": {
                "Notification": (
                    "complémentaire"
                    if latest is not None and latest.kind == "complementary"
                    else "initiale"
                ),
                "Référence de l'incident": str(incident.id),
                "Date de la notification initiale": _time(initial.made_at) if initial else "",
            },
        },
        {
            "titre": "Organisme",
            "champs": {
                "Responsable de traitement": practice_name,
                "Contact (délégué à la protection des données ou personne à contacter)": (
                    incident.contact
                ),
            },
        },
        {
            "titre": "Chronologie",
            "champs": {
                "Date de prise de connaissance de la violation": _time(incident.aware_at),
                "Échéance de notification (72 h)": _time(incident.aware_at + DEADLINE),
                "État du délai": CLOCK_FR.get(clock, clock),
                "Période examinée dans le journal": (
                    f"du {_time(incident.counted_from)} au {_time(incident.counted_until)}"
                    if incident.counted_from is not None
                    else ""
                ),
            },
        },
        {
            "titre": "Nature de la violation",
            "champs": {
                "Nature": ", ".join(NATURE_FR[n] for n in incident.nature.split(",") if n),
                "Description des circonstances": incident.description,
            },
        },
        {
            "titre": "Données concernées",
            "champs": {
                "Catégories de données": incident.data_categories,
                "Nombre approximatif d'enregistrements": _number(incident.records_estimate),
                "Nombre d'enregistrements relevés dans le journal": _number(
                    incident.records_counted
                ),
            },
        },
        {
            "titre": "Personnes concernées",
            "champs": {
                "Catégories de personnes": incident.people_categories,
                "Nombre approximatif de personnes": _number(incident.people_estimate),
                "Nombre de personnes relevées dans le journal": _number(incident.people_counted),
            },
        },
        {
            "titre": "Conséquences probables",
            "champs": {"Conséquences probables pour les personnes": incident.consequences},
        },
        {
            "titre": "Mesures prises",
            "champs": {
                "Mesures prises pour remédier à la violation": incident.measures_taken,
                "Mesures envisagées": incident.measures_planned,
            },
        },
        {
            "titre": "Information des personnes",
            "champs": {
                "Décision": PEOPLE_FR.get(incident.people_decision, ""),
                "Justification": incident.people_reason,
                "Métadonnées en clair (art. 34(3)(a))": incident.clear_metadata,
            },
        },
    ]
    if initial is not None and initial.delay_reasons:
        sections.append(
            {"titre": "Motifs du retard", "champs": {"Motifs du retard": initial.delay_reasons}}
        )
    if latest is not None and latest.kind == "complementary":
        sections.append(
            {
                "titre": "Complément",
                "champs": {"Ce que cette notification ajoute": latest.complement},
            }
        )
    return {"formulaire": "Notification de violation de données personnelles", "sections": sections}


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def markdown(form: dict[str, object]) -> str:
    lines = [f"# {form['formulaire']}", ""]
    for section in form["sections"]:  # type: ignore[attr-defined]
        lines += [f"## {section['titre']}", ""]
        for label, value in section["champs"].items():
            text = str(value).strip() or "_(non renseigné)_"
            if "\n" in text:
                lines += [f"**{label}** :", "", text, ""]
            else:
                lines.append(f"- **{label}** : {text}")
        lines.append("")
    return "\n".join(lines)
