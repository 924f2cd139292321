"""`uhs search` in a terminal: what Dr Martin sends and what Paul Durand reads is
found by its words, its patient's name and their first letters, narrowed to a patient,
an author or a first day; a document no longer readable leaves the reader's index."""

from __future__ import annotations

import json
from datetime import date, timedelta

from tests.client.demo import run, send


def test_send_get_and_search(signed_in, live_server, tmp_path):
    martin, durand = signed_in
    report = tmp_path / "bilan-cheville.txt"
    report.write_text("Entorse de la cheville droite : dix séances de rééducation.\n")
    document_id = send(report, martin, live_server, "--title", "Bilan kinésithérapique")

    # The sender's index has it from the send: words, title, the patient's name prefix.
    for query in ("cheville", "séance", "Bilan", "pet", "Petit entorse"):
        found = run(["search", query], martin, live_server)
        assert document_id in found and "Bilan kinésithérapique" in found, query
    assert "No document matches." in run(["search", "lombalgie"], martin, live_server)

    # Narrowed to a patient (proven in the key directory), an author, a first day.
    today = date.today()
    narrowed = {
        ("--patient", "camille.petit@demo.test"): True,
        ("--patient", "kine.durand@demo.test"): False,
        ("--from", "dr.martin@demo.test"): True,
        ("--from", "kine.durand@demo.test"): False,
        ("--since", today.isoformat()): True,
        ("--since", (today + timedelta(days=2)).isoformat()): False,
    }
    for option, kept in narrowed.items():
        found = run(["search", "cheville", *option], martin, live_server)
        assert (document_id in found) is kept, option

    # The reader's index has it once read.
    assert "No document matches." in run(["search", "cheville"], durand, live_server)
    received = tmp_path / "received"
    received.mkdir()
    run(["get", document_id, "-o", str(received)], durand, live_server)
    assert document_id in run(["search", "reeducation"], durand, live_server)

    # Revoked: the reader's search no longer shows it, and removes it from the index.
    run(["revoke", document_id, "--from", "kine.durand@demo.test"], martin, live_server)
    assert "No document matches." in run(["search", "cheville"], durand, live_server)


def test_a_title_written_by_someone_else_is_printed_as_text(signed_in, live_server, tmp_path):
    """A colleague's title is theirs to write: rich markup in it neither breaks the
    reader's `uhs search` and `uhs inbox` nor dresses itself up as the command's own."""
    martin, durand = signed_in
    note = tmp_path / "note.txt"
    note.write_text("Xylophage : une note.\n")
    title = "Bilan[/] [link=https://evil.example]Dr Vrai[/link] [bold red]URGENT"
    document_id = send(note, martin, live_server, "--title", title)
    received = tmp_path / "got"
    received.mkdir()
    run(["get", document_id, "-o", str(received)], durand, live_server)
    for command in (["search", "xylophage"], ["inbox"]):
        printed = run(command, durand, live_server)
        assert title in printed, command


def test_what_is_printed_of_someone_else_has_no_control_character():
    from uhealthsec.client.cli._common import shown

    assert (
        shown("Bilan\n  from Dr Vrai <vrai@example.org>")
        == "Bilan   from Dr Vrai <vrai@example.org>"
    )
    assert shown("a\x1b[31mred\x07") == "a [31mred "
    assert shown("line one\nline two", lines=True) == "line one\nline two"
    assert shown("[bold]x[/bold]") == "\\[bold]x\\[/bold]"


def _json(output: str, opener: str):
    """The JSON a command printed after its password prompt (and progress bar)."""
    return json.loads(output[output.index(opener) :])


def test_sync_indexes_what_was_received_and_never_opened(signed_in, live_server, tmp_path):
    """`uhs sync` adds the documents a reader received to their index, the text of a
    plain-text one and of a FHIR resource included, without marking them opened."""
    martin, durand = signed_in
    note = tmp_path / "note-genou.txt"
    note.write_text("Gonalgie m\u00e9canique du genou gauche.\n")
    observation = tmp_path / "temperature.json"
    observation.write_text(
        json.dumps(
            {
                "resourceType": "Observation",
                "id": "t1",
                "note": [{"text": "Hyperthermie depuis hier soir"}],
            }
        )
    )
    note_id = send(note, martin, live_server)
    observation_id = send(observation, martin, live_server)
    assert "No document matches." in run(["search", "gonalgie"], durand, live_server)

    synced = _json(run(["sync", "--json"], durand, live_server), "{")
    assert synced["added"] >= 2 and synced["failures"] == [] and synced["stopped"] is None
    for query, document_id in (
        ("gonalgie", note_id),
        ("genou gauche", note_id),
        ("hyperthermie", observation_id),
        ("temperature", observation_id),
    ):
        assert document_id in run(["search", query], durand, live_server), query
    listed = {d["id"]: d for d in _json(run(["inbox", "--json"], durand, live_server), "[")}
    assert listed[note_id]["read_at"] is None and listed[observation_id]["read_at"] is None

    again = _json(run(["sync", "--json"], durand, live_server), "{")
    assert again["added"] == 0 and again["held"] >= 2
