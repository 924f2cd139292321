"""A hostile server answering the batched key-directory lookup a share resolves its
recipients with: whatever it changes in the answer, the client refuses the whole
share, names what it refused, and nothing is shared with anyone."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.server.records.bulk import add_practitioners
from tests.server.records.conftest import Practice
from tests.server.records.test_exchange import consent_to_everyone_outside
from uhealthsec.client.errors import DirectoryRefused, NoKeysPublished

Rewrite = Callable[[dict, list[str]], None]


def swap(answer: dict, _emails: list[str]) -> None:
    answer["entries"].reverse()


def duplicate(answer: dict, _emails: list[str]) -> None:
    answer["entries"][1] = answer["entries"][0]


def withhold(answer: dict, _emails: list[str]) -> None:
    answer["entries"][1] = None


def drop(answer: dict, _emails: list[str]) -> None:
    answer["entries"].pop()


def add(answer: dict, _emails: list[str]) -> None:
    answer["entries"].append(answer["entries"][0])


def another_head(answer: dict, _emails: list[str]) -> None:
    answer["tree_size"] -= 2
    for entry in answer["entries"]:
        entry["tree_size"] -= 2


def one_proof_of_another_head(answer: dict, _emails: list[str]) -> None:
    answer["entries"][1]["tree_size"] -= 2


def another_map_proof(answer: dict, _emails: list[str]) -> None:
    answer["entries"][1]["map"] = answer["entries"][0]["map"]


@pytest.mark.parametrize(
    ("rewrite", "refusal", "names"),
    [
        (swap, DirectoryRefused, "answered for reader001@example.org when asked for reader000"),
        (
            duplicate,
            DirectoryRefused,
            "answered for reader000@example.org when asked for reader001",
        ),
        (withhold, NoKeysPublished, "no keys are published for reader001@example.org"),
        (drop, DirectoryRefused, "answered 1 entries .* when asked for 2"),
        (add, DirectoryRefused, "answered 3 entries .* when asked for 2"),
        (another_head, DirectoryRefused, "in a tree of .* this device verified"),
        (one_proof_of_another_head, DirectoryRefused, "cannot prove the keys of reader001"),
        (another_map_proof, DirectoryRefused, "reader001@example.org"),
    ],
    ids=lambda v: v.__name__ if callable(v) and not isinstance(v, type) else None,
)
def test_a_rewritten_batch_refuses_the_whole_share(
    practice: Practice, report, ctx, monkeypatch, rewrite: Rewrite, refusal, names: str
):
    emails = add_practitioners(ctx, 2)
    consent_to_everyone_outside(practice)
    alice = practice.alice.exchange
    document_id = alice.send(report, patient_file_id=practice.patient_file, to=[], to_patient=False)
    honest = alice.directory._call

    def lying(method, path, **kwargs):
        response = honest(method, path, **kwargs)
        if path == "/keys/lookups":
            answer = response.json()
            rewrite(answer, kwargs["json"]["emails"])
            response._content = json.dumps(answer).encode()
        return response

    monkeypatch.setattr(alice.directory, "_call", lying)
    alice.directory.refresh()
    with pytest.raises(refusal, match=names):
        alice.share(document_id, emails)
    assert len(alice.document(document_id).recipients) == 1  # the author alone
    # The honest answer is taken: nothing refused was kept as proven.
    monkeypatch.setattr(alice.directory, "_call", honest)
    alice.share(document_id, emails)
    assert len(alice.document(document_id).recipients) == 3


def test_a_reader_of_her_file_finds_the_patient_in_a_batch_as_in_a_single_lookup(
    practice: Practice, report, client, users
):
    """The reach rule asked about every owner in one statement (10.5) relates a
    colleague to a patient by the shares of her files as the single lookup does."""
    bob, carol = practice.bob, practice.carol
    headers = users.sdk.bearer(bob.user.tokens)
    size = bob.exchange.directory.refresh().size

    def both() -> tuple[int, object]:
        single = client.get(
            "/keys/entries", params={"email": carol.email, "tree_size": size}, headers=headers
        )
        batch = client.post(
            "/keys/lookups", json={"emails": [carol.email], "tree_size": size}, headers=headers
        )
        assert batch.status_code == 200, batch.text
        entry = batch.json()["entries"][0]
        assert entry == (single.json() if single.status_code == 200 else None)
        return single.status_code, entry

    assert both() == (404, None)
    practice.alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    status, entry = both()
    assert status == 200 and entry is not None
