"""A hostile server anchoring a patient's history check in the past.

The anchor of ``check_history`` is the journal receipt of its first request. Were that
request like any earlier one, the receipt of an earlier check (by the same patient,
from another device) would describe it just as well: a server replaying it would
anchor the check in the past and hide everything journaled since. The client's nonce
and its pinned journal head refuse that (docs/PROTOCOL.md, 13.2).
"""

from __future__ import annotations

import uuid

import pytest

from tests.server.records.conftest import Practice
from uhealthsec.client.api import ApiError
from uhealthsec.client.errors import JournalTampered
from uhealthsec.client.journal import JournalClient
from uhealthsec.client.logs import LogPin
from uhealthsec.crypto.journal import JournalEntry
from uhealthsec.protocol.encoding import b64u_decode, b64u_encode


def _anchoring(path, kwargs) -> bool:
    """The request a history check anchors on (the first page, one entry)."""
    return path == "/journal/history" and (kwargs.get("params") or {}).get("limit") == 1


def test_a_replayed_history_receipt_is_refused(
    practice: Practice,
    report,
    tmp_path,
):
    alice, bob, carol = practice.alice, practice.bob, practice.carol
    me = carol.user.account_id
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])

    # Carol's laptop proves her history complete and keeps its pin.
    laptop_pin = JournalClient(carol.exchange.call).check_history(me).pin

    # Her phone checks it too; the server keeps the answer to the anchoring request.
    kept = {}

    def recording(method, path, **kwargs):
        response = carol.exchange.call(method, path, **kwargs)
        if _anchoring(path, kwargs):
            kept.setdefault("anchor", response)
        return response

    JournalClient(recording).check_history(me)

    # Bob downloads Carol's document: an entry about Carol, in her chain.
    bob.exchange.fetch(document_id, tmp_path / "copy.txt")

    # The laptop checks again; the server answers the anchoring request with the
    # phone's old receipt (same method, path, query and empty body, same actor).
    def replaying(method, path, **kwargs):
        if _anchoring(path, kwargs):
            return kept["anchor"]
        return carol.exchange.call(method, path, **kwargs)

    with pytest.raises(JournalTampered, match="answers an earlier one"):
        JournalClient(replaying).check_history(me, known=laptop_pin)

    # The honest answer shows Bob's download, chained after the laptop's pin.
    checked = JournalClient(carol.exchange.call).check_history(me, known=laptop_pin)
    assert [
        i
        for i in checked.items
        if i["action"] == "records.content"
        and JournalEntry.decode(b64u_decode(i["entry"])).actor == uuid.UUID(bob.user.account_id)
    ]


def test_a_history_anchored_in_another_journal_than_the_pinned_one_is_refused(
    practice: Practice,
):
    """The anchor's signed head must extend the journal head the device pinned: a
    server showing this device a fork of the journal is caught at the anchor."""
    carol = practice.carol
    me = carol.user.account_id
    journal = JournalClient(carol.exchange.call)
    journal.verify()
    pinned = journal.pin
    forked = LogPin(pinned.log_key, pinned.size, b64u_encode(bytes(32)))
    with pytest.raises(JournalTampered, match="does not extend"):
        JournalClient(carol.exchange.call, forked).check_history(me)

    # Honestly served, the anchor's head extends the pin, and becomes the new pin.
    seen: list[LogPin] = []
    checked = JournalClient(carol.exchange.call, pinned, seen.append).check_history(me)
    assert seen and seen[-1].size == checked.tree_size > pinned.size
    JournalClient(carol.exchange.call, seen[-1]).verify()


def test_a_head_of_a_given_size_comes_with_its_consistency_from_an_older_one(
    practice: Practice,
):
    from uhealthsec.client.logs import accept_head
    from uhealthsec.protocol.logs import LogHeadOut

    call = practice.carol.exchange.call
    journal = JournalClient(call)
    journal.verify()
    older = journal.pin
    practice.carol.exchange.call("GET", "/journal/history", params={"limit": 1})
    size = JournalClient(call).verify().size
    answer = call("GET", "/journal/head", params={"since": older.size, "size": size})
    body = LogHeadOut.model_validate_json(answer.content)
    head, _ = accept_head(body, older, "journal", "the journal")
    assert head.size == size
    with pytest.raises(ApiError) as refused:
        call("GET", "/journal/head", params={"since": size, "size": older.size})
    assert refused.value.status == 400


def test_a_history_served_twice_or_out_of_order_is_refused():
    """Entries of version 1 have no chain to place them: the order the journal gives
    them is all that tells a history shown twice or shuffled (newest first, each once,
    before the anchor)."""
    from uhealthsec.client.journal import check_journal_order

    check_journal_order([9, 7, 3, 0], anchor_index=10)
    check_journal_order([], anchor_index=0)
    for served in ([9, 9, 3], [3, 9], [10, 4], [12]):
        with pytest.raises(JournalTampered, match="out of the journal's order, or twice"):
            check_journal_order(served, anchor_index=10)
