"""The alerts' routes (R22): what they answer the practice's admin, and that a
practitioner elsewhere, a patient of the practice or a wrong id learn nothing (404
problems); thresholds out of bounds are refused whole."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tests.server.records.conftest import Practice, refused
from uhealthsec.client.alerts import AlertClient
from uhealthsec.client.incidents import IncidentClient
from uhealthsec.server.incidents.anomalies.models import AnomalyAlert


def test_r22_the_routes_answer_the_admin_and_nobody_else(practice: Practice, ctx, clock):
    alice, bob, carol = (
        AlertClient(p.exchange) for p in (practice.alice, practice.bob, practice.carol)
    )
    assert alice.alerts(practice.id) == []
    with ctx.sessions.begin() as db:
        alert = AnomalyAlert(
            id=uuid.uuid4(),
            practice_id=uuid.UUID(practice.id),
            rule="repeated_denials",
            subject_kind="account",
            subject_id=uuid.UUID(practice.bob.user.account_id),
            window_start=clock.now - timedelta(minutes=20),
            window_end=clock.now - timedelta(minutes=5),
            count=11,
            threshold=10,
            counted="entries",
            detail="11 denied requests by this account within 15 minutes",
            status="open",
            reason="",
            created_at=clock.now,
        )
        db.add(alert)
    alert_id = str(alert.id)
    for stranger in (bob, carol):
        assert "no such practice" in refused(404, stranger.alerts, practice.id)
        assert "no such alert" in refused(404, stranger.dismiss, alert_id, "Rien de grave, vu.")
        assert "no such alert" in refused(404, stranger.open_incident, alert_id)
        assert "no such practice" in refused(404, stranger.thresholds, practice.id)
        assert "no such practice" in refused(404, stranger.tune, practice.id, networks_min=3)
    assert "no such alert" in refused(404, alice.dismiss, uuid.uuid4(), "Une raison assez longue.")
    assert refused(400, alice.dismiss, alert_id, "non")

    # Out of bounds, or unknown: refused, nothing written.
    for wrong in ({"networks_min": 1}, {"open_hour": 21, "close_hour": 20}, {"colour": 1}):
        refused(422, alice.tune, practice.id, **wrong)
    assert alice.thresholds(practice.id)["networks_min"] == 2
    tuned = alice.tune(practice.id, close_hour=21, open_days=[0, 1, 2, 3, 4])
    assert (tuned["close_hour"], tuned["open_days"], tuned["open_hour"]) == (21, [0, 1, 2, 3, 4], 7)
    shown = alice.thresholds(practice.id)
    assert shown["close_hour"] == 21
    assert [(c["before"]["close_hour"], c["after"]["close_hour"]) for c in shown["changes"]] == [
        (20, 21)
    ]

    made = alice.open_incident(alert_id, nature=["integrity"])
    assert made["status"] == "incident" and made["rule"] == "repeated_denials"
    incident = IncidentClient(practice.alice.exchange).show(made["incident_id"])
    assert incident["nature"] == ["integrity"] and alert_id in incident["description"]
    assert alice.alerts(practice.id) == []
    assert [a["id"] for a in alice.alerts(practice.id, "incident")] == [alert_id]
    assert "no longer open" in refused(409, alice.dismiss, alert_id, "Une raison assez longue.")
