"""The keywords a document is indexed under, from its facts, against the stored
vectors (tests/vectors/search.json), which the browser's worker meets too."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from tests.conftest import load_vectors
from uhealthsec.client.search import DocumentFacts
from uhealthsec.protocol import search as wire
from uhealthsec.server.compliance.report import pdf_file

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


def _pdf(*contents: bytes) -> bytes:
    """A PDF with a page per content stream (Flate-compressed), Helvetica as F1."""
    import zlib

    count = len(contents)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(count)), count),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, content in enumerate(contents):
        packed = zlib.compress(content, 9)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * i)
        )
        objects.append(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(packed), packed)
        )
    return pdf_file(objects)


def test_a_pdf_that_would_keep_its_reader_busy_or_fill_its_memory_gives_no_text(tmp_path):
    """A few kilobytes of PDF can hold pypdf for minutes (a page of 900,000 empty text
    operators) or make it decode hundreds of megabytes: the text is read in a child
    process under a deadline and a memory limit, and such a PDF gives no text."""
    from uhealthsec.client.pdf_text import pdf_text

    words = b"BT /F1 12 Tf 72 720 Td (Lombalgie chronique) Tj ET"
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(_pdf(words))
    assert "Lombalgie chronique" in pdf_text(plain, wall_seconds=60)

    busy = tmp_path / "busy.pdf"
    busy.write_bytes(_pdf(words, b"BT /F1 12 Tf " + b"() Tj\n" * 900_000 + b"ET"))
    assert pdf_text(busy, wall_seconds=2) == ""

    heavy = tmp_path / "heavy.pdf"
    heavy.write_bytes(_pdf(words, *[b"BT ET" + b" " * 70_000_000] * 3))
    assert pdf_text(heavy, memory_bytes=200 * 1024 * 1024, wall_seconds=60) == ""
