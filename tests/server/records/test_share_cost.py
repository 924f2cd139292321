"""What sharing with many people costs the database: the same SQL statements for 1,
10 or 100 recipients, both for the batched key-directory lookup that proves their
keys and for the share that checks and writes them (issue 22)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.server.records.bulk import add_practitioners
from tests.server.records.conftest import Practice
from tests.server.records.test_exchange import consent_to_everyone_outside
from tests.server.statements import statements_run


@contextmanager
def counted(ctx, exchange, monkeypatch) -> Iterator[dict[str, list[list[str]]]]:
    """The statements each request to the shares or the batched lookup runs, by path."""
    counts: dict[str, list[list[str]]] = {"lookups": [], "shares": []}
    honest_call, honest_directory = exchange.call, exchange.directory._call

    def counting(honest):
        def call(method, path, **kwargs):
            kind = (
                "lookups"
                if path == "/keys/lookups"
                else "shares"
                if path.endswith("/shares")
                else None
            )
            if kind is None:
                return honest(method, path, **kwargs)
            with statements_run(ctx) as run:
                answer = honest(method, path, **kwargs)
            counts[kind].append(list(run))
            return answer

        return call

    monkeypatch.setattr(exchange, "call", counting(honest_call))
    monkeypatch.setattr(exchange.directory, "_call", counting(honest_directory))
    yield counts


def test_sharing_costs_the_same_statements_for_1_10_or_100_recipients(
    practice: Practice, report, ctx, monkeypatch
):
    emails = add_practitioners(ctx, 111)
    consent_to_everyone_outside(practice)
    alice = practice.alice.exchange
    # Without the patient (R28's default): only the shares below count.
    document_id = alice.send(report, patient_file_id=practice.patient_file, to=[], to_patient=False)
    alice.directory.refresh()  # the readers' entries are in the head from the start
    by_size = {}
    node_reads = {}
    for size, start in ((1, 0), (10, 1), (100, 11)):
        with counted(ctx, alice, monkeypatch) as counts:
            alice.share(document_id, emails[start : start + size])
        assert len(counts["lookups"]) == 1 and len(counts["shares"]) == 1, counts
        lookup, share = counts["lookups"][0], counts["shares"][0]
        # The proofs' stored hashes are read a few hundred distinct nodes per statement
        # (MerkleLog._nodes): that part grows with the tree, by one read per 250 nodes
        # that the entries' proofs need together, not with the recipients.
        nodes = [q for q in lookup if "FROM merkle_nodes" in q]
        node_reads[size] = len(nodes)
        by_size[size] = (len(lookup) - len(nodes), len(share))
    assert len(set(by_size.values())) == 1, by_size
    assert node_reads[1] == 1 and node_reads[100] <= 2, node_reads
    assert len(alice.document(document_id).recipients) == 112
