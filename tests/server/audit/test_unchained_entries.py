"""Entries about a patient kept out of her chain (docs/PROTOCOL.md, 13.2).

A server that journals an access to a patient's data in an entry that names her but
carries no link of her chain (a version 2 entry without the link, or an entry of
version 1, the format from before chains) has it in the signed log, with a valid
receipt for whoever accessed her data, and outside her chain: leaving it out of her
history would show no gap. The writer links every patient and practice an entry
names; a reader refuses a version 2 entry that does not, and a witness and the
patient's client refuse an entry of version 1 after the first of version 2.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.server.records.conftest import Practice
from uhealthsec.client.errors import JournalTampered
from uhealthsec.client.journal import JournalClient
from uhealthsec.client.witness import Witness
from uhealthsec.client.witness import load_or_create_witness_key as witness_key
from uhealthsec.crypto import merkle
from uhealthsec.crypto.journal import (
    ENTRY_VERSION,
    ENTRY_VERSION_UNCHAINED,
    JournalEntry,
    ObjectKind,
    Outcome,
)
from uhealthsec.server.audit.models import JournalPatient, JournalRecord
from uhealthsec.server.audit.writer import PendingEntry
from uhealthsec.server.storage.db import insert_rows
from uhealthsec.server.storage.merkle_log import JOURNAL_LOG, MerkleLog


def _witness(practice: Practice, ctx, tmp_path) -> Witness:
    from uhealthsec.server.audit.service import JournalService

    key = witness_key(tmp_path / "witness" / "key")
    with ctx.sessions.begin() as db:
        JournalService(db, ctx).list_witness(
            key.public_key().public_bytes_raw(), "Auditeur", practice.alice.email
        )
    return Witness(practice.alice.exchange.call, key, tmp_path / "witness")


def _download(practice: Practice, ctx, document_id: uuid.UUID, version: int) -> JournalEntry:
    """Bob's download of Carol's document, naming her, without her link."""
    carol = uuid.UUID(practice.carol.user.account_id)
    return JournalEntry(
        int(ctx.now().timestamp() * 1000),
        uuid.UUID(practice.bob.user.account_id),
        "records.content",
        Outcome.DONE,
        200,
        objects=((ObjectKind.PATIENT, carol), (ObjectKind.DOCUMENT, document_id)),
        version=version,
    )


@pytest.mark.parametrize("version", [ENTRY_VERSION_UNCHAINED, ENTRY_VERSION])
def test_the_writer_links_every_patient_an_entry_names(
    practice: Practice, ctx, report, tmp_path, version
):
    """Whatever a service noted, the entry is written in version 2 with Carol's link,
    listed in her history, and her chain still checks."""
    me = uuid.UUID(practice.carol.user.account_id)
    document_id = practice.alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[practice.bob.email]
    )
    witness = _witness(practice, ctx, tmp_path)
    witness.cosign()
    pin = JournalClient(practice.carol.exchange.call).check_history(str(me)).pin

    written = ctx.journal.append(PendingEntry(_download(practice, ctx, document_id, version)))

    entry = JournalEntry.decode(written.entry)
    assert entry.version == ENTRY_VERSION and entry.link(me) is not None
    witness.cosign()
    checked = JournalClient(practice.carol.exchange.call).check_history(str(me), known=pin)
    assert written.index in [int(i["index"]) for i in checked.items]


def _forge(ctx, clock, data: bytes, listed_for: uuid.UUID | None) -> int:
    """Append ``data`` as a hostile server would: straight into the log, past the
    writer, listed in the history of ``listed_for`` or in nobody's."""
    with ctx.sessions.begin() as db:
        log = MerkleLog(db, JOURNAL_LOG, ctx.log_key, int(clock.now.timestamp() * 1000))
        index = log.append([data], [merkle.leaf_hash(data)])
        row = {"log_index": index, "entry": data, "action": "records.content", "outcome": 1}
        insert_rows(db, JournalRecord.__table__, [{**row, "created_at": clock.now}])
        if listed_for is not None:
            patient = {"patient_id": listed_for, "log_index": index}
            insert_rows(db, JournalPatient.__table__, [patient])
        log.sign_head()
    return index


def _unlinked(entry: JournalEntry, version: int) -> bytes:
    """The entry's bytes, naming Carol, with no link (the encoder refuses version 2)."""
    data = entry.encode()
    return data if version == ENTRY_VERSION_UNCHAINED else data[:4] + b"\x02" + data[5:] + bytes(2)


@pytest.mark.parametrize("version", [ENTRY_VERSION_UNCHAINED, ENTRY_VERSION])
def test_an_entry_kept_out_of_a_patients_chain_is_caught(
    practice: Practice, ctx, clock, report, tmp_path, version
):
    me = uuid.UUID(practice.carol.user.account_id)
    document_id = practice.alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[practice.bob.email]
    )
    witness = _witness(practice, ctx, tmp_path)
    witness.cosign()
    carol = JournalClient(practice.carol.exchange.call)
    pin = carol.check_history(str(me)).pin
    # One more entry in Carol's chain, so a hidden one sits between two of hers.
    practice.bob.exchange.fetch(document_id, tmp_path / "copy.txt")

    unlinked = _unlinked(_download(practice, ctx, document_id, ENTRY_VERSION_UNCHAINED), version)
    hidden = _forge(ctx, clock, unlinked, listed_for=None)

    # Left out of Carol's history, only the witness, which reads every entry, sees it.
    with pytest.raises(JournalTampered, match=f"journal entry {hidden} is"):
        witness.cosign()
    # Listed in it, Carol's client refuses it.
    listed = _forge(ctx, clock, unlinked, listed_for=me)
    with pytest.raises(JournalTampered, match=f"journal entry {listed} is"):
        JournalClient(practice.carol.exchange.call).check_history(str(me), known=pin)


def test_a_witness_that_kept_no_cut_over_finds_it_again(
    practice: Practice, ctx, clock, report, tmp_path
):
    """A witness's state from before it kept the cut-over: it checks every entry again,
    rather than taking the next version 1 entry for one from before the chains."""
    document_id = practice.alice.exchange.send(
        report, patient_file_id=practice.patient_file, to=[practice.bob.email]
    )
    witness = _witness(practice, ctx, tmp_path)
    witness.cosign()
    state = json.loads(witness.chains.read_text())
    assert state["chained_from"] is not None
    del state["chained_from"]
    witness.chains.write_text(json.dumps(state))

    entry = _download(practice, ctx, document_id, ENTRY_VERSION_UNCHAINED)
    hidden = _forge(ctx, clock, entry.encode(), listed_for=None)
    with pytest.raises(JournalTampered, match=f"journal entry {hidden} is of version 1"):
        witness.cosign()
