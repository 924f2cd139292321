"""The encrypted search index through the real API: results equal a plaintext oracle,
deletion, several devices, the owner alone, limits, and nothing in clear at rest."""

from __future__ import annotations

import random
import uuid
from datetime import date

import pytest
from sqlalchemy import select

from tests.server.records.conftest import Practice
from uhealthsec.client.errors import ApiError, ExchangeRefused
from uhealthsec.client.search import DocumentFacts, SearchIndex, personal_index
from uhealthsec.crypto import search
from uhealthsec.protocol.search import MAX_DOCUMENT_KEYWORDS
from uhealthsec.protocol.search_text import query_terms
from uhealthsec.server import tables
from uhealthsec.server.search.models import SearchDocument, SearchEntry
from uhealthsec.server.search.models import SearchIndex as IndexRow

# Words that appear nowhere else in the database, to look for in a dump.
VOCABULARY = [
    "zygomatique",
    "lombalgie",
    "xanthelasma",
    "paresthesie",
    "kyphoplastie",
    "bursite",
    "syndesmophyte",
    "quadriceps",
    "ostéophyte",
    "épicondylite",
]
NAMES = ["Wojciechowska", "Quémeneur", "Zylberstein"]


def _corpus(seed: int, size: int) -> list[DocumentFacts]:
    rng = random.Random(seed)
    return [
        DocumentFacts(
            document_id=uuid.UUID(int=rng.getrandbits(128)),
            title=rng.choice(["Compte rendu", "Ordonnance", "Courrier"]),
            text=" ".join(rng.sample(VOCABULARY, rng.randint(1, 4))),
            patient=rng.choice(NAMES),
            day=date(2026, rng.randint(1, 12), rng.randint(1, 28)),
        )
        for _ in range(size)
    ]


def _oracle(corpus: list[DocumentFacts], query: str) -> set[uuid.UUID]:
    """Plaintext search: a document matches when each query term meets its keywords."""
    return {
        d.document_id for d in corpus if all(term & d.keywords() for term in query_terms(query))
    }


QUERIES = [
    *VOCABULARY,
    "lombalgies",
    "woj",
    "Quémeneur",
    "quem",
    "zyl lombalgie",
    "2026-03",
    "compte rendu bursite",
    "absent",
]


def test_results_equal_a_plaintext_oracle_through_additions_and_deletions(practice: Practice):
    alice = personal_index(practice.alice.exchange)
    corpus = _corpus(24, 30)
    for facts in corpus:
        assert alice.add(facts) == len(facts.keywords())
    assert alice.add(corpus[0]) == 0  # indexed once, at send or at reading
    for query in QUERIES:
        assert alice.search(query) == _oracle(corpus, query), query
    assert alice.search("lombalgie")  # the corpus is not trivially empty

    # Deleted documents (erased, revoked, purged) are found no more; the others are.
    removed, kept = corpus[::3], [d for i, d in enumerate(corpus) if i % 3]
    for facts in removed:
        assert alice.remove(facts.document_id) == len(facts.keywords())
    assert alice.remove(removed[0].document_id) == 0
    for query in QUERIES:
        assert alice.search(query) == _oracle(kept, query), query
    # Indexed again after its removal (read again): found again.
    alice.add(removed[0])
    assert removed[0].document_id in alice.search(removed[0].text)


def test_two_devices_share_the_counters_and_a_stale_write_is_refused(practice: Practice):
    session = practice.alice.exchange
    laptop, phone = personal_index(session), personal_index(session)
    assert laptop.id == phone.id  # derived from her keys: every device finds it
    first, second = _corpus(7, 2)
    laptop.add(first)
    phone.add(second)  # read the state the laptop left, and moved it on
    # Each device finds both documents: the phone's counters started where the
    # laptop's ended, and the laptop reads the phone's.
    both = {first.document_id, second.document_id}
    assert laptop.search("2026") == both == phone.search("2026")

    # A device that writes from an older state is refused, entries and state together.
    state = session.call("GET", f"/search/indexes/{laptop.id}/state").json()
    keys = search.IndexKeys.derive(
        search.personal_index(session.keys.x25519.private_bytes_raw())[1]
    )
    stale = {
        "index_id": str(laptop.id),
        "previous_version": state["version"] - 1,
        "state": state["state"],
        "entries": [],
    }
    with pytest.raises(ApiError) as refused:
        session.call("POST", "/search/updates", json=stale)
    assert refused.value.status == 409
    counters = search.open_state(keys, laptop.id, state["version"], _b64(state["state"]))
    assert len(counters) == len(first.keywords() | second.keywords())


def test_a_hostile_server_cannot_swap_the_state_of_another_version(practice: Practice):
    session = practice.alice.exchange
    index = personal_index(session)
    index.add(_corpus(3, 1)[0])
    real_call = session.call
    state = real_call("GET", f"/search/indexes/{index.id}/state").json()

    def replaying(method, path, **kwargs):
        answer = real_call(method, path, **kwargs)
        if path.endswith("/state"):
            # The state of version 1 served as version 2.
            answer._content = (
                f'{{"version": {state["version"] + 1}, "state": "{state["state"]}"}}'.encode()
            )
        return answer

    hostile = SearchIndex(
        replaying, index.id, search.personal_index(session.keys.x25519.private_bytes_raw())[1]
    )
    with pytest.raises(search.SearchStateRefused):
        hostile.search("anything")

    # The genuine older state under its own version, once a newer one was seen: refused
    # (its counters used again would link new entries to earlier searches).
    index.add(_corpus(4, 1)[0])
    assert index.seen_version == state["version"] + 1

    def rolled_back(method, path, **kwargs):
        answer = real_call(method, path, **kwargs)
        if path.endswith("/state"):
            answer._content = (
                f'{{"version": {state["version"]}, "state": "{state["state"]}"}}'.encode()
            )
        return answer

    index._call = rolled_back
    with pytest.raises(ExchangeRefused):
        index.search("anything")


def test_only_the_owner_reads_or_writes_an_index(practice: Practice):
    alice = personal_index(practice.alice.exchange)
    alice.add(_corpus(5, 1)[0])
    bob = practice.bob.exchange
    label = search.label(search.IndexKeys.derive(bytes(32)), "zygomatique", 1)
    attempts = [
        ("GET", f"/search/indexes/{alice.id}/state", None),
        ("POST", "/search/lookup", {"index_id": str(alice.id), "labels": [_b64u(label)]}),
        ("POST", "/search/documents", {"index_id": str(alice.id), "labels": [_b64u(label)]}),
        (
            "POST",
            "/search/updates",
            {"index_id": str(alice.id), "previous_version": 1, "state": _b64u(b"x" * 40)},
        ),
    ]
    for method, path, payload in attempts:
        with pytest.raises(ApiError) as refused:
            bob.call(method, path, **({"json": payload} if payload else {}))
        assert refused.value.status == 404, path
        assert refused.value.body["status"] == 404 and "no search index" in refused.value.detail
    # Bob's own index is his, and empty: Alice's documents are not in it.
    assert personal_index(bob).search("zygomatique lombalgie") == set()
    assert [i["id"] for i in bob.call("GET", "/search/indexes").json()] == [
        str(personal_index(bob).id)
    ]


def test_limits_and_malformed_input_are_refused_without_a_partial_write(
    practice: Practice, ctx, clock, monkeypatch
):
    session = practice.alice.exchange
    index = personal_index(session)
    index.add(_corpus(11, 1)[0])
    state = session.call("GET", f"/search/indexes/{index.id}/state").json()
    entry = {"label": _b64u(b"\1" * 32), "value": _b64u(b"\2" * 17)}
    cases = [
        {"labels": [_b64u(b"short")]},  # a label is 32 bytes
        {"labels": []},
        {"labels": [_b64u(b"\0" * 32)] * 50_001},
    ]
    for case in cases:
        with pytest.raises(ApiError) as refused:
            session.call("POST", "/search/lookup", json={"index_id": str(index.id), **case})
        assert refused.value.status in (400, 413, 422)
    # A label twice in one update: nothing of it lands, the version stays.
    twice = {
        "index_id": str(index.id),
        "previous_version": state["version"],
        "state": state["state"],
        "entries": [entry, entry],
    }
    with pytest.raises(ApiError) as refused:
        session.call("POST", "/search/updates", json=twice)
    assert refused.value.status == 400
    # A version that is not a JSON integer, or a state or keyword list too short to
    # open (once stored, it would leave the owner's index unusable): refused.
    for change in (
        {"previous_version": str(state["version"])},
        {"previous_version": True},
        {"state": ""},
        {"put_documents": [{"label": _b64u(b"\3" * 32), "keywords": ""}]},
    ):
        with pytest.raises(ApiError) as refused:
            session.call("POST", "/search/updates", json={**twice, "entries": [entry], **change})
        assert refused.value.status == 422, change
    with ctx.sessions() as db:
        row = db.get(IndexRow, index.id)
        assert row.state_version == state["version"]
        assert db.scalar(select(SearchEntry).where(SearchEntry.label == b"\1" * 32)) is None

    monkeypatch.setattr("uhealthsec.server.search.service.RATE", 2)
    clock.advance(minutes=1)
    session.call("GET", f"/search/indexes/{index.id}/state")
    session.call("GET", f"/search/indexes/{index.id}/state")
    with pytest.raises(ApiError) as throttled:
        session.call("GET", f"/search/indexes/{index.id}/state")
    assert throttled.value.status == 429
    clock.advance(minutes=1)  # a new minute, a new allowance
    session.call("GET", f"/search/indexes/{index.id}/state")


def test_the_database_holds_no_keyword_in_clear(practice: Practice, ctx):
    index = personal_index(practice.alice.exchange)
    corpus = _corpus(42, 12)
    for facts in corpus:
        index.add(facts)
    keywords = set().union(*(d.keywords() for d in corpus))
    dump = bytearray()
    with ctx.sessions() as db:
        for table in tables.metadata.sorted_tables:
            for row in db.execute(select(table)):
                for cell in row:
                    dump += cell if isinstance(cell, bytes) else str(cell).encode()
                    dump += b"\0"
    dumped = bytes(dump).lower()
    # Keywords of seven letters or more: shorter ones occur by chance in a megabyte of
    # random bytes and base64 text (keys, signatures, ciphertext). Dates are in every
    # table's timestamps, so are looked for in the index's tables only.
    words = [w for w in keywords if len(w) >= 7 and not w[0].isdigit()]
    assert len(words) > 10
    assert [w for w in words if w.encode() in dumped] == []
    index_dump = bytearray()
    with ctx.sessions() as db:
        for table in (IndexRow, SearchEntry, SearchDocument):
            for row in db.execute(select(table.__table__)):
                # Its bytes (the index's row also holds its own timestamps).
                index_dump += b"\0".join(c for c in row if isinstance(c, bytes))
    dates = [w for w in keywords if w[0].isdigit() and len(w) >= 4]
    assert dates and [w for w in dates if w.encode() in index_dump] == []
    for word in VOCABULARY + NAMES:
        assert word.lower().encode() not in dumped


def _b64u(data: bytes) -> str:
    from uhealthsec.protocol.encoding import b64u_encode

    return b64u_encode(data)


def _b64(text: str) -> bytes:
    from uhealthsec.protocol.encoding import b64u_decode

    return b64u_decode(text)


def test_a_huge_document_is_indexed_whole_in_one_update_and_removed_whole(practice: Practice):
    index = personal_index(practice.alice.exchange)
    numbers = [str(n) for n in range(100_000, 125_000)]
    facts = DocumentFacts(
        document_id=uuid.uuid4(), title="Zygomatique", text=" ".join(reversed(numbers))
    )
    assert index.add(facts) == MAX_DOCUMENT_KEYWORDS
    state = practice.alice.exchange.call("GET", f"/search/indexes/{index.id}/state").json()
    assert state["version"] == 1  # one update: entries and keyword list together
    # The title's keywords are kept first; the text's, in order, fill the rest.
    assert index.search("zygomatique 100000") == {facts.document_id}
    assert index.search("124999") == set()
    assert index.remove(facts.document_id) == MAX_DOCUMENT_KEYWORDS
    assert index.search("zygomatique") == set()


def _hostile_index(session, rewrite) -> SearchIndex:
    """The personal index over a server that passes every answer through ``rewrite``
    (method, path, request body, answer's JSON) -> the JSON it serves instead."""
    import json

    def call(method, path, **kwargs):
        answer = session.call(method, path, **kwargs)
        if method == "POST" and path in ("/search/lookup", "/search/documents"):
            served = rewrite(path, kwargs["json"], answer.json())
            answer._content = json.dumps(served).encode()
        return answer

    return SearchIndex(call, personal_index(session).id, _index_key(session))


def test_a_value_xored_into_another_document_is_checked_against_its_sealed_list(
    practice: Practice,
):
    session = practice.alice.exchange
    index = personal_index(session)
    holder = DocumentFacts(document_id=uuid.uuid4(), title="Achillodynie gauche")
    other = DocumentFacts(document_id=uuid.uuid4(), title="Coxarthrose droite")
    # The server sees which labels the holder's update wrote (PROTOCOL 18.5).
    written: list[str] = []
    real_call = session.call

    def watching(method, path, **kwargs):
        if path == "/search/updates":
            written.extend(e["label"] for e in kwargs["json"]["entries"])
        return real_call(method, path, **kwargs)

    SearchIndex(watching, index.id, _index_key(session)).add(holder)
    index.add(other)
    assert index.search("achillodynie") == {holder.document_id}
    assert index.search("coxarthrose") == {other.document_id}  # normal results unchanged

    # Each of the holder's values XORed to open to the other document's id instead.
    delta = bytes([0]) + bytes(
        a ^ b for a, b in zip(holder.document_id.bytes, other.document_id.bytes, strict=True)
    )

    def moved(path, asked, served):
        if path != "/search/lookup":
            return served
        values = served["values"]
        for at, label in enumerate(asked["labels"]):
            if label in written and values[at] is not None:
                values[at] = _b64u(
                    bytes(a ^ b for a, b in zip(_b64(values[at]), delta, strict=True))
                )
        return served

    hostile = _hostile_index(session, moved)
    # Filed under the other document by the values, refused by its own keyword list:
    # the server can hide the holder, not add the other.
    assert hostile.search("achillodynie") == set()
    assert hostile.search("coxarthrose") == {other.document_id}

    # A keyword list of another document served in its place does not open: refused.
    def swapped(path, asked, served):
        if path == "/search/documents" and served["keywords"]:
            mine = search.document_label(
                search.IndexKeys.derive(_index_key(session)), holder.document_id
            )
            served["keywords"] = [
                session.call(
                    "POST",
                    "/search/documents",
                    json={"index_id": str(index.id), "labels": [_b64u(mine)]},
                ).json()["keywords"][0]
            ] * len(served["keywords"])
        return served

    with pytest.raises(ExchangeRefused, match="does not open"):
        _hostile_index(session, swapped).search("coxarthrose")

    # A list the server says is gone: the document was removed, and is not shown.
    def forgotten(path, asked, served):
        if path == "/search/documents":
            served["keywords"] = [None] * len(served["keywords"])
        return served

    assert _hostile_index(session, forgotten).search("coxarthrose") == set()


def _index_key(session) -> bytes:
    return search.personal_index(session.keys.x25519.private_bytes_raw())[1]


def test_the_keyword_lists_of_the_results_are_read_in_batches_of_the_wire_limit(
    practice: Practice, monkeypatch
):
    session = practice.alice.exchange
    index = personal_index(session)
    documents = [DocumentFacts(document_id=uuid.uuid4(), title="Gonalgie") for _ in range(5)]
    for facts in documents:
        index.add(facts)
    asked: list[int] = []

    def counting(path, request, served):
        if path == "/search/documents":
            asked.append(len(request["labels"]))
        return served

    # The wire's limit lowered, for five results to need three requests.
    monkeypatch.setattr("uhealthsec.protocol.search.MAX_DOCUMENTS_PER_REQUEST", 2)
    found = _hostile_index(session, counting).search("gonalgie")
    assert found == {d.document_id for d in documents}
    assert asked == [2, 2, 1]
