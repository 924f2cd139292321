"""Encrypted search (Mitra, docs/PROTOCOL.md 18) against plaintext full-text search.

    .venv/bin/python benchmarks/search.py [--docs 8000 80000] [--keywords 20]
                                          [--vocabulary 50000] [--databases sqlite postgresql]

Corpus: ``--docs`` synthetic documents of ``--keywords`` distinct keywords each,
drawn from a Zipf (s = 1) vocabulary of ``--vocabulary`` words (the issue's corpus is
80,000 x 20 = 1.6 million pairs); the keywords stand for the analyser's output. Each
size in ``--docs`` is a corpus of its own (10x apart: latency should not follow it).

For each corpus and database (SQLite file, PostgreSQL with its default durability):

- the encrypted index: every pair's entry made by the client (crypto/search.py),
  stored in the server's own table (migration 0038) in bulk;
- the plaintext anchor in the same database: PostgreSQL GIN over
  ``to_tsvector('simple', body)``, SQLite FTS5;
- query latency, median of repeated runs, for the keywords whose result count is
  nearest 1, 1,000 and 40,000 (half the corpus when smaller): client side included —
  the labels computed, the server's lookup (server/search/service.values_under, the
  query the route runs) and the values opened and resolved — but not HTTP (JSON and
  base64 of the labels and values: measured separately, as "wire");
- index size per pair (the entries' table and its primary key) against GIN's / FTS5's;
- update cost: a document's keywords indexed through the service's update (entries,
  the sealed state of the whole index, compare-and-swap), keywords per second;
- the ABKS estimate: one BLS12-381 pairing measured (py-arkworks-bls12381, installed
  for this benchmark only) and the per-query cost of testing every keyword tag with
  2·|attributes| + 2 pairings.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from collections import Counter as Tally
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select, text, update
from timing import cpu_name, median_seconds

from uhealthsec.crypto import search
from uhealthsec.protocol.search import (
    MAX_DOCUMENTS_PER_REQUEST,
    DocumentsIn,
    DocumentsOut,
    LookupIn,
    LookupOut,
)
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.app import build_context
from uhealthsec.server.demo import ensure_demo_practice
from uhealthsec.server.search.models import SearchDocument, SearchEntry, SearchIndex
from uhealthsec.server.search.service import (
    SearchService,
    Update,
    keyword_lists_under,
    values_under,
)
from uhealthsec.server.settings import Settings

TARGETS = (1, 1_000, 40_000)
BATCH = 20_000


def zipf_corpus(docs: int, per_doc: int, vocabulary: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    cumulative = list(itertools.accumulate(1.0 / rank for rank in range(1, vocabulary + 1)))
    total = cumulative[-1]
    corpus = []
    for _ in range(docs):
        chosen: set[int] = set()
        while len(chosen) < per_doc:
            chosen.add(bisect.bisect_left(cumulative, rng.random() * total))
        corpus.append([f"mot{rank:06d}" for rank in sorted(chosen)])
    return corpus


def pick_keywords(corpus: list[list[str]]) -> list[tuple[int, str, int]]:
    """(target, keyword, its result count) for each target result count."""
    frequency = Tally(w for doc in corpus for w in doc)
    picked = []
    for target in TARGETS:
        goal = min(target, len(corpus) // 2)
        keyword, count = min(frequency.items(), key=lambda kv: (abs(kv[1] - goal), kv[0]))
        picked.append((target, keyword, count))
    return picked


class Run:
    def __init__(self, kind: str, url: str, data_dir: Path) -> None:
        self.kind = kind
        self.ctx = build_context(Settings(data_dir=data_dir, database_url=url))
        self.engine = self.ctx.engine
        ensure_demo_practice(self.ctx)
        with self.ctx.sessions() as db:
            self.account_id = db.scalars(select(Account.id)).first()

    def close(self) -> None:
        self.ctx.close()


def build_encrypted(run: Run, corpus: list[list[str]], keys: search.IndexKeys):
    index_id = uuid.uuid4()
    with run.ctx.sessions.begin() as db:
        owner = db.get(Account, run.account_id)
        assert owner is not None
        SearchService(db, run.ctx).create(owner, index_id)
    counters = search.Counters()
    doc_ids = [uuid.UUID(int=i + 1) for i in range(len(corpus))]
    client_seconds = store_seconds = 0.0
    rows: list[dict] = []
    pairs = 0

    def flush() -> float:
        begin = time.perf_counter()
        with run.engine.begin() as connection:
            connection.execute(insert(SearchEntry.__table__), rows)
        return time.perf_counter() - begin

    for doc_id, keywords in zip(doc_ids, corpus, strict=True):
        begin = time.perf_counter()
        for w in keywords:
            label, value = counters.update(keys, search.Op.ADD, w, doc_id)
            rows.append({"index_id": index_id, "label": label, "value": value})
        client_seconds += time.perf_counter() - begin
        pairs += len(keywords)
        if len(rows) >= BATCH:
            store_seconds += flush()
            rows = []
    if rows:
        store_seconds += flush()
    with run.engine.begin() as connection:
        connection.execute(
            update(SearchIndex).where(SearchIndex.id == index_id).values(entries=pairs)
        )
        if run.kind == "postgresql":
            connection.execute(text("ANALYZE search_entries"))
    return index_id, counters, doc_ids, pairs, client_seconds, store_seconds


def store_keyword_lists(run: Run, index_id, keys, doc_ids, corpus) -> None:
    """Each document's sealed keyword list (PROTOCOL 18.3), as an update stores it."""
    rows = [
        {
            "index_id": index_id,
            "label": search.document_label(keys, doc_id),
            "keywords": search.seal_keywords(keys, doc_id, keywords),
        }
        for doc_id, keywords in zip(doc_ids, corpus, strict=True)
    ]
    with run.engine.begin() as connection:
        for start in range(0, len(rows), BATCH):
            connection.execute(insert(SearchDocument.__table__), rows[start : start + BATCH])


def result_check(run: Run, index_id, keys, keyword: str, found: set[uuid.UUID]) -> set[uuid.UUID]:
    """What a search adds after resolving (PROTOCOL 18.2, "Checking the result"): each
    result's keyword list read (the labels, the request and answer as JSON, the
    statement of POST /search/documents), opened under its id and tested."""
    ids = sorted(found)
    kept = set()
    for start in range(0, len(ids), MAX_DOCUMENTS_PER_REQUEST):
        asked = ids[start : start + MAX_DOCUMENTS_PER_REQUEST]
        labels = [search.document_label(keys, d) for d in asked]
        request = DocumentsIn.model_validate_json(
            DocumentsIn(index_id=index_id, labels=labels).model_dump_json()
        )
        with run.ctx.sessions() as db:
            sealed = keyword_lists_under(db, index_id, request.labels)
        answer = DocumentsOut.model_validate_json(DocumentsOut(keywords=sealed).model_dump_json())
        for doc_id, list_ in zip(asked, answer.keywords, strict=True):
            opened = search.open_keywords(keys, doc_id, list_) if list_ is not None else None
            if opened is not None and search.terms_held([{keyword}], opened) is not None:
                kept.add(doc_id)
    return kept


def build_plaintext(run: Run, corpus: list[list[str]]) -> float:
    begin = time.perf_counter()
    with run.engine.begin() as connection:
        if run.kind == "postgresql":
            connection.execute(text("CREATE TABLE plain_docs (id bigint PRIMARY KEY, body text)"))
        else:
            connection.execute(text("CREATE VIRTUAL TABLE plain_docs USING fts5(body)"))
        for start in range(0, len(corpus), BATCH):
            connection.execute(
                text("INSERT INTO plain_docs (rowid, body) VALUES (:id, :body)")
                if run.kind == "sqlite"
                else text("INSERT INTO plain_docs (id, body) VALUES (:id, :body)"),
                [
                    {"id": start + i + 1, "body": " ".join(doc)}
                    for i, doc in enumerate(corpus[start : start + BATCH])
                ],
            )
        if run.kind == "postgresql":
            connection.execute(
                text("CREATE INDEX plain_gin ON plain_docs USING gin (to_tsvector('simple', body))")
            )
            connection.execute(text("ANALYZE plain_docs"))
    return time.perf_counter() - begin


def plaintext_query(run: Run, keyword: str) -> list[int]:
    with run.engine.connect() as connection:
        if run.kind == "postgresql":
            sql = (
                "SELECT id FROM plain_docs WHERE to_tsvector('simple', body) "
                "@@ to_tsquery('simple', :w)"
            )
        else:
            sql = "SELECT rowid FROM plain_docs WHERE plain_docs MATCH :w"
        return [row[0] for row in connection.execute(text(sql), {"w": keyword})]


def encrypted_query(run: Run, index_id, counters, keys, keyword: str) -> set[uuid.UUID]:
    labels = counters.search_labels(keys, keyword)
    with run.ctx.sessions() as db:
        values = values_under(db, index_id, labels)
    return search.resolve(keys, keyword, values)


def wire_cost(index_id, counters, keys, keyword: str) -> None:
    """What HTTP adds on both sides besides the network: the request and the answer
    written and read as JSON with base64url bytes."""
    labels = counters.search_labels(keys, keyword)
    asked = LookupIn(index_id=index_id, labels=labels).model_dump_json()
    LookupIn.model_validate_json(asked)
    answered = LookupOut(values=[b"\0" * 17] * len(labels)).model_dump_json()
    LookupOut.model_validate_json(answered)


def sizes(run: Run) -> tuple[int | None, int | None]:
    """Bytes of the encrypted entries (table and key), and of the plaintext index."""
    with run.engine.connect() as connection:
        if run.kind == "postgresql":
            encrypted = connection.scalar(text("SELECT pg_total_relation_size('search_entries')"))
            plain = connection.scalar(text("SELECT pg_relation_size('plain_gin')"))
            return int(encrypted), int(plain)
        try:
            encrypted = connection.scalar(
                text(
                    "SELECT SUM(pgsize) FROM dbstat WHERE name IN "
                    "('search_entries', 'sqlite_autoindex_search_entries_1')"
                )
            )
            # FTS5's inverted index (its docsize and content tables are the documents).
            plain = connection.scalar(
                text(
                    "SELECT SUM(pgsize) FROM dbstat "
                    "WHERE name IN ('plain_docs_data', 'plain_docs_idx')"
                )
            )
        except Exception:  # dbstat not compiled in
            return None, None
        return int(encrypted or 0), int(plain or 0)


def update_rate(run: Run, index_id, counters, keys, per_doc: int, vocabulary: int, docs: int):
    """Keywords per second through SearchService.update, a document per update."""
    with run.ctx.sessions() as db:
        account = db.get(Account, run.account_id)
    fresh = zipf_corpus(docs, per_doc, vocabulary, seed=99)
    begin = time.perf_counter()
    for version, keywords in enumerate(fresh):
        i = version
        doc_id = uuid.UUID(int=10**9 + i)
        entries = [counters.update(keys, search.Op.ADD, w, doc_id) for w in keywords]
        state = search.seal_state(keys, index_id, version + 1, counters)
        with run.ctx.sessions.begin() as db:
            SearchService(db, run.ctx).update(
                db.merge(account), index_id, Update(version, state, entries, [], [])
            )
    seconds = time.perf_counter() - begin
    return docs * per_doc / seconds, len(state)


def pairing_ms() -> float | None:
    try:
        from py_arkworks_bls12381 import GT, G1Point, G2Point
    except ImportError:
        return None
    g1, g2 = G1Point(), G2Point()
    return median_seconds(lambda: GT.pairing(g1, g2), 30) * 1000


def measure(kind: str, docs: int, args, report: list[str]) -> None:
    corpus = zipf_corpus(docs, args.keywords, args.vocabulary, seed=docs)
    keys = search.IndexKeys.derive(search.new_index_key())
    with tempfile.TemporaryDirectory(prefix="uhs-search-bench-") as tmp:
        server = None
        if kind == "postgresql":
            from tests.postgres import PostgresServer

            server = PostgresServer(durable=True)
            server.start()
            server.create_database("bench")
            url = server.url("bench")
        else:
            url = f"sqlite:///{tmp}/search.db"
        run = Run(kind, url, Path(tmp))
        try:
            index_id, counters, doc_ids, pairs, client_s, store_s = build_encrypted(
                run, corpus, keys
            )
            store_keyword_lists(run, index_id, keys, doc_ids, corpus)
            plain_s = build_plaintext(run, corpus)
            report.append(
                f"\n### {kind}, {docs:,} documents x {args.keywords} keywords = {pairs:,} pairs\n"
            )
            report.append(
                f"- indexing: entries made by the client at {pairs / client_s:,.0f} keywords/s, "
                f"stored in bulk at {pairs / store_s:,.0f}/s; plaintext table and index built "
                f"in {plain_s:.1f} s"
            )
            report.append(
                "\n| results | keyword | encrypted (median) | wire (JSON+base64) | "
                f"{'GIN' if kind == 'postgresql' else 'FTS5'} (median) | ratio | ratio with wire "
                "| result check (median) | check / (encrypted + wire) |"
            )
            report.append("|---|---|---|---|---|---|---|---|---|")
            for target, keyword, count in pick_keywords(corpus):
                rounds = 31 if count < 5_000 else 7
                found = encrypted_query(run, index_id, counters, keys, keyword)
                expected = {doc_ids[i - 1] for i in plaintext_query(run, keyword)}
                assert found == expected and len(found) == count, (keyword, len(found), count)
                enc = median_seconds(
                    lambda k=keyword: encrypted_query(run, index_id, counters, keys, k), rounds
                )
                wire = median_seconds(
                    lambda k=keyword: wire_cost(index_id, counters, keys, k), rounds
                )
                plain = median_seconds(lambda k=keyword: plaintext_query(run, k), rounds)
                assert result_check(run, index_id, keys, keyword, found) == found
                check = median_seconds(
                    lambda k=keyword, f=found: result_check(run, index_id, keys, k, f), rounds
                )
                report.append(
                    f"| {count:,} (target {target:,}) | `{keyword}` | {enc * 1000:.2f} ms | "
                    f"{wire * 1000:.2f} ms | {plain * 1000:.2f} ms | {enc / plain:.1f}x | "
                    f"{(enc + wire) / plain:.1f}x | {check * 1000:.2f} ms | "
                    f"{check / (enc + wire):.2f}x |"
                )
            encrypted_bytes, plain_bytes = sizes(run)
            if encrypted_bytes is not None and plain_bytes:
                report.append(
                    f"\n- size per pair: encrypted {encrypted_bytes / pairs:.1f} B "
                    f"(entries table and primary key), plaintext index {plain_bytes / pairs:.1f} B "
                    f"({encrypted_bytes / plain_bytes:.1f}x)"
                )
            rate, state_bytes = update_rate(
                run, index_id, counters, keys, args.keywords, args.vocabulary, args.update_docs
            )
            report.append(
                f"- update through the service, one document ({args.keywords} keywords) per "
                f"update with the whole state sealed ({state_bytes / 1024:,.0f} KiB): "
                f"{rate:,.0f} keywords/s"
            )
        finally:
            run.close()
            if server is not None:
                server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[8_000, 80_000])
    parser.add_argument("--keywords", type=int, default=20)
    parser.add_argument("--vocabulary", type=int, default=50_000)
    parser.add_argument("--update-docs", type=int, default=100)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    report = [
        "## Search: encrypted index (Mitra) against plaintext full-text search\n",
        f"Command: `.venv/bin/python benchmarks/search.py {' '.join(sys.argv[1:])}`".rstrip(),
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average at start "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
    ]
    for docs in args.docs:
        for kind in args.databases:
            measure(kind, docs, args, report)
            print("\n".join(report), flush=True)
            report.clear()
    pairing = pairing_ms()
    tail = ["\n### ABKS estimate\n"]
    if pairing is None:
        tail.append("py-arkworks-bls12381 is not installed: no pairing measured.")
    else:
        for attributes in (5,):
            per_tag = 2 * attributes + 2
            for docs in (10_000, 80_000):
                tags = docs * args.keywords
                seconds = tags * per_tag * pairing / 1000
                tail.append(
                    f"- one pairing (BLS12-381, py-arkworks-bls12381): {pairing:.2f} ms; a "
                    f"{attributes}-attribute policy costs {per_tag} pairings per keyword tag; "
                    f"a query over {docs:,} documents x {args.keywords} keywords = {tags:,} tags: "
                    f"{seconds:,.0f} s ({seconds / 3600:.1f} h) of server work"
                )
    tail.append(f"\nLoad average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\n".join(tail))


if __name__ == "__main__":
    main()
