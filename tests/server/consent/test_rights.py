"""Patient rights requests: deadlines, copies served end to end, erasure decided by
legal retention, restriction (both databases)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import update

from tests.server.records.conftest import Practice
from uhealthsec.client.api import ApiError
from uhealthsec.client.portability import (
    EXPORT_FORMAT_TAG,
    MHD_MINIMAL_DOCUMENT_REFERENCE,
    documents_in,
    export_bundle,
)
from uhealthsec.client.rights import RightsClient
from uhealthsec.server.records.models import DocumentVersion, PatientFile
from uhealthsec.server.retention.models import FileRetention
from uhealthsec.server.retention.rules import add_months, add_years


def refused(call, *args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def facts(practice: Practice, **dates: str) -> dict:
    return practice.alice.exchange.call(
        "PUT", f"/patient-files/{practice.patient_file}/retention", json=dates
    ).json()


def test_deadlines_of_each_kind_of_request(practice: Practice, clock, users):
    """R18: one month (extendable), 48 hours then 8 days for the medical file."""
    carol = RightsClient(practice.carol.exchange)
    alice = RightsClient(practice.alice.exchange)
    now = clock.now

    access = carol.ask(practice.id, "access")
    assert (access["status"], access["citation"]) == ("pending", "GDPR art. 15")
    assert at(access["due_at"]) == datetime.combine(add_months(now.date(), 1), now.timetz())
    assert refused(carol.ask, practice.id, "access").status == 409  # one open at a time

    medical = carol.ask(practice.id, "medical_file")
    assert medical["citation"] == "CSP L1111-7"
    assert at(medical["earliest_at"]) == now + timedelta(hours=48)
    assert at(medical["due_at"]) == now + timedelta(days=8)
    # Not before the 48-hour reflection period, and no extension.
    error = refused(alice.complete, medical["id"])
    assert error.status == 409 and "48-hour reflection period" in error.detail
    assert refused(alice.extend, medical["id"], "Dossier volumineux a rassembler").status == 409

    # Two more months, once, with reasons.
    extended = alice.extend(access["id"], "Nombreux documents anciens a rassembler")
    assert extended["status"] == "extended"
    assert at(extended["due_at"]) == datetime.combine(add_months(now.date(), 3), now.timetz())
    assert refused(alice.extend, access["id"], "Encore plus de documents").status == 409

    # The practice lists open requests, the nearest deadline first; late ones show.
    listed = alice.of_practice(practice.id)
    assert [r["id"] for r in listed] == [medical["id"], access["id"]]
    clock.advance(days=9)
    practice.alice.user.tokens = users.sign_in_again(practice.alice.user)
    assert [r["overdue"] for r in alice.of_practice(practice.id)] == [True, False]


def test_the_medical_file_of_information_older_than_five_years(practice: Practice, clock, users):
    clock.advance(days=366 * 5 + 1)
    for person in (practice.alice, practice.carol):
        person.user.tokens = users.sign_in_again(person.user)
    request = RightsClient(practice.carol.exchange).ask(practice.id, "medical_file")
    now = clock.now
    assert at(request["due_at"]) == datetime.combine(add_months(now.date(), 2), now.timetz())


def test_portability_round_trips_every_document_byte_for_byte(practice: Practice, report, tmp_path):
    """R18: portability gives a FHIR R4 Bundle of every document version.
    R28: the export is FHIR R4, profiles named.
    """
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    scan = tmp_path / "radio.png"
    scan.write_bytes(bytes(range(256)) * 300)
    # Not Carol's by default (R28): fulfilling the request below gives it to her.
    first = alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[bob.email], to_patient=False
    )
    versions = {f"{first}/1": report.read_bytes()}
    report.write_bytes(b"Version 2: traitement adapte.\n")
    alice.exchange.new_version(first, report)
    versions[f"{first}/2"] = report.read_bytes()
    second = alice.exchange.send(scan, patient_file_id=practice.patient_file, to=[carol.email])
    versions[f"{second}/1"] = scan.read_bytes()

    rights = RightsClient(alice.exchange)
    request = RightsClient(carol.exchange).ask(practice.id, "portability")
    # Two versions of the first document are not Carol's yet.
    error = refused(rights.complete, request["id"])
    assert error.status == 409 and error.detail.startswith("2 document version(s)")
    assert rights.fulfil(request) == 2
    done = rights.complete(request["id"], "Copie partagee avec la patiente")
    assert (done["status"], done["handled_at"] is not None) == ("done", True)

    bundle = export_bundle(carol.exchange)
    Bundle.model_validate(bundle)
    assert documents_in(bundle) == versions
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("DocumentReference") == kinds.count("Binary") == 3
    assert "Consent" in kinds and "AuditEvent" in kinds
    references = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
    ]
    assert sorted(r["status"] for r in references) == ["current", "current", "superseded"]
    assert any("relatesTo" in r for r in references)
    # The profiles it follows are named, and their mandatory elements are there.
    assert bundle["meta"]["tag"] == [EXPORT_FORMAT_TAG]
    for reference in references:
        assert reference["meta"]["profile"] == [MHD_MINIMAL_DOCUMENT_REFERENCE]
        assert reference["masterIdentifier"]["use"] == "usual"
        assert "docStatus" not in reference
        attachment = reference["content"][0]["attachment"]
        assert attachment["url"].startswith("urn:uuid:") and "data" not in attachment
        # The author is the signer the download verified.
        assert reference["author"][0]["reference"] == f"Practitioner/{alice.exchange.account.id}"


def test_erasure_is_refused_inside_retention_with_the_article_and_the_date(
    practice: Practice, report, clock
):
    """R17: a refusal cites art. 17(3) and the day erasure becomes possible."""
    practice.alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[], to_patient=False
    )
    carol, alice = RightsClient(practice.carol.exchange), RightsClient(practice.alice.exchange)

    # Without a birth date the end is unknown: refused, and said so.
    unknown = alice.complete(carol.ask(practice.id, "erasure")["id"])
    assert unknown["status"] == "refused" and unknown["erasure_from"] is None
    assert "17(3)(b)" in unknown["reason"] and "birth date" in unknown["reason"]

    facts(practice, born_on="1980-06-15")
    keep_until = add_years(clock.now.date(), 20)
    answer = alice.complete(carol.ask(practice.id, "erasure")["id"])
    assert answer["status"] == "refused"
    assert answer["erasure_from"] == (keep_until + timedelta(days=1)).isoformat()
    assert "GDPR art. 17(3)(b)" in answer["reason"] and "CSP R1112-7" in answer["reason"]
    assert f"until {keep_until.isoformat()}" in answer["reason"]
    # An erasure is decided by the law, not refused by hand.
    pending = carol.ask(practice.id, "erasure")
    assert refused(alice.refuse, pending["id"], "Nous preferons garder le dossier").status == 409
    assert [d.title for d in practice.carol.exchange.documents()] == []  # not hers to read
    assert len(practice.alice.exchange.documents()) == 1  # nothing erased


def test_erasure_is_carried_out_once_retention_has_ended(practice: Practice, ctx, report):
    """R17: after retention, an erasure request is carried out at once."""
    alice, bob = practice.alice, practice.bob
    document = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    blobs_before = set(ctx.blobs.keys())
    # A file opened (and its document written) in 1999 whose patient died in 2000,
    # less than 10 years after this last care: kept until 2010, and the death was
    # recorded over a grace period ago.
    with ctx.sessions.begin() as db:
        db.execute(update(PatientFile).values(created_at=datetime(1999, 6, 1, tzinfo=UTC)))
        db.execute(update(DocumentVersion).values(created_at=datetime(1999, 6, 1, tzinfo=UTC)))
    status = facts(practice, born_on="1931-04-02", died_on="2000-01-01")
    assert status["keep_until"] == date(2010, 1, 1).isoformat()
    with ctx.sessions.begin() as db:
        db.execute(update(FileRetention).values(facts_recorded_at=datetime(2020, 1, 1, tzinfo=UTC)))

    request = RightsClient(practice.carol.exchange).ask(practice.id, "erasure")
    done = RightsClient(alice.exchange).complete(request["id"])
    assert done["status"] == "done" and done["reason"].startswith("Erased")
    assert done["handled_at"] is not None
    assert alice.exchange.documents() == [] and bob.exchange.documents() == []
    assert refused(alice.exchange.document, document).status == 404
    assert not blobs_before & set(ctx.blobs.keys())  # removed after the commit


def test_restriction_stops_sharing_until_lifted(practice: Practice, report):
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    document = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    request = RightsClient(carol.exchange).ask(practice.id, "restriction")
    RightsClient(alice.exchange).complete(request["id"])

    assert bob.exchange.documents() == []  # ended at once
    error = refused(alice.exchange.share, document, [bob.email])
    assert error.status == 403 and "GDPR art. 18" in error.detail
    alice.exchange.share(document, [carol.email])  # the patient still receives her file

    lifted = RightsClient(carol.exchange).lift(request["id"])
    assert lifted["lifted_at"] is not None
    alice.exchange.share(document, [bob.email])
    assert [d.id for d in bob.exchange.documents()] == [document]


def test_who_may_ask_handle_and_withdraw(practice: Practice):
    alice, bob, carol = (
        RightsClient(p.exchange) for p in (practice.alice, practice.bob, practice.carol)
    )
    assert refused(alice.ask, practice.id, "access").status == 403  # patients ask
    request = carol.ask(practice.id, "rectification")
    assert refused(bob.of_practice, practice.id).status == 404  # not a member
    assert refused(bob.complete, request["id"]).status == 404
    assert refused(carol.complete, request["id"]).status == 403  # a patient of the practice

    objection = carol.ask(practice.id, "objection")
    answer = alice.refuse(
        objection["id"],
        "Art. 21 ne s'applique pas aux soins (art. 9(2)(h)); vos refus de partage sont "
        "dans vos consentements.",
    )
    assert answer["status"] == "refused" and "9(2)(h)" in answer["reason"]
    assert carol.withdraw(request["id"])["status"] == "withdrawn"
    assert refused(alice.complete, request["id"]).status == 409
    assert sorted(r["status"] for r in carol.mine()) == ["refused", "withdrawn"]
