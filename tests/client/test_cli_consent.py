"""Consent and retention from the terminal: the patient objects, the practitioner
records the facts of retention, and `uhs-server worker` destroys what expired."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from tests.client.demo import finished, login, run, send, spawn_uhs
from tests.server_fixtures import oathtool
from tests.serving import run_worker
from uhealthsec.client.portability import documents_in
from uhealthsec.server.demo import DEMO_PASSWORD
from uhealthsec.server.incidents.anomalies.rules import PARIS
from uhealthsec.server.records.models import DocumentVersion, PatientFile
from uhealthsec.server.retention.models import FileRetention
from uhealthsec.server.retention.rules import add_years


def test_the_patient_objects_and_the_practitioner_sees_it(
    signed_in, demo, live_server, clock, tmp_path
):
    martin, durand = signed_in
    report = tmp_path / "bilan.txt"
    report.write_text("Bilan: rien a signaler.\n")
    document_id = send(report, martin, live_server)
    assert document_id in run(["inbox"], durand, live_server)

    camille = tmp_path / "camille"
    login(demo["camille.petit"], camille, live_server, clock)
    said = run(
        ["consent", "deny", "team", "--to", "kine.durand@demo.test"],
        camille,
        live_server,
    )
    said = " ".join(said.split())
    assert "kine.durand@demo.test may no longer receive your documents (version 1)" in said
    assert "1 access(es) to your documents ended now" in said
    assert document_id not in run(["inbox"], durand, live_server)
    listed = " ".join(run(["consent", "list"], camille, live_server, password=None).split())
    assert "kine.durand@demo.test" in listed and "refused" in listed

    shown = run(["patient", "show", "camille.petit@demo.test"], martin, live_server)
    assert "your care team in this practice, kine.durand@demo.test: refused" in " ".join(
        shown.split()
    )


def test_research_is_consented_to_study_by_study(signed_in, demo, live_server, clock, tmp_path):
    """R19: the practitioner declares a study; the patient reads it, takes part and
    withdraws, one command each; the practice sees how many take part."""
    martin, _ = signed_in
    camille = tmp_path / "camille"
    login(demo["camille.petit"], camille, live_server, clock)
    declared = " ".join(
        run(
            [
                "consent",
                "declare-study",
                "--title",
                "Sommeil et douleur",
                "--sponsor",
                "Université de Tours",
                "--purpose",
                "Savoir si mieux dormir soulage la douleur.",
                "--methodology",
                "cnil-authorisation",
                "--authorisation",
                "DR-2026-042",
                "--starts",
                clock.now.date().isoformat(),
                "--ends",
                "2099-12-31",
            ],
            martin,
            live_server,
        ).split()
    )
    assert "CNIL authorisation DR-2026-042" in declared
    study_id = re.search(r"\(([0-9a-f-]{36})\)", declared).group(1)
    shown = " ".join(run(["consent", "studies"], camille, live_server, password=None).split())
    assert "Run by: Université de Tours" in shown and "Patients taking part" not in shown
    said = run(
        ["consent", "allow", "research", "--study", study_id[:6]],
        camille,
        live_server,
    )
    assert "You take part in the study “Sommeil et douleur”" in " ".join(said.split())
    counted = " ".join(run(["consent", "studies"], martin, live_server, password=None).split())
    assert "Patients taking part now: 1" in counted
    shown = run(["patient", "show", "camille.petit@demo.test"], martin, live_server)
    assert "Consent: research, the study “Sommeil et douleur”: allowed" in " ".join(shown.split())
    said = run(
        ["consent", "deny", "research", "--study", study_id],
        camille,
        live_server,
    )
    assert "You no longer take part in" in " ".join(said.split())
    counted = " ".join(run(["consent", "studies"], martin, live_server, password=None).split())
    assert "Patients taking part now: 0" in counted
    status, refused = finished(spawn_uhs(["consent", "allow", "research"], camille, live_server))
    assert status != 0 and "name it with --study" in " ".join(refused.split())


def _backdate(ctx, **changes: datetime) -> None:
    """The scene the worker finds: a file opened and written in, or its dates recorded,
    long ago (the worker runs on the real clock)."""
    with ctx.sessions.begin() as db:
        if "opened" in changes:
            db.execute(update(PatientFile).values(created_at=changes["opened"]))
            db.execute(update(DocumentVersion).values(created_at=changes["opened"]))
        if "recorded" in changes:
            db.execute(update(FileRetention).values(facts_recorded_at=changes["recorded"]))


def test_retention_facts_then_the_worker_destroys_what_expired(
    signed_in, live_server, settings, ctx, tmp_path
):
    martin, durand = signed_in
    report = tmp_path / "bilan.txt"
    report.write_text("Courrier du medecin legiste.\n")
    document_id = send(report, martin, live_server)
    _backdate(ctx, opened=datetime(1999, 6, 1, tzinfo=UTC))

    # No birth date: kept. Died in 2000, less than 10 years before this last care.
    shown = " ".join(
        run(["patient", "show", "camille.petit@demo.test"], martin, live_server).split()
    )
    assert "Kept until: unknown" in shown
    dated = run(
        [
            "patient",
            "dates",
            "camille.petit@demo.test",
            "--born",
            "1931-04-02",
            "--died",
            "2000-01-01",
        ],
        martin,
        live_server,
    )
    assert "Kept until: 2010-01-01 — 10 years after the patient's death" in " ".join(dated.split())
    assert "Destroyed from:" in dated  # the grace period of a date recorded now
    # A death recorded by mistake is erased; recorded again, the end is the same.
    cleared = run(
        ["patient", "dates", "camille.petit@demo.test", "--clear-death"],
        martin,
        live_server,
    )
    assert "after the last care" in cleared and "death" not in cleared
    again = run(
        ["patient", "dates", "camille.petit@demo.test", "--died", "2000-01-01"],
        martin,
        live_server,
    )
    assert "Kept until: 2010-01-01" in " ".join(again.split())

    # Recorded just now: the destruction waits for someone to correct a mistake.
    listed = run_worker(settings, "--dry-run")
    assert "2010-01-01" in listed and "death" in listed and "waits until" in listed
    assert "0 file(s) destroyed" in run_worker(settings, "--once")
    _backdate(ctx, recorded=datetime.now(UTC) - timedelta(days=31))
    assert "waits until" not in run_worker(settings, "--dry-run")
    assert document_id in run(["inbox"], durand, live_server)  # a dry run destroys nothing
    assert "1 file(s) destroyed at the end of their retention" in run_worker(settings, "--once")
    assert document_id not in run(["inbox"], durand, live_server)
    assert "0 file(s) destroyed" in run_worker(settings, "--once")


def test_a_copy_of_the_file_and_a_refused_erasure(signed_in, demo, live_server, clock, tmp_path):
    martin, _ = signed_in
    report = tmp_path / "bilan.txt"
    report.write_text("Bilan: rien a signaler.\n")
    send(report, martin, live_server)
    camille = tmp_path / "camille"
    login(demo["camille.petit"], camille, live_server, clock)

    asked = " ".join(run(["rights", "ask", "portability"], camille, live_server).split())
    request_id = re.search(r"Request ([0-9a-f-]{36})", asked).group(1)
    assert "(GDPR art. 20)" in asked
    pending = " ".join(run(["rights", "list"], martin, live_server, None).split())
    assert request_id in pending and "camille.petit@demo.test" in pending
    fulfilled = " ".join(run(["rights", "fulfil", request_id], martin, live_server).split())
    assert "1 document(s) shared with camille.petit@demo.test; request done" in fulfilled

    bundle_path = tmp_path / "mon-dossier.json"
    wrote = " ".join(run(["export", "-o", str(bundle_path)], camille, live_server).split())
    assert "1 document version(s)" in wrote
    assert list(documents_in(json.loads(bundle_path.read_text())).values()) == [report.read_bytes()]
    # Decrypted health data: readable by its owner only, and no partial file left.
    assert bundle_path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".part"] == []

    run(
        ["patient", "dates", "camille.petit@demo.test", "--born", "1990-02-01"], martin, live_server
    )
    asked = " ".join(run(["rights", "ask", "erasure"], camille, live_server).split())
    erasure_id = re.search(r"Request ([0-9a-f-]{36})", asked).group(1)
    shown = " ".join(
        run(["patient", "show", "camille.petit@demo.test"], martin, live_server).split()
    )
    assert "Request: erasure (GDPR art. 17)" in shown and erasure_id in shown
    answer = " ".join(run(["rights", "complete", erasure_id], martin, live_server).split())
    assert "Request refused. Erasure refused under GDPR art. 17(3)(b)" in answer
    mine = " ".join(run(["rights", "list"], camille, live_server, None).split())
    assert "refused" in mine and "done" in mine


def test_claims_and_the_practice_policy(signed_in, live_server, clock, tmp_path):
    martin, _ = signed_in
    today = clock.now.date()
    run(
        ["patient", "dates", "camille.petit@demo.test", "--born", "1990-02-01"], martin, live_server
    )
    opened = " ".join(
        run(
            ["patient", "claim", "camille.petit@demo.test", "--opened", today.isoformat()],
            martin,
            live_server,
        ).split()
    )
    assert "Kept until: unknown — suspended while a claim about medical liability is open" in opened
    policy = " ".join(run(["retention-policy", "--years", "30"], martin, live_server).split())
    assert "Files are kept 30 years after the last care" in policy
    closed = " ".join(
        run(
            ["patient", "claim", "camille.petit@demo.test", "--closed", today.isoformat()],
            martin,
            live_server,
        ).split()
    )
    assert f"Kept until: {add_years(today, 30).isoformat()}" in closed


def test_r17_a_patient_deletes_her_account_from_the_terminal(
    signed_in, demo, live_server, clock, tmp_path
):
    """R17: `uhs rights delete-account` shows what is erased and kept until when, asks,
    asks a second factor, deletes, and the profile is signed out."""
    martin, _ = signed_in
    report = tmp_path / "bilan.txt"
    report.write_text("Bilan: rien a signaler.\n")
    send(report, martin, live_server)
    run(
        ["patient", "dates", "camille.petit@demo.test", "--born", "1990-02-01"],
        martin,
        live_server,
    )
    camille_person = demo["camille.petit"]
    camille = tmp_path / "camille"
    login(camille_person, camille, live_server, clock)

    uhs = spawn_uhs(["rights", "delete-account"], camille, live_server)
    uhs.expect("Deleting your account would do this:")
    uhs.expect("Delete your account\\? It cannot be undone")
    preview = " ".join(uhs.before.split())
    last_day = add_years(clock.now.date(), 20).isoformat()
    assert "kept 1 documents (practice " in preview and f"until {last_day}" in preview
    assert "erased name and e-mail address" in preview
    uhs.sendline("y")
    uhs.expect("6-digit code")
    clock.advance(seconds=30)
    uhs.sendline(oathtool(camille_person.totp_secret, clock.now))
    uhs.expect("Password")  # the deletion is signed (R3): the keys are unlocked for it
    uhs.sendline(DEMO_PASSWORD)
    status, output = finished(uhs)
    assert status == 0, output
    assert "Your account is deleted:" in output and "17(3)(b) and (c)" in output
    # Signed out: the profile holds no tokens any more.
    uhs = spawn_uhs(["rights", "list"], camille, live_server)
    status, output = finished(uhs)
    assert status != 0 and "not signed in" in output


def test_r11_the_notice_given_is_read_recorded_and_published_from_the_terminal(
    signed_in, demo, live_server, clock, tmp_path
):
    """R11: the practitioner sees that the demo's patient was informed, and records it
    again in person; the patient reads the notices she was given, with their text; the
    admin publishes the practice's own notice, which becomes the one shown."""
    martin, _ = signed_in
    today = clock.now.astimezone(PARIS).date().isoformat()
    shown = " ".join(
        run(["patient", "show", "camille.petit@demo.test"], martin, live_server).split()
    )
    assert f"Informed: on {today}, notice version 0, in person (Dr Claire Martin)" in shown

    recorded = " ".join(
        run(
            ["patient", "informed", "camille.petit@demo.test", "--on", today],
            martin,
            live_server,
        ).split()
    )
    assert f"Informed: on {today}, notice version 0, in person" in recorded

    camille = tmp_path / "camille"
    login(demo["camille.petit"], camille, live_server, clock)
    given = " ".join(run(["consent", "information", "--text"], camille, live_server, None).split())
    assert (
        f"Cabinet de démonstration: notice version 0, {today}, given in person by Dr Claire Martin"
        in given
    )
    assert "Votre droit de refuser" in given
    listed = json.loads(run(["consent", "information", "--json"], camille, live_server, None))
    assert [(i["how"], i["notice_version"]) for i in listed] == [("in_person", 0)] * 2

    text = tmp_path / "notice.txt"
    text.write_text("Notre cabinet partage votre dossier au sein de l'équipe de soins. " * 3)
    published = " ".join(
        run(["practice", "notice", "--publish", str(text)], martin, live_server).split()
    )
    assert "(version 1, published" in published
    current = json.loads(run(["practice", "notice", "--json"], martin, live_server, None))
    assert current["version"] == 1 and current["text_fr"] == text.read_text().strip()
