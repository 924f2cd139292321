"""Attack on issue 15 item 6 through the version 1 / version 2 entry mixing.

Version 1 journal entries ("written before chains existed: read, never written by the
server") are accepted anywhere in the log, by the patient's client and by a witness.
A server that records an access to a patient's document as a version 1 entry (the
entry names the patient among its objects, but carries no chain link) has it in the
log, with a valid receipt for the accessing client, and outside the patient's chain:
leaving it out of her history shows no gap. The same holds for a version 2 entry
that names the patient among its objects but carries no link of her chain: nothing
checks that the links cover the patients and practices an entry names.
"""

from __future__ import annotations

import uuid

import pytest

from tests.server.records.conftest import Practice
from uhealthsec.client.journal import (
    HistoryIncomplete,
    JournalClient,
    JournalTampered,
    Witness,
    load_or_create_witness_key,
)
from uhealthsec.crypto.journal import (
    ENTRY_VERSION,
    ENTRY_VERSION_UNCHAINED,
    JournalEntry,
    ObjectKind,
    Outcome,
)
from uhealthsec.server.audit.writer import PendingEntry


@pytest.mark.parametrize("version", [ENTRY_VERSION_UNCHAINED, ENTRY_VERSION])
def test_an_unchained_entry_written_after_chains_exist_is_caught(
    practice: Practice,
    ctx,
    report,
    tmp_path,
    version,
):
    """Version 1: an entry in the old format. Version 2: an entry that names Carol
    among its objects (as every honest entry about her does) without her link."""
    from uhealthsec.server.audit.service import JournalService

    alice, bob, carol = practice.alice, practice.bob, practice.carol
    me = uuid.UUID(carol.user.account_id)
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    key = load_or_create_witness_key(tmp_path / "witness" / "key")
    with ctx.sessions.begin() as db:
        JournalService(db, ctx).list_witness(
            key.public_key().public_bytes_raw(), "Auditeur", alice.email
        )
    witness = Witness(alice.exchange.call, key, tmp_path / "witness")
    witness.cosign()
    pin = JournalClient(carol.exchange.call).check_history(str(me)).pin

    # Bob downloads Carol's document; the server journals it as a version 1 entry.
    hidden = ctx.journal.append(
        PendingEntry(
            JournalEntry(
                int(ctx.now().timestamp() * 1000),
                uuid.UUID(bob.user.account_id),
                "records.content",
                Outcome.DONE,
                200,
                objects=((ObjectKind.PATIENT, me), (ObjectKind.DOCUMENT, document_id)),
                version=version,
            )
        )
    )
    assert JournalEntry.decode(hidden.entry).link(me) is None

    caught = []
    try:
        witness.cosign()
    except JournalTampered as exc:
        caught.append(f"witness: {exc}")
    try:
        checked = JournalClient(carol.exchange.call).check_history(str(me), known=pin)
        if hidden.index in [int(i["index"]) for i in checked.items]:
            caught.append("listed in Carol's history")
    except (HistoryIncomplete, JournalTampered) as exc:
        caught.append(f"Carol: {exc}")
    assert caught, (
        f"journal entry {hidden.index} (Bob read Carol's document) is in the signed log "
        "but neither the witness nor Carol's completeness check sees it"
    )
