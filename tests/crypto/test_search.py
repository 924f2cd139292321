"""Mitra's entries, its state envelope and the analyser, against the stored vectors
(tests/vectors/search.json) and against a plaintext oracle."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import load_vectors
from uhealthsec.crypto import search
from uhealthsec.crypto.errors import MalformedInput
from uhealthsec.protocol import search_text

VECTORS = load_vectors("search.json")
SCHEME = VECTORS["scheme"]
KEYS = search.IndexKeys.derive(bytes.fromhex(SCHEME["index_key"]))


def test_derived_keys_match():
    assert KEYS.prf.hex() == SCHEME["prf_key"]
    assert KEYS.state.hex() == SCHEME["state_key"]
    assert KEYS.document.hex() == SCHEME["document_key"]


@pytest.mark.parametrize("vector", SCHEME["entries"], ids=lambda v: v["keyword"])
def test_entries_match(vector):
    keyword, counter = vector["keyword"], vector["counter"]
    op = search.Op.ADD if vector["op"] == "add" else search.Op.DELETE
    document_id = uuid.UUID(vector["document_id"])
    assert search.label(KEYS, keyword, counter).hex() == vector["label"]
    assert search.value(KEYS, keyword, counter, op, document_id).hex() == vector["value"]
    assert search.open_value(KEYS, keyword, counter, bytes.fromhex(vector["value"])) == (
        op,
        document_id,
    )


def test_state_vector_opens_and_only_where_it_was_sealed():
    state = SCHEME["state"]
    index_id = uuid.UUID(state["index_id"])
    sealed = bytes.fromhex(state["sealed"])
    counters = search.open_state(KEYS, index_id, state["version"], sealed)
    assert dict(counters.items()) == state["counters"]
    assert search.encode_counters(counters).hex() == state["encoded"]
    # A hostile server replaying the state under another version or index is caught.
    with pytest.raises(search.SearchStateRefused):
        search.open_state(KEYS, index_id, state["version"] + 1, sealed)
    with pytest.raises(search.SearchStateRefused):
        search.open_state(KEYS, uuid.uuid4(), state["version"], sealed)
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(search.SearchStateRefused):
        search.open_state(KEYS, index_id, state["version"], flipped)


def test_document_keyword_list_vector():
    vector = SCHEME["document"]
    document_id = uuid.UUID(vector["document_id"])
    assert search.document_label(KEYS, document_id).hex() == vector["label"]
    sealed = bytes.fromhex(vector["sealed"])
    assert search.open_keywords(KEYS, document_id, sealed) == vector["keywords"]
    with pytest.raises(search.SearchStateRefused):
        search.open_keywords(KEYS, uuid.uuid4(), sealed)


@pytest.mark.parametrize("bad", ["", "x" * 256])
def test_keywords_out_of_range_are_refused(bad):
    with pytest.raises(MalformedInput):
        search.label(KEYS, bad, 1)


def test_counter_zero_and_malformed_states_are_refused():
    with pytest.raises(MalformedInput):
        search.label(KEYS, "irm", 0)
    good = search.encode_counters(search.Counters({"a": 1, "b": 2}))
    for bad in (good[:-1], good + b"\0", b"\x02" + good[1:]):
        with pytest.raises(MalformedInput):
            search.decode_counters(bad)
    # Out of order (b before a) is refused: one encoding per state.
    swapped = good[:5] + good[5 + 10 :] + good[5 : 5 + 10]
    with pytest.raises(MalformedInput):
        search.decode_counters(swapped)


@pytest.mark.parametrize("vector", VECTORS["analyser"]["text"], ids=lambda v: v["input"][:30])
def test_text_analyser_vectors(vector):
    assert sorted(search_text.text_keywords(vector["input"])) == vector["keywords"]


@pytest.mark.parametrize(
    "vector", VECTORS["analyser"]["fhir"], ids=lambda v: v["resource"]["resourceType"]
)
def test_fhir_text_vectors(vector):
    """A FHIR resource's words, narrative included; identifiers, codes of the format and
    values nested past MAX_FHIR_DEPTH left out."""
    text = search_text.fhir_text(vector["resource"])
    assert sorted(search_text.text_keywords(text)) == vector["keywords"]


def test_fhir_file_vectors():
    """A file is read as a FHIR resource only as strict UTF-8 JSON (one BOM), without
    NaN or Infinity, nested at most 512 deep: as the browser reads it."""
    for vector in VECTORS["analyser"]["fhir_files"]:
        text = search_text.fhir_resource_text(bytes.fromhex(vector["hex"]))
        assert sorted(search_text.text_keywords(text)) == vector["keywords"], vector["hex"][:80]


@pytest.mark.parametrize("vector", VECTORS["analyser"]["name"], ids=lambda v: v["input"])
def test_name_analyser_vectors(vector):
    assert sorted(search_text.name_keywords(vector["input"])) == vector["keywords"]


@pytest.mark.parametrize("vector", VECTORS["analyser"]["query"], ids=lambda v: v["input"])
def test_query_analyser_vectors(vector):
    terms = [sorted(t) for t in search_text.query_terms(vector["input"])]
    assert terms == vector["terms"]


def test_a_name_prefix_and_a_typed_name_find_the_name():
    keywords = search_text.document_keywords(names=["Petit"], dates=[date(2026, 11, 27)])
    for query in ("pet", "Petit", "PETIT", "2026-11-27", "2026"):
        assert all(term & keywords for term in search_text.query_terms(query)), query
    assert not all(term & keywords for term in search_text.query_terms("pe"))


KEYWORDS = st.sampled_from(["irm", "lombalg", "epaul", "pet", "2026", "radiograph"])
UPDATES = st.lists(
    st.tuples(st.booleans(), KEYWORDS, st.integers(min_value=0, max_value=7)), max_size=60
)


@settings(max_examples=60, deadline=None)
@given(UPDATES)
def test_search_results_equal_a_plaintext_oracle(updates):
    """Random additions and deletions: every keyword's result is the oracle's set."""
    keys = search.IndexKeys.derive(search.new_index_key())
    documents = [uuid.UUID(int=i + 1) for i in range(8)]
    counters = search.Counters()
    server: dict[bytes, bytes] = {}
    oracle: dict[str, set[uuid.UUID]] = {}
    for add, keyword, which in updates:
        document_id = documents[which]
        op = search.Op.ADD if add else search.Op.DELETE
        found = oracle.setdefault(keyword, set())
        if add:
            found.add(document_id)
        elif document_id not in found:
            continue  # a client deletes only what it indexed
        else:
            found.discard(document_id)
        entry_label, entry_value = counters.update(keys, op, keyword, document_id)
        assert entry_label not in server  # labels never repeat (forward privacy)
        server[entry_label] = entry_value
    for keyword in ["irm", "lombalg", "epaul", "pet", "2026", "radiograph"]:
        values = [server.get(lb) for lb in counters.search_labels(keys, keyword)]
        assert search.resolve(keys, keyword, values) == oracle.get(keyword, set())


def test_a_value_moved_to_another_label_is_refused_or_lands_nowhere():
    keys = search.IndexKeys.derive(search.new_index_key())
    counters = search.Counters()
    _, value = counters.update(keys, search.Op.ADD, "irm", uuid.UUID(int=5))
    # Under the wrong label, the pad is another one: the op byte is junk (refused) or,
    # rarely, opens to an id nobody indexed.
    try:
        _, document_id = search.open_value(keys, "lombalg", 1, value)
    except MalformedInput:
        return
    assert document_id != uuid.UUID(int=5)


def test_stem_vectors():
    """The French Snowball stemmer (snowballstemmer 3.1.1) on the vectors' words, which
    the browser's stemmer (generated from the same Snowball release) must match."""
    stems = VECTORS["analyser"]["stems"]
    assert len(stems) > 500
    stemmer = search_text._french()
    assert [stemmer.stemWord(v["word"]) for v in stems] == [v["stem"] for v in stems]


def test_personal_index_vector():
    vector = SCHEME["personal_index"]
    index_id, key = search.personal_index(bytes.fromhex(vector["account_secret"]))
    assert (str(index_id), key.hex()) == (vector["index_id"], vector["index_key"])
