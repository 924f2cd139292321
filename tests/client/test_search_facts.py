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
