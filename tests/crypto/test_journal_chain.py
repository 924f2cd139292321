"""Chain links in journal entries (docs/PROTOCOL.md, 13.2): what a decoder refuses."""

from __future__ import annotations

import struct
import uuid
from dataclasses import replace

import pytest

from uhealthsec.crypto.errors import MalformedInput, UnsupportedVersion
from uhealthsec.crypto.journal import ChainLink, JournalEntry, ObjectKind, Outcome

PATIENT = uuid.UUID(int=7)


def _entry(*chain: ChainLink, version: int = 2) -> JournalEntry:
    return JournalEntry(
        1,
        uuid.UUID(int=1),
        "records.content",
        Outcome.DONE,
        200,
        (),
        "",
        bytes(32),
        None,
        chain,
        version,
    )


def test_links_round_trip_and_name_their_subject():
    links = (
        ChainLink(ObjectKind.PATIENT, PATIENT, 0, 0),
        ChainLink(ObjectKind.PRACTICE, uuid.UUID(int=8), 4, 99),
    )
    entry = _entry(*links)
    assert JournalEntry.decode(entry.encode()) == entry
    assert entry.link(PATIENT) == links[0] and entry.link(uuid.UUID(int=9)) is None


@pytest.mark.parametrize(
    "make",
    [
        lambda: ChainLink(ObjectKind.DOCUMENT, PATIENT, 0, 0),  # only patients, practices
        lambda: ChainLink(ObjectKind.PATIENT, PATIENT, 0, 5),  # a first entry points back
        lambda: ChainLink(ObjectKind.PATIENT, PATIENT, 2**63, 0),
        lambda: _entry(*[ChainLink(ObjectKind.PATIENT, PATIENT, n, 1) for n in (1, 2)]).encode(),
        lambda: _entry(ChainLink(ObjectKind.PATIENT, PATIENT, 0, 0), version=1).encode(),
    ],
    ids=["kind", "first-points-back", "sequence-too-large", "subject-twice", "v1-with-chain"],
)
def test_malformed_links_are_refused(make):
    with pytest.raises(MalformedInput):
        make()


def test_a_decoder_refuses_what_an_encoder_would_not_write():
    encoded = _entry(ChainLink(ObjectKind.PATIENT, PATIENT, 1, 3)).encode()
    kind_at = len(encoded) - 33
    for bad in (
        encoded[:kind_at] + bytes([ObjectKind.DOCUMENT]) + encoded[kind_at + 1 :],
        encoded[:-16] + struct.pack(">QQ", 0, 3),  # number 0 pointing back
        encoded[:-1],
        encoded[: kind_at - 2] + struct.pack(">H", 2) + encoded[kind_at:] * 2,
    ):
        with pytest.raises(MalformedInput):
            JournalEntry.decode(bad)
    with pytest.raises(UnsupportedVersion):
        JournalEntry.decode(encoded[:4] + b"\x03" + encoded[5:])


def test_version_1_entries_are_still_read():
    old = _entry(version=1)
    assert JournalEntry.decode(old.encode()) == old and old.chain == ()


def test_a_version_2_entry_links_every_patient_and_practice_it_names():
    """An entry naming a patient outside her chain would never be missed from her
    history: neither written nor read."""
    practice = uuid.UUID(int=8)
    named = ((ObjectKind.PATIENT, PATIENT), (ObjectKind.PRACTICE, practice))
    linked = (
        ChainLink(ObjectKind.PATIENT, PATIENT, 0, 0),
        ChainLink(ObjectKind.PRACTICE, practice, 3, 9),
        ChainLink(ObjectKind.PATIENT, uuid.UUID(int=10), 0, 0),  # a listing's 17th patient
    )
    entry = replace(_entry(*linked), objects=named)
    assert JournalEntry.decode(entry.encode()) == entry
    unlinked = replace(entry, chain=linked[1:])
    with pytest.raises(MalformedInput, match="links every patient and practice"):
        unlinked.encode()
    # The same bytes, as a hostile server would write them, are refused when read.
    v1 = replace(unlinked, chain=(), version=1).encode()
    forged = (
        v1[:4]
        + b"\x02"
        + v1[5:]
        + struct.pack(">H", 2)
        + b"".join(link.encode() for link in linked[1:])
    )
    with pytest.raises(MalformedInput, match="links every patient and practice"):
        JournalEntry.decode(forged)
    wrong_kind = replace(entry, objects=((ObjectKind.PRACTICE, PATIENT),))
    with pytest.raises(MalformedInput):
        wrong_kind.encode()


def test_undefined_codes_and_text_that_is_not_ascii_are_malformed():
    """A verifier catches CryptoError: a hostile entry must not escape it as a bare
    ValueError (an undefined enum value, a text field that does not decode)."""
    entry = replace(_entry(), objects=((ObjectKind.DOCUMENT, uuid.UUID(int=3)),))
    encoded = entry.encode()
    action_at = encoded.index(b"records.content")
    outcome_at = action_at + len("records.content")
    kind_at = outcome_at + 4
    for bad in (
        encoded[:action_at] + b"\xff" + encoded[action_at + 1 :],
        encoded[:outcome_at] + b"\x09" + encoded[outcome_at + 1 :],
        encoded[:kind_at] + b"\x63" + encoded[kind_at + 1 :],
    ):
        with pytest.raises(MalformedInput):
            JournalEntry.decode(bad)
    with pytest.raises(MalformedInput):
        replace(entry, action="records.contenu_é").encode()
