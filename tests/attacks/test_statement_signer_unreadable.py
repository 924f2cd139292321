"""On an honest server: a reader's share statement blocks the author's next version.

``signed_readers`` looks up each statement's signer by index (``GET
/keys/entries/{i}``), but the directory's access rule (PROTOCOL.md 10.1) serves a
practitioner's entry by index only to colleagues of a common practice and to people
holding a version or message *signed* with it: a share statement does not count.
Bob (outside Alice's practice, consented to by the patient) shares Alice's document
with Dave, Alice's own colleague; Alice can then no longer write a new version.
"""

from __future__ import annotations

from tests.server.records.conftest import Practice, device


def test_the_author_writes_a_new_version_after_an_outside_reader_shared(
    practice: Practice, users, client, report
):
    alice, bob = practice.alice, practice.bob
    dave = users.signed_in("dave@example.org", "practitioner")
    users.join_practice(alice.user, practice.id, dave, role="practitioner")
    document_id = alice.exchange.send(report, patient_file_id=practice.patient_file, to=[bob.email])
    bob.exchange.share(document_id, [dave.email])  # Bob signs a statement for Dave

    shown = []
    alice_device = device(client, users, alice.user)
    assert alice_device.new_version(document_id, report, before_encrypting=shown.append) == 2
    assert dave.email in [e.entry.email for e in shown[0]]
