"""The compliance dashboard from the terminal: Dr Martin, the practice's admin, reads
each line's status in words and its rule, as JSON, and writes the dated PDF report;
Paul Durand, a practitioner of the practice, learns nothing of it."""

from __future__ import annotations

import io
import json
import stat

from pypdf import PdfReader

from tests.client.demo import run
from tests.client.terminal import finished, spawn_uhs


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_admin_reads_the_dashboard_and_writes_the_report(signed_in, live_server, tmp_path):
    martin, durand = signed_in
    shown = _flat(run(["compliance", "dashboard"], martin, live_server, password=None))
    assert "Conformité — Cabinet de démonstration" in shown
    # A status in words with its sign, and the rule behind it.
    assert "✗ en retard — Dernière sauvegarde jamais" in shown
    assert "Règle : Une sauvegarde chiffrée au moins par jour" in shown

    answer = run(["compliance", "dashboard", "--json"], martin, live_server, password=None)
    dashboard = json.loads(answer[answer.index("{") :])
    keys = [item["key"] for item in dashboard["items"]]
    assert keys[:2] == ["second_factors", "passkeys"] and "transport" in keys
    assert {item["status"] for item in dashboard["items"]} <= {"ok", "watch", "late"}

    report = tmp_path / "rapport.pdf"
    said = run(
        ["compliance", "dashboard", "--pdf", str(report)], martin, live_server, password=None
    )
    assert "Rapport écrit" in said
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(report.read_bytes())).pages)
    assert "Rapport de conformité" in text and "Dernière sauvegarde" in text

    uhs = spawn_uhs(["compliance", "dashboard"], durand, live_server)
    status, output = finished(uhs)
    assert status != 0 and "admin of any practice" in _flat(output)
    # Naming the practice, he is answered as if it did not exist.
    uhs = spawn_uhs(
        ["compliance", "dashboard", "--practice", dashboard["practice_id"]], durand, live_server
    )
    status, output = finished(uhs)
    assert status != 0 and "no such practice" in _flat(output)
