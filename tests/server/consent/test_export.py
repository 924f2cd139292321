"""R18: the patient's copy is complete (issue 26, item 6; docs/PROTOCOL.md 15), on both
databases. The export holds who the patient is (Patient), their documents, their
messages decrypted and verified on their device (Communication), their rights
requests and the practice's answers (Task), the retention of their files (Basic),
and every entry of their access history however long it is (AuditEvent): 10,000
journal entries about them, appended by the journal's writer as requests' entries
are, come back all, paged, none left out and none twice."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tracemalloc
import uuid

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from tests.server.records.conftest import Practice
from uhealthsec.client.errors import ExchangeRefused
from uhealthsec.client.exchange import MessagingClient
from uhealthsec.client.portability import (
    HISTORY_EXPORT,
    MAX_HISTORY_ENTRIES,
    documents_in,
    export_bundle,
    history,
    write_bundle,
)
from uhealthsec.client.rights import RightsClient
from uhealthsec.crypto.journal import JournalEntry, Outcome
from uhealthsec.server.audit.models import JournalPatient
from uhealthsec.server.audit.writer import PendingEntry

#: Journal entries about the patient written for the test, beyond those of its requests.
FILLED = 10_000


def fill_history(ctx, patient_id: uuid.UUID, practice_id: uuid.UUID, count: int) -> None:
    """``count`` entries about the patient, appended by the journal's writer in its
    batches (chained in the patient's chain, in the Merkle log), as requests' are."""
    futures = [
        ctx.journal.submit(
            PendingEntry(
                JournalEntry(
                    1_795_000_000_000 + i, uuid.uuid4(), "records.content", Outcome.DONE, 200
                ),
                patient_ids=(patient_id,),
                practice_id=practice_id,
            )
        )
        for i in range(count)
    ]
    for future in futures:
        future.result(timeout=120)


def journal_indexes(ctx, patient_id: uuid.UUID) -> list[int]:
    with ctx.sessions() as db:
        return list(
            db.scalars(
                select(JournalPatient.log_index).where(JournalPatient.patient_id == patient_id)
            )
        )


def resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_r18_the_export_holds_identity_messages_rights_retention_and_the_whole_history(
    practice: Practice, report, tmp_path, ctx
):
    """R18 (GDPR art. 15, 20): everything about the patient, and all 10,000+ entries of
    their access history, not the first 1,000."""
    alice, carol = practice.alice, practice.carol
    carol_id = carol.exchange.account.id
    # A document in two versions, and one sent as a message's attachment.
    first = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[carol.email])
    report.write_bytes(b"Version 2: traitement adapte.\n")
    alice.exchange.new_version(first, report)
    scan = tmp_path / "radio.png"
    scan.write_bytes(bytes(range(256)) * 40)
    messaging = MessagingClient(alice.exchange)
    thread = messaging.start_thread([carol.email])
    said = messaging.send(
        thread["id"],
        "Voici votre radio, rien d'anormal.",
        attachments=[scan],
        patient_file_id=practice.patient_file,
    )
    answered = MessagingClient(carol.exchange).send(thread["id"], "Merci docteur !")
    # Rights requests, one answered with reasons; the retention facts of her file.
    rights = RightsClient(alice.exchange)
    access = RightsClient(carol.exchange).ask(practice.id, "access")
    rights.extend(access["id"], "Nombreux documents anciens a rassembler")
    objection = RightsClient(carol.exchange).ask(practice.id, "objection")
    rights.refuse(objection["id"], "Le suivi de soins en cours l'exige (art. 21)")
    retention = alice.exchange.call(
        "PUT", f"/patient-files/{practice.patient_file}/retention", json={"born_on": "1990-02-01"}
    ).json()
    fill_history(ctx, carol_id, uuid.UUID(practice.id), FILLED)
    before_export = set(journal_indexes(ctx, carol_id))

    bundle = export_bundle(carol.exchange)
    Bundle.model_validate(bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[0] == "Patient"

    # Who she is: the account the server holds, and every document is about her.
    (patient,) = resources(bundle, "Patient")
    assert patient["id"] == str(carol_id)
    assert patient["identifier"] == [{"system": "urn:uhealthsec:account", "value": str(carol_id)}]
    assert patient["telecom"][0] == {"system": "email", "value": carol.email, "use": "home"}
    assert patient["name"] == [{"text": carol.exchange.account.display_name}]
    assert bundle["entry"][0]["fullUrl"] == f"urn:uuid:{carol_id}"
    documents = resources(bundle, "DocumentReference")
    assert len(documents) == 3  # two versions, and the attachment
    assert {d["subject"]["reference"] for d in documents} == {f"Patient/{patient['id']}"}

    # Her messages, decrypted, with sender, recipients, time and thread; the
    # attachment's bytes reached through the DocumentReference it names.
    messages = {c["identifier"][0]["value"]: c for c in resources(bundle, "Communication")}
    assert set(messages) == {str(said), str(answered)}
    mine, theirs = messages[str(answered)], messages[str(said)]
    assert mine["payload"] == [{"contentString": "Merci docteur !"}]
    assert mine["sender"]["reference"] == f"Patient/{carol_id}"
    assert theirs["sender"]["identifier"]["value"] == str(alice.exchange.account.id)
    assert theirs["recipient"] == [mine["sender"]]
    for message in messages.values():
        assert message["partOf"] == [
            {"identifier": {"system": "urn:uhealthsec:thread", "value": thread["id"]}}
        ]
        assert message["status"] == "completed" and message["sent"]
    text, attached = theirs["payload"]
    assert text == {"contentString": "Voici votre radio, rien d'anormal."}
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    reference = by_url[attached["contentReference"]["reference"]]
    binary = by_url[reference["content"][0]["attachment"]["url"]]
    assert base64.b64decode(binary["data"]) == scan.read_bytes()
    assert attached["contentReference"]["display"] == "radio.png"

    # Her rights requests and the practice's answers.
    tasks = {t["code"]["coding"][0]["code"]: t for t in resources(bundle, "Task")}
    assert set(tasks) == {"access", "objection"}
    assert tasks["access"]["status"] == "in-progress"
    assert tasks["access"]["statusReason"]["text"] == "Nombreux documents anciens a rassembler"
    assert tasks["objection"]["status"] == "rejected"
    assert tasks["objection"]["description"] == "GDPR art. 21"
    assert tasks["objection"]["for"]["reference"] == f"Patient/{carol_id}"
    assert tasks["objection"]["owner"]["reference"] == f"Organization/{practice.id}"

    # The retention of her file, as the practice sees it.
    (kept,) = resources(bundle, "Basic")
    facts = {x["url"].rsplit(":", 1)[1]: x for x in kept["extension"]}
    assert kept["identifier"][0]["value"] == practice.patient_file
    assert facts["keep-until"]["valueDate"] == retention["keep_until"]
    assert facts["basis"]["valueCode"] == retention["basis"]
    assert facts["born-on"]["valueDate"] == "1990-02-01"

    # The whole history: every entry about her up to the first page asked, once each,
    # newest first, far more than the 1,000 of one page.
    events = resources(bundle, "AuditEvent")
    exported = [int(e["id"].removeprefix("journal-")) for e in events]
    assert len(exported) == len(set(exported)) > FILLED
    assert exported == sorted(exported, reverse=True)
    assert before_export <= set(exported)
    assert set(exported) == {i for i in journal_indexes(ctx, carol_id) if i <= exported[0]}

    # A second system reading it gets the documents back.
    assert len(documents_in(bundle)) == 3


class Replaying:
    """An exchange whose server serves the same page of history whatever the cursor."""

    def __init__(self, exchange) -> None:
        self.exchange = exchange
        self.page: dict | None = None

    def call(self, method, path, **kwargs):
        answer = self.exchange.call(method, path, **kwargs)
        if self.page is None:
            self.page = answer.json()
        return type("Answer", (), {"json": lambda _self: self.page})()


def test_r18_a_server_whose_history_does_not_go_back_stops_the_export(practice: Practice, ctx):
    """R18: paging has no cap, so a server serving the same page again would keep an
    export going for ever: it is refused instead."""
    carol = practice.carol
    fill_history(ctx, carol.exchange.account.id, uuid.UUID(practice.id), 12)
    pages = history(Replaying(carol.exchange), page=5)  # type: ignore[arg-type]
    with pytest.raises(ExchangeRefused, match="does not go back"):
        list(pages)


class Answer:
    def __init__(self, body) -> None:
        self.body = body

    def json(self):
        return self.body


def test_r18_a_document_smuggled_into_a_served_bundle_stops_the_export(
    practice: Practice, monkeypatch
):
    """R18: a DocumentReference and its Binary are written only for a version the
    patient's device verified; the server slipping one among any of its FHIR answers
    stops the export rather than reach it."""
    carol = practice.carol
    real = carol.exchange.call
    forged = {"resourceType": "DocumentReference", "status": "current", "content": []}
    for path in ("/consents/fhir", "/rights-requests/fhir", "/retention/fhir", HISTORY_EXPORT):

        def serving(method, asked, path=path, **kwargs):
            if asked == path:
                return Answer({"resourceType": "Bundle", "entry": [{"resource": forged}]})
            return real(method, asked, **kwargs)

        monkeypatch.setattr(carol.exchange, "call", serving)
        with pytest.raises(ExchangeRefused, match="holds something else"):
            write_bundle(carol.exchange, io.StringIO())
    # Nor within a resource of the expected type: contained, nested, or a modifier.
    carriers = [
        {"resourceType": "Basic", "code": {"text": "r"}, "contained": [forged]},
        {"resourceType": "Basic", "code": {"text": "r"}, "extension": [{"url": "x", "y": forged}]},
        {"resourceType": "Basic", "code": {"text": "r"}, "modifierExtension": [{"url": "x"}]},
    ]
    for carrier in carriers:

        def carrying(method, asked, carrier=carrier, **kwargs):
            if asked == "/retention/fhir":
                return Answer({"resourceType": "Bundle", "entry": [{"resource": carrier}]})
            return real(method, asked, **kwargs)

        monkeypatch.setattr(carol.exchange, "call", carrying)
        with pytest.raises(ExchangeRefused, match="carries other resources"):
            write_bundle(carol.exchange, io.StringIO())


def test_r18_a_history_without_end_stops_at_the_cap():
    """R18: full pages that each go back, counting down from the largest index read,
    are followed only up to the cap (MAX_HISTORY_ENTRIES), then refused."""
    asked = []

    class Endless:
        def call(self, method, path, params):
            asked.append(params)
            top = params.get("before", 999_999_999_999_999)
            ids = range(top - 5, top)
            events = [{"resourceType": "AuditEvent", "id": f"journal-{i}"} for i in ids]
            return Answer({"resourceType": "Bundle", "entry": [{"resource": e} for e in events]})

    with pytest.raises(ExchangeRefused, match="goes past 15 records"):
        list(history(Endless(), page=5, cap=15))  # type: ignore[arg-type]
    assert len(asked) == 4
    assert MAX_HISTORY_ENTRIES == 200_000  # as the web application's (portability.ts)


def test_r18_the_export_streams_documents_to_its_file(practice: Practice, tmp_path):
    """R18, streamed: a document goes into the bundle a slice at a time; the export's
    memory at its peak stays below the document's size (the bundle's text of it alone
    is 4/3 of that)."""
    alice, carol = practice.alice, practice.carol
    big = tmp_path / "irm.bin"
    big.write_bytes(hashlib.sha256(b"irm").digest() * (8 * 1024 * 1024 // 32))
    alice.exchange.send(big, patient_file_id=practice.patient_file, to=[carol.email])
    out = tmp_path / "export.json"
    tracemalloc.start()
    try:
        with out.open("w", encoding="utf-8") as written:
            kinds = write_bundle(carol.exchange, written)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < big.stat().st_size
    assert kinds["Binary"] == kinds["DocumentReference"] == 1 and kinds["Patient"] == 1
    bundle = json.loads(out.read_text(encoding="utf-8"))
    assert list(documents_in(bundle).values()) == [big.read_bytes()]
    attachment = resources(bundle, "DocumentReference")[0]["content"][0]["attachment"]
    assert attachment["size"] == big.stat().st_size
    assert base64.b64decode(attachment["hash"]) == hashlib.sha1(big.read_bytes()).digest()
    # A stand-in text stream shows the same: nothing depends on a real file.
    assert write_bundle(carol.exchange, io.StringIO())["Binary"] == 1


def test_r18_a_patients_own_reads_of_rights_and_retention_are_theirs_alone_and_journaled(
    practice: Practice,
):
    """R18: ``/rights-requests/fhir`` and ``/retention/fhir`` answer only about the
    caller (a practitioner of the practice, asking for their own, gets nothing of
    Carol's), and each read is in Carol's access history, as her other reads are."""
    alice, carol = practice.alice, practice.carol
    RightsClient(carol.exchange).ask(practice.id, "access")
    for path, kind in (("/rights-requests/fhir", "Task"), ("/retention/fhir", "Basic")):
        hers = carol.exchange.call("GET", path).json()["entry"]
        assert [e["resource"]["resourceType"] for e in hers] == [kind]
        assert alice.exchange.call("GET", path).json().get("entry", []) == []
    actions = [i["action"] for i in carol.exchange.call("GET", "/journal/history").json()]
    assert {"consent.my_requests_as_fhir", "retention.my_retention_as_fhir"} <= set(actions)


@pytest.mark.parametrize("named", ["journal-²", "journal-", "journal-1234567890123456", "7", None])
def test_r18_an_access_record_that_does_not_name_its_entry_stops_the_export(named):
    """R18: the history is paged by the entries' indexes; one not given as the export
    writes it (ASCII digits, at most 15, as the web application reads them) is refused."""
    page = Answer(
        {
            "resourceType": "Bundle",
            "entry": [{"resource": {"resourceType": "AuditEvent", "id": named}}],
        }
    )
    exchange = type("Exchange", (), {"call": lambda self, *args, **kwargs: page})()
    with pytest.raises(ExchangeRefused, match="does not name its journal entry"):
        list(history(exchange))
