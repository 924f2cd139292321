"""Anomaly alerts from the terminal (R22): Dr Martin, the practice's admin, lists the
open alerts, dismisses one with a reason and opens an incident from another; Paul
Durand, a practitioner of the practice, learns nothing of them."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from sqlalchemy import select

from tests.client.demo import run
from tests.client.terminal import finished, spawn_uhs
from uhealthsec.server.accounts.models import Account, Membership, Role
from uhealthsec.server.demo import DEMO_PASSWORD
from uhealthsec.server.incidents.anomalies.models import AnomalyAlert


def _alert(ctx, clock, rule: str) -> str:
    """An alert as the worker's rules store it, about Paul Durand."""
    with ctx.sessions.begin() as db:
        durand = db.scalar(select(Account.id).where(Account.email == "kine.durand@demo.test"))
        practice = db.scalar(
            select(Membership.practice_id).where(
                Membership.account_id == durand, Membership.role == Role.PRACTITIONER
            )
        )
        alert = AnomalyAlert(
            id=uuid.uuid4(),
            practice_id=practice,
            rule=rule,
            subject_kind="account",
            subject_id=durand,
            window_start=clock.now - timedelta(minutes=30),
            window_end=clock.now - timedelta(minutes=5),
            count=12,
            threshold=10,
            counted="entries",
            detail="12 denied requests by this account within 15 minutes",
            status="open",
            reason="",
            created_at=clock.now,
        )
        db.add(alert)
    return str(alert.id)


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_r22_list_dismiss_and_open_an_incident_from_the_terminal(
    signed_in, ctx, live_server, clock
):
    martin, durand = signed_in
    denials, mass = _alert(ctx, clock, "repeated_denials"), _alert(ctx, clock, "mass_download")

    listed = _flat(run(["alerts", "list"], martin, live_server, password=None))
    assert denials in listed and mass in listed and "refus répétés" in listed

    uhs = spawn_uhs(
        ["alerts", "dismiss", denials, "--reason", "Rien à voir ici."], durand, live_server
    )
    uhs.expect("Password")  # a change is signed (R3): the keys are unlocked for it
    uhs.sendline(DEMO_PASSWORD)
    status, output = finished(uhs)
    assert status != 0 and "no such alert" in _flat(output)

    dismissed = run(
        ["alerts", "dismiss", denials, "--reason", "Il s'était trompé de mot de passe.", "--json"],
        martin,
        live_server,
    )
    assert json.loads(dismissed[dismissed.index("{") :])["status"] == "dismissed"
    with ctx.sessions.begin() as db:
        db.get(AnomalyAlert, uuid.UUID(denials)).reason = "Vu\u202e, rien."
    # Text others wrote reaches the terminal escaped: no bidi override.
    every = run(["alerts", "list", "--status", "all", "--json"], martin, live_server, password=None)
    assert "\u202e" not in every and "\\u202e" in every
    listed = json.loads(every[every.index("[") :])
    assert {a["id"] for a in listed} == {denials, mass}
    rest = run(
        ["alerts", "list", "--status", "all", "--json", "--before", listed[0]["id"]],
        martin,
        live_server,
        password=None,
    )
    assert [a["id"] for a in json.loads(rest[rest.index("[") :])] == [listed[1]["id"]]

    made = _flat(run(["alerts", "incident", mass], martin, live_server))
    assert "incident ouvert" in made and "uhs incident show" in made
    left = _flat(run(["alerts", "list"], martin, live_server, password=None))
    assert "Aucune alerte ouverte." in left
