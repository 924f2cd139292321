"""The keywords a document is indexed under, from its facts, against the stored
vectors (tests/vectors/search.json), which the browser's worker meets too."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from tests.conftest import load_vectors
from uhealthsec.client.search import DocumentFacts
from uhealthsec.protocol import search as wire

DOCUMENTS = load_vectors("search.json")["analyser"]["documents"]


@pytest.mark.parametrize("vector", DOCUMENTS, ids=lambda v: v["facts"]["filename"])
def test_document_keywords_vectors(vector):
    facts = vector["facts"]
    day = date.fromisoformat(facts["day"]) if facts["day"] else None
    document = DocumentFacts(
        document_id=uuid.uuid4(),
        title=facts["title"],
        filename=facts["filename"],
        media_type=facts["media_type"],
        patient=facts["patient"],
        author=facts["author"],
        day=day,
        text=facts["text"],
    )
    assert vector["limit"] == wire.MAX_DOCUMENT_KEYWORDS
    assert sorted(document.keywords()) == vector["keywords"]


def test_a_search_filter_admits_its_patient_its_author_and_from_its_first_day_on():
    from datetime import UTC, datetime

    from uhealthsec.client.exchange.models import DocumentSummary
    from uhealthsec.client.search import SearchFilter

    patient = uuid.uuid4()
    document = DocumentSummary(
        id=uuid.uuid4(),
        version=1,
        title="Bilan",
        filename="bilan.txt",
        media_type="text/plain",
        size=10,
        author_email="Dr.Martin@demo.test",
        author_name="Dr Martin",
        patient_id=patient,
        patient_file_id=uuid.uuid4(),
        created_at=datetime(2026, 3, 5, 23, 59).astimezone(UTC),  # this device's 23:59
        recipients=[],
    )
    assert SearchFilter().admits(document)
    assert SearchFilter(patient_id=patient).admits(document)
    assert not SearchFilter(patient_id=uuid.uuid4()).admits(document)
    assert SearchFilter(author_email=" dr.martin@demo.test").admits(document)
    assert not SearchFilter(author_email="kine.durand@demo.test").admits(document)
    assert SearchFilter(since=date(2026, 3, 5)).admits(document)
    assert not SearchFilter(since=date(2026, 3, 6)).admits(document)
    assert not SearchFilter(patient_id=patient, since=date(2026, 3, 6)).admits(document)


def test_the_text_indexed_of_a_pdf_and_of_a_fhir_resource(tmp_path):
    """A PDF's page text (pypdf) and a FHIR resource's words are indexed; a file that
    cannot be read as its type gives no text (it is sent or saved all the same)."""
    import json

    from tests.web.journeys import pdf
    from uhealthsec.client.search import MAX_INDEXED_TEXT_BYTES, text_of

    def written(name: str, content: bytes):
        path = tmp_path / name
        path.write_bytes(content)
        return path

    report = written("irm.pdf", pdf("Lombalgie chronique L4-L5"))
    assert "Lombalgie chronique L4-L5" in text_of(report, "application/pdf")
    assert text_of(written("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type"), "application/pdf") == ""
    assert text_of(report, "application/octet-stream") == ""

    resource = {
        "resourceType": "Observation",
        "id": "temperature-1",
        "note": [{"text": "Fi\u00e8vre depuis hier"}],
    }
    observation = written("obs.json", json.dumps(resource).encode())
    for media_type in ("application/fhir+json", "application/json"):
        assert text_of(observation, media_type) == "Fi\u00e8vre depuis hier"
    for content in (
        b'{"note": "not a resource"}',
        b'["resourceType"]',
        b'{"resourceType": "Basic", "note": ',
        b"[" * 200_000,
        b'{"resourceType": "Basic", "note": "' + b"x" * MAX_INDEXED_TEXT_BYTES + b'"}',
    ):
        assert text_of(written("other.json", content), "application/fhir+json") == ""
