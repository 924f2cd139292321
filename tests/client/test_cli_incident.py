"""The breach register from the terminal (R20, R21): Dr Martin, the practice's admin,
opens an incident, counts from the journal who it reached, exports the CNIL form,
records the notification and tells the patient, who reads the notice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.client.demo import login, run, send
from tests.client.terminal import finished, spawn_uhs


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_r20_r21_the_main_path_of_a_breach(signed_in, demo, live_server, clock, tmp_path):
    martin, durand = signed_in
    since = (clock.now - timedelta(minutes=5)).astimezone(UTC).isoformat()
    report = tmp_path / "bilan.txt"
    report.write_text("Bilan: rien a signaler.\n")
    send(report, martin, live_server)

    opened = run(
        [
            "incident",
            "open",
            "--nature",
            "confidentiality",
            "--description",
            "Ordinateur du cabinet volé.",
            "--consequences",
            "Aucune : les documents sont chiffrés.",
            "--json",
        ],
        martin,
        live_server,
    )
    incident = json.loads(opened[opened.index("{") :])
    assert incident["clock"] == "on_time"
    incident_id = incident["id"]

    counted = run(["incident", "count", incident_id, "--since", since], martin, live_server)
    assert "Personnes concernées : 1 (journal : 1)" in _flat(counted)
    assert "Enregistrements concernés : 1 (journal : 1)" in _flat(counted)

    form = run(["incident", "export", incident_id], martin, live_server, password=None)
    flat = _flat(form)
    sections = ["## Type de notification", "## Organisme", "## Nature de la violation"]
    assert all(s in flat for s in sections)
    assert flat.index(sections[0]) < flat.index(sections[1]) < flat.index(sections[2])
    assert "Ordinateur du cabinet volé." in flat

    notified = run(["incident", "notify", incident_id], martin, live_server)
    assert "notifiée à la CNIL dans le délai" in _flat(notified)
    told = run(
        ["incident", "decide", incident_id, "--tell", "--message", "Aucune action requise."],
        martin,
        live_server,
    )
    assert "Personnes : informées" in _flat(told)
    register = _flat(run(["incident", "register"], martin, live_server, password=None))
    assert "1 incident(s)" in register and incident_id in register

    camille = tmp_path / "camille"
    login(demo["camille.petit"], camille, live_server, clock)
    notices = _flat(run(["incident", "notices"], camille, live_server, password=None))
    assert "Ordinateur du cabinet volé." in notices and "Aucune action requise." in notices

    # Paul Durand is a practitioner of the practice, not its admin: he learns nothing.
    uhs = spawn_uhs(["incident", "show", incident_id], durand, live_server)
    status, output = finished(uhs)
    assert status != 0 and "no such incident" in _flat(output)
    assert datetime.fromisoformat(incident["aware_at"]) <= clock.now


def test_a_hostile_servers_incident_is_printed_as_plain_text(capsys):
    """Markup, escapes and values of the wrong type in an answer neither break the
    command nor print as ours."""
    from uhealthsec.client.cli.incident import _show

    _show(
        {
            "id": "[bold red]faux[/]",
            "nature": ["confidentiality", ["x"], "\x1b[2J"],
            "aware_at": "not a time",
            "deadline": 12,
            "clock": {"a": 1},
            "description": "Ligne\n[link=http://evil]clic[/link]\x1b]0;titre\x07",
            "people_estimate": "beaucoup",
            "people_counted": 3,
            "contact": None,
            "decision": ["notifiable"],
            "decision_reason": "[/]",
            "notifications": [{"kind": "initial", "made_at": "2026-13-45"}],
            "people_decision": "tell",
        }
    )
    out = capsys.readouterr().out
    assert "[bold red]faux[/]" in out and "\x1b" not in out
    assert "[link=http://evil]clic[/link]" in out
    assert "Personnes concernées : ? (journal : 3)" in out
    assert "Notification : ? — [/]" in out and "Personnes : informées" in out
